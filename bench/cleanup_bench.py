"""Cost of one cleanup timer run with no pending work, at 10 and at 10,000 configurations:
`python -m bench.cleanup_bench` (part of `make bench`).

Starts its own Azurite, kubesim and a devhost serving this project's app with the cleanup timer every
2 seconds, registers kubesim as a cluster through the API, then stores configurations (Installed, as the
create workflow leaves them) straight into the configurations table: first 10, then up to 10,000. After
each step it reads the run time the timer itself logs (`cleanup run: ... seconds=`) for several runs and
prints the medians and their ratio (goal <= 1.5: the timer reads the pending-work index, not the
configurations).

NB: the configurations exist as stored resources only; their operator objects are not on the cluster. The
orphan sweep lists what carries our label on each registered cluster, so its cluster-side cost follows
the objects there (see bench/README.md).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet

from bench.durable_bench import machine
from bench.hosting import PROJECT_ROOT, bench_environment, running_devhost
from shared.configurations import ComplianceStatus, ConfigurationRecord, SystemData
from shared.resource_ids import parse_configuration_id
from shared.tables import CONFIGURATIONS_TABLE, table
from stack.azurite import Azurite, free_port

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
CLUSTER = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/BenchGroup/providers/Microsoft.Kubernetes/"
           "connectedClusters/bench")
RUN_LINE = re.compile(r"cleanup run: past_due=\w+ .*?seconds=([0-9.]+)")
GOAL_RATIO = 1.5
BATCH = 100


def seed_configurations(count_from: int, count_to: int) -> None:
    """Store configurations `count_from..count_to-1` of the bench cluster, 100 per table transaction."""
    cluster, _ = parse_configuration_id(f"{CLUSTER}/providers/Microsoft.KubernetesConfiguration/"
                                        "sourceControlConfigurations/any")
    client = table(CONFIGURATIONS_TABLE)
    now = "2026-01-01T00:00:00.000000+00:00"
    batch = []
    for index in range(count_from, count_to):
        record = ConfigurationRecord(
            cluster_id=CLUSTER, cluster_key=cluster.storage_key, name=f"config-{index:05d}",
            properties={"repositoryUrl": "https://example.com/org/repo", "operatorNamespace": f"ns-{index}",
                        "operatorInstanceName": f"flux-{index}", "operatorScope": "cluster"},
            sealed_protected_settings=None, repository_public_key="", provisioning_state="Succeeded",
            compliance=ComplianceStatus(compliance_state="Installed", last_config_applied=now, message="",
                                        message_level="Information"),
            system_data=SystemData(created_at=now, last_modified_at=now))
        batch.append(("upsert", record.to_entity()))
        if len(batch) == BATCH:
            client.submit_transaction(batch)
            batch = []
    if batch:
        client.submit_transaction(batch)


def run_times(host, *, after: int, runs: int, timeout: float = 120.0) -> list[float]:
    """The logged durations of the first `runs` timer runs after the `after`-th one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [float(seconds) for seconds in RUN_LINE.findall(host.log())]
        if len(found) >= after + runs:
            return found[after:after + runs]
        time.sleep(0.5)
    raise TimeoutError("the cleanup timer did not run often enough")


def measure(*, small_count: int, large_count: int, runs: int) -> dict[str, Any]:
    """Timer run durations at `small` then `large` stored configurations (also called by bench/run_all.py)."""
    with tempfile.TemporaryDirectory(prefix="cleanup-bench-") as tmp:
        work = Path(tmp)
        with Azurite(data_dir=work / "azurite", log_file=work / "azurite.log") as azurite:
            env = bench_environment(azurite.ports.connection_string, CLEANUP_SCHEDULE="*/2 * * * * *",
                                    SECRETS_ENCRYPTION_KEY=Fernet.generate_key().decode())
            os.environ["AzureWebJobsStorage"] = azurite.ports.connection_string  # for seeding from here
            kubeconfig = work / "kubeconfig"
            sim = subprocess.Popen([sys.executable, "-m", "kubesim", "--port", str(free_port()), "--kubeconfig-out",
                                    str(kubeconfig), "--cert-dir", str(work / "certs")], cwd=PROJECT_ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                while not kubeconfig.exists():
                    time.sleep(0.1)
                with running_devhost(PROJECT_ROOT, env, work) as host:
                    body = {"properties": {"kubeconfig": base64.b64encode(kubeconfig.read_bytes()).decode()}}
                    requests.put(f"{host.base_url}/api{CLUSTER}", params={"api-version": "2021-03-01"}, json=body,
                                 headers={"x-functions-key": host.keys["functionKeys"]["default"]},
                                 timeout=30).raise_for_status()
                    seed_configurations(0, small_count)
                    seen = len(RUN_LINE.findall(host.log()))
                    small = run_times(host, after=seen + 1, runs=runs)
                    started = time.perf_counter()
                    seed_configurations(small_count, large_count)
                    seeding = time.perf_counter() - started
                    stored = sum(1 for _ in table(CONFIGURATIONS_TABLE).list_entities(select=["RowKey"]))
                    assert stored == large_count, f"{stored} configurations stored, {large_count} meant"
                    seen = len(RUN_LINE.findall(host.log()))
                    large = run_times(host, after=seen + 1, runs=runs)
            finally:
                sim.terminate()
                sim.wait(timeout=20)

    small_median, large_median = statistics.median(small), statistics.median(large)
    return {"small": small_count, "large": large_count, "small_runs": small, "large_runs": large,
            "small_median_seconds": round(small_median, 4), "large_median_seconds": round(large_median, 4),
            "ratio": round(large_median / small_median, 3), "seeding_seconds": round(seeding, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cleanup_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7, help="timer runs measured at each size")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    figures = measure(small_count=args.small, large_count=args.large, runs=args.runs)
    small, large, seeding = figures["small_runs"], figures["large_runs"], figures["seeding_seconds"]
    small_median, large_median, ratio = figures["small_median_seconds"], figures["large_median_seconds"], figures["ratio"]
    info = machine()
    print(f"machine: {info['nproc']} cores, {info['cpu']}, Python {info['python']}, Azurite {info['azurite']}")
    print(f"{'configurations':>15}{'median run s':>14}  runs (s)")
    for count, times, median in ((args.small, small, small_median), (args.large, large, large_median)):
        print(f"{count:>15}{median:>14.4f}  {' '.join(f'{t:.3f}' for t in times)}")
    verdict = "met" if ratio <= GOAL_RATIO else "MISSED"
    print(f"ratio {args.large} / {args.small}: {ratio:.2f} (goal <= {GOAL_RATIO}: {verdict}); "
          f"seeding {args.large - args.small} configurations took {seeding:.1f} s")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "cleanup": {
            "small": args.small, "large": args.large, "small_median_seconds": round(small_median, 4),
            "large_median_seconds": round(large_median, 4), "ratio": round(ratio, 3)}}, indent=2))
    return 0 if ratio <= GOAL_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
