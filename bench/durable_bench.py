"""Durable Functions throughput of devhost on this machine: `python -m bench.durable_bench` (or `make bench`).

Starts its own Azurite (free ports, throwaway folder) and a devhost process serving bench/apps/durable_app,
then measures, through the public management API:

- a sequential chain of 100 activities (activities/s),
- a fan-out/fan-in of 1000 activities (activities/s),
- 100 orchestrations of 5 sequential activities started at once (orchestrations/s),

and the Azurite requests the durable engine made per activity, counted by the engine itself
(`GET /admin/durable/metrics`). Completion is detected from the engine's counters, so monitoring adds no
storage request; outputs are checked after the clock stops.

Then the concurrent scenario once more on one worker process and on two (`devhost start --processes 2`:
two workers on one port sharing the task hub's partitions), each on a warmed-up host of its own hub:
`concurrent_1_process` and `concurrent_2_processes`, with the CPU of the workers and of Azurite.
`--processes N` runs the three main scenarios on N worker processes; `--no-compare` skips the comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.hosting import bench_environment, running_devhost
from stack.azurite import Azurite

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP_DIR = Path(__file__).resolve().parent / "apps" / "durable_app"
WEBHOOKS = "runtime/webhooks/durabletask"
TARGETS = {"sequential": 30.0, "fan_out": 300.0, "requests_per_activity": 2.0}
COMPARE_POLL_SECONDS = 0.05  # NB: with two workers each metrics poll also fetches the other worker's figures


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process (Linux /proc), 0.0 where unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    name: str
    activities: int
    orchestrations: int
    seconds: float
    requests: int
    batches: int
    host_cpu: float = 0.0
    azurite_cpu: float = 0.0

    @property
    def activities_per_second(self) -> float:
        return self.activities / self.seconds

    @property
    def orchestrations_per_second(self) -> float:
        return self.orchestrations / self.seconds

    @property
    def requests_per_activity(self) -> float:
        return self.requests / self.activities


class Bench:
    def __init__(self, base_url: str, keys: dict[str, Any], *, host_pid: int | None = None,
                 azurite_pid: int | None = None, poll_seconds: float = 0.01) -> None:
        self.base_url = base_url
        self.pids = (host_pid, azurite_pid)
        self.master = keys["masterKey"]
        self.system = keys["systemKeys"]["durabletask_extension"]
        self.session = requests.Session()
        self.poll_seconds = poll_seconds
        self.host_pids = [host_pid] if host_pid is not None else []

    def find_workers(self, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Until `count` workers serve the hub with the partitions split evenly (a `--processes` host: the
        measurement must not include the start-up rebalancing); their pids join the host's for the CPU."""
        deadline = time.monotonic() + timeout
        while True:
            metrics = self.metrics()
            workers = metrics.get("workers") or []
            owned = sorted(k for w in workers for k in w.get("partitions", []))
            shares = [len(w.get("partitions", [])) for w in workers]
            if (len(workers) >= count and owned == list(range(metrics.get("partitionCount", 4)))
                    and max(shares) - min(shares) <= 1):
                self.host_pids = sorted({*self.host_pids, *(w["pid"] for w in workers if w.get("pid"))})
                return workers
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(workers)} of {count} workers came up: {workers}")
            time.sleep(0.2)

    def host_cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.host_pids)

    def metrics(self) -> dict[str, Any]:
        response = self.session.get(f"{self.base_url}/admin/durable/metrics", params={"code": self.master},
                                    timeout=30)
        response.raise_for_status()
        return response.json()

    def start(self, name: str, body: Any, session: requests.Session | None = None) -> str:
        response = (session or self.session).post(f"{self.base_url}/{WEBHOOKS}/orchestrators/{name}",
                                                  params={"code": self.system}, json=json.dumps(body), timeout=120)
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def output(self, instance_id: str) -> Any:
        status = self.session.get(f"{self.base_url}/{WEBHOOKS}/instances/{instance_id}",
                                  params={"code": self.system}, timeout=30).json()
        assert status["runtimeStatus"] == "Completed", status
        return status["output"]

    def wait_completed(self, before: dict[str, Any], count: int, timeout: float = 600.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            now = self.metrics()
            finished = sum(now.get(k, 0) - before.get(k, 0)
                           for k in ("instancesCompleted", "instancesFailed", "instancesTerminated"))
            if finished >= count:
                return now
            if time.monotonic() > deadline:
                raise TimeoutError(f"{finished} of {count} orchestrations finished in {timeout}s")
            time.sleep(self.poll_seconds)

    def measure(self, name: str, starts: list[tuple[str, Any]], activities: int,
                concurrency: int = 1) -> tuple[Result, list[str]]:
        before = self.metrics()
        cpu_before = [self.host_cpu(), cpu_seconds(self.pids[1])]
        started = time.perf_counter()
        if concurrency == 1:
            ids = [self.start(orchestrator, body) for orchestrator, body in starts]
        else:
            sessions = [requests.Session() for _ in range(concurrency)]
            with ThreadPoolExecutor(concurrency) as pool:
                ids = list(pool.map(lambda item: self.start(item[1][0], item[1][1], sessions[item[0] % concurrency]),
                                    enumerate(starts)))
        after = self.wait_completed(before, len(starts))
        seconds = time.perf_counter() - started
        host_cpu, azurite_cpu = self.host_cpu() - cpu_before[0], cpu_seconds(self.pids[1]) - cpu_before[1]
        kinds_before = before["storageRequestsByKind"]
        kinds_after = after["storageRequestsByKind"]
        lease = sum(kinds_after.get(k, 0) - kinds_before.get(k, 0) for k in kinds_after if k.startswith("blob.lease"))
        result = Result(name=name, activities=activities, orchestrations=len(starts), seconds=seconds,
                        requests=after["storageRequests"] - before["storageRequests"] - lease,
                        batches=kinds_after.get("table.batch", 0) - kinds_before.get("table.batch", 0),
                        host_cpu=host_cpu, azurite_cpu=azurite_cpu)
        return result, ids


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    azurite = "unknown"
    package = PROJECT_ROOT / "node_modules" / "azurite" / "package.json"
    if package.exists():
        azurite = json.loads(package.read_text()).get("version", "unknown")
    return {"nproc": str(os.cpu_count()), "cpu": model, "python": platform.python_version(), "azurite": azurite}


def run_benchmarks(bench: Bench, *, chain: int, fan: int, orchestrations: int, per_orchestration: int) -> list[Result]:
    # Warm-up: imports, connections, the first orchestrator replays.
    bench.measure("warm-up", [("chain", 10), ("fan", 50)], 60)

    results = []
    result, ids = bench.measure("sequential chain", [("chain", chain)], chain)
    assert bench.output(ids[0]) == chain
    results.append(result)

    result, ids = bench.measure("fan-out/fan-in", [("fan", fan)], fan)
    assert bench.output(ids[0]) == sum(range(1, fan + 1))
    results.append(result)

    result, ids = bench.measure("concurrent orchestrations", [("chain", per_orchestration)] * orchestrations,
                                orchestrations * per_orchestration, concurrency=16)
    assert all(bench.output(i) == per_orchestration for i in ids)
    results.append(result)
    return results


def run_concurrent(bench: Bench, name: str, *, orchestrations: int, per_orchestration: int) -> Result:
    """The concurrent scenario alone, after a warm-up that reaches every worker (16 connections)."""
    bench.measure("warm-up", [("chain", 10)] * 16, 160, concurrency=16)
    result, ids = bench.measure(name, [("chain", per_orchestration)] * orchestrations,
                                orchestrations * per_orchestration, concurrency=16)
    assert all(bench.output(i) == per_orchestration for i in ids)
    return result


def compare_processes(connection_string: str, work: Path, *, azurite_pid: int | None, orchestrations: int,
                      per_orchestration: int) -> list[Result]:
    """`concurrent_1_process` and `concurrent_2_processes`: fresh hosts (and hubs) on the same Azurite."""
    results = []
    for processes, name in ((1, "concurrent_1_process"), (2, "concurrent_2_processes")):
        env = bench_environment(connection_string,
                                AzureFunctionsJobHost__extensions__durableTask__hubName=f"BenchCompare{processes}")
        with running_devhost(APP_DIR, env, work, processes=processes, name=f"devhost-{processes}p") as host:
            bench = Bench(host.base_url, host.keys, host_pid=host.process.pid, azurite_pid=azurite_pid,
                          poll_seconds=COMPARE_POLL_SECONDS)
            bench.find_workers(processes)
            results.append(run_concurrent(bench, name, orchestrations=orchestrations,
                                          per_orchestration=per_orchestration))
    return results


def report(results: list[Result], info: dict[str, str]) -> str:
    lines = [f"machine: {info['nproc']} cores, {info['cpu']}, Python {info['python']}, Azurite {info['azurite']}",
             "",
             (f"{'scenario':<28}{'activities':>11}{'seconds':>9}{'activities/s':>14}{'orch/s':>9}"
              f"{'requests':>10}{'req/activity':>14}{'host CPU s':>12}{'Azurite CPU s':>15}")]
    for r in results:
        lines.append(f"{r.name:<28}{r.activities:>11}{r.seconds:>9.2f}{r.activities_per_second:>14.1f}"
                     f"{r.orchestrations_per_second:>9.1f}{r.requests:>10}{r.requests_per_activity:>14.2f}"
                     f"{r.host_cpu:>12.2f}{r.azurite_cpu:>15.2f}")
    total_requests = sum(r.requests for r in results)
    total_activities = sum(r.activities for r in results)
    lines.append("")
    lines.append(f"Azurite requests per activity, all scenarios: {total_requests / total_activities:.2f} "
                 f"({total_requests} requests, {total_activities} activities; lease renewals excluded)")
    by_name = {r.name: r for r in results}
    sequential, fan = by_name["sequential chain"], by_name["fan-out/fan-in"]
    single, double = by_name.get("concurrent_1_process"), by_name.get("concurrent_2_processes")
    if single is not None and double is not None:
        lines.append(f"concurrent orchestrations, 1 vs 2 worker processes: {single.orchestrations_per_second:.1f} vs "
                     f"{double.orchestrations_per_second:.1f} orch/s (x{double.seconds and single.seconds / double.seconds:.2f}); "
                     f"host CPU {single.host_cpu:.2f} vs {double.host_cpu:.2f} s, Azurite CPU "
                     f"{single.azurite_cpu:.2f} vs {double.azurite_cpu:.2f} s")
    checks = [
        ("sequential >= 30 activities/s", sequential.activities_per_second >= TARGETS["sequential"]),
        ("fan-out >= 300 activities/s", fan.activities_per_second >= TARGETS["fan_out"]),
        ("<= 2 Azurite requests per activity",
         all(r.requests_per_activity <= TARGETS["requests_per_activity"] for r in results)),
    ]
    lines.append("targets: " + ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in checks))
    return "\n".join(lines)


