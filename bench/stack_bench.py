"""The create path end to end on the local stack: `python -m bench.stack_bench` (part of `make bench`).

Azurite behind a counting proxy (bench/azurite_proxy.py), kubesim registered as a cluster, devhost serving
this app, the agent reporting through the status queue (no `--local-sync`: it reports Installed when the
flux Deployment becomes available, the service's own path). Phases, in order:

1. latency: PUTs at a fixed rate (open loop, so no backlog), PUT answer -> Installed readable, p50 / p99;
2. throughput: N creates from 16 client threads, first PUT -> last Installed; Azurite requests per create
   from the proxy, minus the idle requests counted afterwards over the same duration;
3. key generation: the same for ssh URLs without a key (RSA 4096 generated per configuration);
4. RSS: the agent stopped, N creates left waiting for a status that never comes (live orchestrations),
   then VmRSS of the devhost process and its children.

"Installed readable" comes from the queue trigger's `status stored` log line (written right after the
conditional table write, ms resolution, no storage request); every configuration is then checked through
the API's list once the clock has stopped.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench.durable_bench import cpu_seconds
from bench.local_stack import API_VERSION, CLUSTER, LocalStack, StatusLog, local_stack

CONFIGURATIONS = f"{CLUSTER}/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations"
HTTPS_URL = "https://github.com/Azure/arc-k8s-demo"
SSH_URL = "git@github.com:Azure/arc-k8s-demo.git"
CLIENT_THREADS = 16


# NB: the cleanup timer's orphan sweep reads every configuration it finds on the cluster (bench/README.md,
# cleanup timer cost): a periodic cost, not a create's, so it is kept out of the per-create figures.
ONCE_A_YEAR = "0 0 0 1 1 *"

def properties(name: str, url: str) -> dict[str, Any]:
    return {"repositoryUrl": url, "operatorInstanceName": name, "operatorNamespace": name,
            "operatorScope": "namespace", "operatorType": "Flux"}


class Client:
    """The ARM API as a client uses it; one requests.Session per thread."""

    def __init__(self, stack: LocalStack) -> None:
        self.base = f"{stack.host.base_url}/api{CONFIGURATIONS}"
        self.headers = {"x-functions-key": stack.function_key}
        self.local = threading.local()

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def put(self, name: str, url: str) -> float:
        """PUT one configuration; the wall-clock time its answer arrived."""
        response = self.session().put(f"{self.base}/{name}", params={"api-version": API_VERSION},
                                      json={"properties": properties(name, url)}, headers=self.headers, timeout=300)
        answered = time.time()
        assert response.status_code in (200, 201), response.text
        return answered

    def states(self) -> dict[str, str]:
        """Every configuration's complianceState, through the list API (pages followed)."""
        found: dict[str, str] = {}
        url: str | None = self.base
        params: dict[str, str] | None = {"api-version": API_VERSION}
        while url:
            body = self.session().get(url, params=params, headers=self.headers, timeout=120).json()
            for item in body["value"]:
                found[item["name"].lower()] = item["properties"]["complianceStatus"]["complianceState"]
            url, params = body.get("nextLink"), None
        return found


def put_all(client: Client, names: list[str], url: str, threads: int = CLIENT_THREADS) -> dict[str, float]:
    with ThreadPoolExecutor(threads) as pool:
        return dict(zip(names, pool.map(lambda n: client.put(n, url), names), strict=True))


def check_installed(client: Client, names: list[str]) -> None:
    states = client.states()
    wrong = {n: states.get(n) for n in names if states.get(n) != "Installed"}
    assert not wrong, f"{len(wrong)} configurations not Installed through the API, e.g. {list(wrong.items())[:3]}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def wait_finished(stack: LocalStack, before: dict[str, Any], count: int, timeout: float) -> dict[str, Any]:
    """Until `count` more orchestrations ended (engine counters: no storage request)."""
    deadline = time.monotonic() + timeout
    while True:
        now = stack.metrics()
        done = sum(now.get(k, 0) - before.get(k, 0) for k in ("instancesCompleted", "instancesFailed",
                                                               "instancesTerminated"))
        if done >= count or time.monotonic() > deadline:
            return now
        time.sleep(0.1)