def measure(*, chain: int, fan: int, orchestrations: int, per_orchestration: int, processes: int = 1,
            compare: bool = True) -> list[Result]:
    """The three scenarios on their own Azurite and devhost (also called by bench/run_all.py), then (unless
    `compare` is false) the concurrent scenario on 1 and on 2 worker processes: results named
    `concurrent_1_process` and `concurrent_2_processes`."""
    with tempfile.TemporaryDirectory(prefix="durable-bench-") as tmp:
        work = Path(tmp)
        with Azurite(data_dir=work / "azurite", log_file=work / "azurite.log") as azurite:
            azurite_pid = azurite.process.pid if azurite.process else None
            env = bench_environment(azurite.ports.connection_string)
            with running_devhost(APP_DIR, env, work, processes=processes) as host:
                bench = Bench(host.base_url, host.keys, host_pid=host.process.pid, azurite_pid=azurite_pid)
                if processes > 1:
                    bench.find_workers(processes)
                results = run_benchmarks(bench, chain=chain, fan=fan, orchestrations=orchestrations,
                                         per_orchestration=per_orchestration)
            if compare:
                results += compare_processes(azurite.ports.connection_string, work, azurite_pid=azurite_pid,
                                             orchestrations=orchestrations, per_orchestration=per_orchestration)
            return results


def as_json(results: list[Result]) -> list[dict[str, Any]]:
    return [{"name": r.name, "activities": r.activities, "orchestrations": r.orchestrations,
             "seconds": round(r.seconds, 3), "activities_per_second": round(r.activities_per_second, 1),
             "orchestrations_per_second": round(r.orchestrations_per_second, 1), "requests": r.requests,
             "requests_per_activity": round(r.requests_per_activity, 3), "host_cpu_seconds": round(r.host_cpu, 2),
             "azurite_cpu_seconds": round(r.azurite_cpu, 2)} for r in results]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.durable_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--chain", type=int, default=100, help="activities in the sequential chain")
    parser.add_argument("--fan", type=int, default=1000, help="activities in the fan-out")
    parser.add_argument("--orchestrations", type=int, default=100, help="orchestrations started at once")
    parser.add_argument("--per-orchestration", type=int, default=5, help="activities per concurrent orchestration")
    parser.add_argument("--processes", type=int, default=1,
                        help="worker processes of the devhost running the three main scenarios (default 1)")
    parser.add_argument("--no-compare", action="store_true",
                        help="skip the concurrent scenario on 1 vs 2 worker processes")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    results = measure(chain=args.chain, fan=args.fan, orchestrations=args.orchestrations,
                      per_orchestration=args.per_orchestration, processes=args.processes,
                      compare=not args.no_compare)
    info = machine()
    print(report(results, info))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "results": as_json(results)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