def latency_phase(stack: LocalStack, client: Client, count: int, rate: float) -> dict[str, Any]:
    names = [f"lat-{i:04d}" for i in range(count)]
    log = stack.status_log
    log.poll()
    answered: dict[str, float] = {}

    def paced(index_name: tuple[int, str]) -> None:
        index, name = index_name
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        answered[name] = client.put(name, HTTPS_URL)

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        list(pool.map(paced, enumerate(names)))
    stored = log.wait_for(names, timeout=120 + count)
    check_installed(client, names)
    latencies = [stored[n][1] - answered[n] for n in names]
    return {"count": count, "rate_per_second": rate, "p50_seconds": round(percentile(latencies, 0.50), 3),
            "p99_seconds": round(percentile(latencies, 0.99), 3), "max_seconds": round(max(latencies), 3),
            "mean_seconds": round(statistics.fmean(latencies), 3)}


def profile(pid: int, out: Path, seconds: float) -> subprocess.Popen | None:
    """py-spy sampling the devhost for `seconds` (collapsed stacks of the thread holding the GIL: where the
    host's Python CPU goes, not where threads wait), when py-spy is installed."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "100",
                             "--format", "raw", "--output", str(out), "--nonblocking", "--gil"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def throughput_phase(stack: LocalStack, client: Client, count: int, url: str, prefix: str,
                     profile_to: Path | None = None) -> dict[str, Any]:
    names = [f"{prefix}-{i:04d}" for i in range(count)]
    log: StatusLog = stack.status_log
    log.poll()
    metrics_before = stack.metrics()
    counts_before = stack.proxy.counts() if stack.proxy else Counter()
    spy = profile(stack.host.process.pid, profile_to, 30) if profile_to else None
    cpu_before = {name: tree_cpu_seconds(pid) for name, pid in stack.pids().items()}
    window_start = time.monotonic()
    first_put = time.time()
    put_all(client, names, url)
    stored = log.wait_for(names, timeout=120 + 2 * count)
    last_installed = max(t for _, t in stored.values())
    wait_finished(stack, metrics_before, count, timeout=120)
    counts = (stack.proxy.counts() if stack.proxy else Counter()) - counts_before
    window = time.monotonic() - window_start
    cpu = {name: round(tree_cpu_seconds(pid) - cpu_before[name], 2) for name, pid in stack.pids().items()}
    if spy is not None:
        spy.wait(timeout=60)
    check_installed(client, names)
    seconds = last_installed - first_put
    return {"count": count, "seconds": round(seconds, 3), "creates_per_second": round(count / seconds, 2),
            "window_seconds": round(window, 3), "cpu_seconds": cpu, "requests": dict(sorted(counts.items()))}


def idle_phase(stack: LocalStack, seconds: float) -> dict[str, Any]:
    """What the idle stack asks Azurite in `seconds` (queue polling, lease renewals, timers)."""
    before = stack.proxy.counts()
    time.sleep(seconds)
    return {"seconds": round(seconds, 3), "requests": dict(sorted((stack.proxy.counts() - before).items()))}


def children_of(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        path = task / "children"
        children += [int(child) for child in path.read_text().split()] if path.exists() else []
    return children


def tree_cpu_seconds(pid: int | None) -> float:
    """CPU of a process and its descendants (devhost --processes N: the supervisor and its workers)."""
    if pid is None:
        return 0.0
    try:
        return cpu_seconds(pid) + sum(tree_cpu_seconds(child) for child in children_of(pid))
    except OSError:
        return 0.0


def rss_kib(pid: int) -> int:
    """VmRSS of `pid` plus its descendants, in KiB (Linux /proc)."""
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1])
    return total + sum(rss_kib(child) for child in children_of(pid))


def rss_phase(stack: LocalStack, client: Client, count: int) -> dict[str, Any]:
    """The agent stopped, `count` creates wait for status (STATUS_WAIT_TIMEOUT is long): live orchestrations."""
    stack.stop_agent()
    pid = stack.host.process.pid
    before_kib = rss_kib(pid)
    names = [f"live-{i:04d}" for i in range(count)]
    metrics_before = stack.metrics()
    put_all(client, names, HTTPS_URL)
    deadline = time.monotonic() + 120 + count
    while True:  # two activities each (cluster check, operator manifests; https: no key), then the wait
        metrics = stack.metrics()
        if metrics.get("activitiesCompleted", 0) - metrics_before.get("activitiesCompleted", 0) >= 2 * count:
            break
        assert time.monotonic() < deadline, "the live orchestrations never reached their wait"
        time.sleep(0.2)
    time.sleep(2)
    return {"live_orchestrations": count, "instances_in_memory": stack.metrics().get("instancesInMemory"),
            "rss_before_mib": round(before_kib / 1024, 1), "rss_mib": round(rss_kib(pid) / 1024, 1)}


def per_create(busy: dict[str, Any], idle: dict[str, Any], count: int) -> dict[str, Any]:
    """Requests per create by service and operation, the idle rate scaled to the busy window subtracted."""
    scale = busy["window_seconds"] / idle["seconds"]
    busy_counts, idle_counts = Counter(busy["requests"]), Counter(idle["requests"])
    keys = [k for k in busy_counts if "." not in k.split(" ")[0]]  # "table GET", ...: by service and verb
    services = {s: sum(busy_counts[k] for k in keys if k.startswith(s)) for s in ("blob", "queue", "table")}
    idle_services = {s: sum(idle_counts[k] for k in idle_counts if "." not in k.split(" ")[0] and k.startswith(s)) * scale
                     for s in ("blob", "queue", "table")}
    total, idle_total = sum(services.values()), sum(idle_services.values())
    return {"total_per_create": round(total / count, 2), "idle_per_create": round(idle_total / count, 2),
            "net_per_create": round((total - idle_total) / count, 2),
            "net_per_create_by_service": {s: round((services[s] - idle_services[s]) / count, 2) for s in services},
            "by_verb_per_create": {k: round(busy_counts[k] / count, 2) for k in sorted(keys)},
            "by_operation_per_create": {k: round(v / count, 2) for k, v in sorted(busy_counts.items()) if k not in keys},
            "idle_by_verb_per_second": {k: round(v / idle["seconds"], 2) for k, v in sorted(idle_counts.items())
                                        if "." not in k.split(" ")[0]}}


def measure(*, latency: int, rate: float, creates: int, keygen: int, live: int,
            profile_to: Path | None = None, processes: int = 2) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="stack-bench-") as tmp, \
            local_stack(Path(tmp), STATUS_WAIT_TIMEOUT="01:00:00", CLEANUP_SCHEDULE=ONCE_A_YEAR) as stack:
        client = Client(stack)
        stack.start_agent()
        idle_rss = rss_kib(stack.host.process.pid)
        throughput_phase(stack, client, 10, HTTPS_URL, "warm")
        results: dict[str, Any] = {"rss_idle_mib": round(idle_rss / 1024, 1)}
        results["latency"] = latency_phase(stack, client, latency, rate)
        busy = throughput_phase(stack, client, creates, HTTPS_URL, "create", profile_to)
        idle = idle_phase(stack, busy["window_seconds"])
        results["throughput"] = {**{k: v for k, v in busy.items() if k != "requests"},
                                 "requests": busy["requests"], "idle": idle, **per_create(busy, idle, creates)}
        key = throughput_phase(stack, client, keygen, SSH_URL, "keygen")
        results["keygen"] = {k: v for k, v in key.items() if k != "requests"}
        results["rss"] = rss_phase(stack, client, live)
    results["throughput_uncounted"] = [uncounted_phase(count, creates) for count in sorted({1, processes})]
    return results


def uncounted_phase(processes: int, creates: int) -> dict[str, Any]:
    """The throughput phase again on a fresh stack without the counting proxy (instrumentation, not the
    product: it costs ~8 ms of CPU a create), with `processes` devhost workers on one port and one task hub
    (partitioned, see devhost/README.md): what the stack does alone, and whether a second worker helps."""
    with tempfile.TemporaryDirectory(prefix="stack-bench-") as tmp, \
            local_stack(Path(tmp), processes=processes, counted=False, STATUS_WAIT_TIMEOUT="01:00:00",
                        CLEANUP_SCHEDULE=ONCE_A_YEAR) as stack:
        client = Client(stack)
        stack.start_agent()
        throughput_phase(stack, client, 10, HTTPS_URL, "warm")
        busy = throughput_phase(stack, client, creates, HTTPS_URL, "create")
        workers = stack.metrics().get("workers") or []
    return {"processes": processes, **{k: v for k, v in busy.items() if k != "requests"},
            "workers": [{k: w.get(k) for k in ("worker", "pid", "partitions", "activitiesCompleted", "steps")}
                        for w in workers]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stack_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=int, default=200, help="configurations in the latency phase")
    parser.add_argument("--rate", type=float, default=5.0, help="PUTs per second in the latency phase")
    parser.add_argument("--creates", type=int, default=1000, help="configurations in the throughput phase")
    parser.add_argument("--keygen", type=int, default=20, help="configurations with key generation")
    parser.add_argument("--live", type=int, default=1000, help="live orchestrations for the RSS figure")
    parser.add_argument("--profile", type=Path, help="py-spy collapsed stacks of the throughput phase to this file")
    parser.add_argument("--processes", type=int, default=2,
                        help="devhost worker processes of the last uncounted throughput run (after one with 1)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    results = measure(latency=args.latency, rate=args.rate, creates=args.creates, keygen=args.keygen,
                      live=args.live, profile_to=args.profile, processes=args.processes)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
