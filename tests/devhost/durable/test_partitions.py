"""Several devhost processes share one task hub (devhost/durable/partitions.py), on real Azurite.

Each test starts its own processes on a fresh hub with a short balance tick (DEVHOST_DURABLE_BALANCE_SECONDS),
so partitions move within a second. The hub has the default 4 partitions; two processes own 2 each
(partition k -> the k-th of the sorted live workers, round robin). Instance ids are chosen by partition so
each test knows which process owns what (`ids_in`).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from devhost.durable.metrics import DurableMetrics
from devhost.durable.partitions import fnv1a_32, partition_of
from devhost.durable.store import TaskHubStore
from devhost.settings import parse_connection_string
from stack.azurite import free_port
from tests.devhost.durable.conftest import DURABLE_APP, DurableApi, durable_env, events_of, new_hub
from tests.devhost.supervised import SupervisedHost
from tests.fixtures.devhost_process import PROJECT_ROOT, DevHost

PARTITIONS = 4
FAST = {"DEVHOST_DURABLE_BALANCE_SECONDS": "0.3", "DEVHOST_DURABLE_FORWARD_PATIENCE": "30"}


def ids_in(partitions: set[int], count: int, prefix: str) -> list[str]:
    """`count` instance ids whose partitions are among `partitions`."""
    found: list[str] = []
    n = 0
    while len(found) < count:
        candidate = f"{prefix}-{n}"
        if partition_of(candidate, PARTITIONS) in partitions:
            found.append(candidate)
        n += 1
    return found


def metrics(api: DurableApi) -> dict[str, Any]:
    response = requests.get(f"{api.base}/admin/durable/metrics", params={"code": api.master_key}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def owned(api: DurableApi) -> set[int]:
    """The partitions of the process behind `api` (its own entry: the first of the workers list)."""
    return set(metrics(api)["workers"][0]["partitions"])


def wait_balanced(api: DurableApi, workers: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Until `workers` live workers own PARTITIONS / workers partitions each (every partition owned once)."""
    deadline = time.monotonic() + timeout
    while True:
        found = metrics(api)["workers"]
        shares = sorted(len(w["partitions"]) for w in found)
        every = sorted(k for w in found for k in w["partitions"])
        if len(found) == workers and every == list(range(PARTITIONS)) and shares[-1] - shares[0] <= 1:
            return found
        assert time.monotonic() < deadline, f"not balanced: {found}\n{api.host.stderr()[-3000:]}"
        time.sleep(0.1)


def start_via(api: DurableApi, name: str, instance_id: str, body: Any) -> None:
    """Start through the management webhook (the input JSON-encoded, as the client SDK sends it)."""
    response = api.webhook("POST", f"orchestrators/{name}/{instance_id}", json=json.dumps(body))
    assert response.status_code == 202, response.text
    assert response.json()["id"] == instance_id
    # NB: the URLs point at the process that was asked, even when the owner answered
    assert response.json()["statusQueryGetUri"].startswith(f"{api.base}/runtime/webhooks/durabletask/")


@pytest.fixture
def hub_env(azurite) -> tuple[str, dict[str, str]]:
    hub = new_hub()
    return hub, durable_env(azurite.ports.connection_string, hub, **FAST)


@pytest.fixture
def two_hosts(azurite, hub_env, tmp_path) -> Iterator[tuple[DurableApi, DurableApi]]:
    hub, env = hub_env
    first = DevHost(app_dir=DURABLE_APP, env=env, log_dir=tmp_path, name="a").start()
    second = DevHost(app_dir=DURABLE_APP, env=env, log_dir=tmp_path, name="b").start()
    apis = (DurableApi(first, hub=hub, connection_string=azurite.ports.connection_string),
            DurableApi(second, hub=hub, connection_string=azurite.ports.connection_string))
    try:
        yield apis
    finally:
        for host in (first, second):
            if host.process is not None and host.process.poll() is None:
                assert host.stop() == 0, host.stderr()[-3000:]


def run_mixed(starters: list[DurableApi], parts_a: set[int], parts_b: set[int], count: int = 40) -> dict[str, int]:
    """Start `count` `mixed` orchestrations alternately through each api, half of them in each process's
    partitions, each with its child in the OTHER process's partitions; raise their events through the api that
    did not start them; check every output. Returns instance id -> n."""
    parents = ids_in(parts_a, count // 2, f"mx{uuid.uuid4().hex[:6]}a") + ids_in(
        parts_b, count - count // 2, f"mx{uuid.uuid4().hex[:6]}b")
    expected: dict[str, int] = {}
    for n, instance_id in enumerate(parents):
        other = parts_b if partition_of(instance_id, PARTITIONS) in parts_a else parts_a
        child_id = ids_in(other, 1, f"{instance_id}-kid")[0]
        start_via(starters[n % len(starters)], "mixed", instance_id, {"n": n, "child": child_id})
        expected[instance_id] = n
    for n, instance_id in enumerate(parents):
        api = starters[(n + 1) % len(starters)]
        api.wait(instance_id, statuses={"Running"})
        response = api.webhook("POST", f"instances/{instance_id}/raiseEvent/go", json={"n": n})
        assert response.status_code == 202, response.text
    for n, instance_id in enumerate(parents):
        status = starters[n % len(starters)].wait(instance_id, timeout=60)
        assert status["runtimeStatus"] == "Completed", status
        assert status["output"] == {"doubled": [2 * n, 2 * n + 2], "go": {"n": n}, "kid": 2 * n,
                                    "kid_parent": instance_id}
    return expected


def test_fnv1a_matches_the_reference_values():
    # The published FNV-1a 32-bit test vectors
    assert fnv1a_32("") == 0x811C9DC5
    assert fnv1a_32("a") == 0xE40C292C
    assert fnv1a_32("foobar") == 0xBF9CF968
    assert {partition_of(f"id-{n}", PARTITIONS) for n in range(50)} == set(range(PARTITIONS))


def test_two_processes_split_the_partitions_and_the_work(two_hosts):
    a, b = two_hosts
    workers = wait_balanced(a, 2)
    parts_a, parts_b = owned(a), owned(b)
    assert len(parts_a) == len(parts_b) == 2 and parts_a.isdisjoint(parts_b), workers
    before = {w["workerId"]: w["activitiesCompleted"] for w in metrics(a)["workers"]}

    run_mixed([a, b], parts_a, parts_b, count=40)

    hub = metrics(b)
    assert len(hub["workers"]) == 2
    for worker in hub["workers"]:
        assert worker["activitiesCompleted"] - before.get(worker["workerId"], 0) > 0, hub["workers"]
        assert worker["steps"] > 0 and len(worker["partitions"]) == 2
    # Hub-wide figures are the sum of the workers' (40 parents + 40 children, 3 activities per pair).
    assert hub["activitiesCompleted"] == sum(w["activitiesCompleted"] for w in hub["workers"]) >= 120
    assert hub["instancesCompleted"] >= 80
    assert "partitions acquired" in a.host.stderr() and "partitions acquired" in b.host.stderr()
    # What a process taking over a partition re-sends to parents: the children that finished lately.
    children = asyncio.run(finished_children(a))
    assert len([c for c in children if c.instance_id.startswith("mx")]) == 40
    assert all(c.parent_instance_id and c.parent_task_id is not None for c in children)


async def finished_children(api: DurableApi) -> list:
    store = TaskHubStore(storage=parse_connection_string(api.connection_string),
                         table_name=f"DevhostDurable{api.hub}", metrics=DurableMetrics())
    try:
        since = datetime.now(UTC) - timedelta(minutes=2)
        return await store.finished_children(since, ("Completed", "Failed", "Terminated"))
    finally:
        await store.close()


def test_client_operations_on_the_other_process_instances(two_hosts):
    a, b = two_hosts
    wait_balanced(a, 2)
    theirs = owned(b)
    waiting, stopped, purged, sdk = ids_in(theirs, 4, f"ops{uuid.uuid4().hex[:6]}")

    # Start, status, raise event: through the process that does not own the instance
    start_via(a, "wait_for_go", waiting, None)
    assert a.status(waiting).json()["runtimeStatus"] in ("Running", "Pending")
    response = a.webhook("POST", f"instances/{waiting}/raiseEvent/go", json="ok")
    assert response.status_code == 202, response.text
    assert a.wait(waiting)["output"] == {"payload": "ok"}

    # Terminate through the non-owner
    start_via(a, "wait_for_go", stopped, None)
    a.wait(stopped, statuses={"Running"})
    response = a.webhook("POST", f"instances/{stopped}/terminate", params={"reason": "enough"})
    assert response.status_code == 202, response.text
    assert b.wait(stopped)["runtimeStatus"] == "Terminated"
    assert a.webhook("POST", f"instances/{stopped}/terminate").status_code == 410

    # Purge through the non-owner
    start_via(b, "sequence", purged, ["x"])
    assert a.wait(purged)["runtimeStatus"] == "Completed"
    response = a.webhook("DELETE", f"instances/{purged}")
    assert response.status_code == 200 and response.json() == {"instancesDeleted": 1}, response.text
    assert b.status(purged).status_code == 404
    assert a.partition_rows(purged) == []

    # The durable client SDK in an app function of the non-owner (its RPC listener forwards)
    assert a.start("wait_for_go", instance_id=sdk).status_code == 202
    a.wait(sdk, statuses={"Running"})
    assert a.raise_event(sdk, "go", {"via": "sdk"}).status_code == 202
    assert b.wait(sdk)["output"] == {"payload": json.dumps({"via": "sdk"})}
    assert a.client_status(sdk)["runtimeStatus"] == "Completed"

    # A start without an id lands in a partition of the process that received it: no forwarding needed
    response = a.webhook("POST", "orchestrators/sequence", json=json.dumps(["y"]))
    assert response.status_code == 202
    assert partition_of(response.json()["id"], PARTITIONS) in owned(a)
    assert a.wait(response.json()["id"])["output"] == ["Hello y!"]


def test_sigkill_one_process_the_survivor_finishes_everything(two_hosts):
    a, b = two_hosts
    wait_balanced(a, 2)
    parts_a, parts_b = owned(a), owned(b)
    steps = 12
    chains = ids_in(parts_a, 6, f"ka{uuid.uuid4().hex[:6]}") + ids_in(parts_b, 6, f"kb{uuid.uuid4().hex[:6]}")
    for n, instance_id in enumerate(chains):
        start_via((a, b)[n % 2], "chain", instance_id, steps)
    # Kill B while its chains have activities in flight (each step counts, then sleeps 50 ms)
    deadline = time.monotonic() + 30
    while sum(len(a.counters(i)) for i in chains[6:]) < 12:
        assert time.monotonic() < deadline, b.host.stderr()[-3000:]
        time.sleep(0.02)
    b.host.kill()

    for instance_id in chains:
        status = a.wait(instance_id, timeout=60, history=True)
        assert status["runtimeStatus"] == "Completed", status
        assert status["output"] == sum(range(1, steps + 1))
        assert sorted(int(e["Result"]) for e in events_of(status, "TaskCompleted")) == list(range(1, steps + 1))
        assert set(a.counters(instance_id)) == {f"step-{n:03d}" for n in range(1, steps + 1)}
    hub = metrics(a)
    assert len(hub["workers"]) == 1 and hub["workers"][0]["partitions"] == list(range(PARTITIONS)), hub
    assert "breaking" in a.host.stderr()  # the dead worker's leases were broken, not waited out


def test_a_process_joining_later_takes_half_the_partitions(azurite, hub_env, tmp_path):
    hub, env = hub_env
    connection = azurite.ports.connection_string
    first = DevHost(app_dir=DURABLE_APP, env=env, log_dir=tmp_path, name="first").start()
    a = DurableApi(first, hub=hub, connection_string=connection)
    second: DevHost | None = None
    try:
        assert owned(a) == set(range(PARTITIONS))
        steps = 15
        chains = ids_in(set(range(PARTITIONS)), 12, f"join{uuid.uuid4().hex[:6]}")
        for instance_id in chains:
            start_via(a, "chain", instance_id, steps)
        # Keep creating instances through the first process while the second joins: some creations are in
        # flight when their partition moves (none may be lost).
        created: list[str] = []
        stop = threading.Event()

        def keep_starting() -> None:
            session = requests.Session()
            while not stop.is_set():
                response = session.post(f"{a.base}/runtime/webhooks/durabletask/orchestrators/chain",
                                        params={"code": a.system_key}, json=json.dumps(3), timeout=60)
                assert response.status_code == 202, response.text
                created.append(response.json()["id"])

        starters = [threading.Thread(target=keep_starting) for _ in range(4)]
        for thread in starters:
            thread.start()
        try:
            second = DevHost(app_dir=DURABLE_APP, env=env, log_dir=tmp_path, name="second").start()
            b = DurableApi(second, hub=hub, connection_string=connection)
            wait_balanced(b, 2)
            time.sleep(0.5)
        finally:
            stop.set()
            for thread in starters:
                thread.join()
        assert len(owned(a)) == 2 and len(owned(b)) == 2
        assert len(created) > 20
        for instance_id in created:
            status = b.wait(instance_id, timeout=60)
            assert status["runtimeStatus"] == "Completed" and status["output"] == 6, status
        for instance_id in chains:
            status = b.wait(instance_id, timeout=60)
            assert status["runtimeStatus"] == "Completed" and status["output"] == sum(range(1, steps + 1)), status
        assert "releasing partitions" in first.stderr()
        assert metrics(b)["workers"][0]["activitiesCompleted"] > 0, "the newcomer ran none of the remaining work"
    finally:
        for host in (first, second):
            if host is not None:
                assert host.stop() == 0, host.stderr()[-3000:]


def test_processes_option_serves_one_port_with_two_workers(azurite, hub_env, tmp_path):
    hub, env = hub_env
    host = SupervisedHost(processes=2, app_dir=DURABLE_APP, env=env, log_dir=tmp_path, name="supervised",
                          port=free_port()).start()
    api = DurableApi(host, hub=hub, connection_string=azurite.ports.connection_string)
    try:
        assert host.stdout().count("Host started on") == 1
        assert "(2 worker processes)" in host.stdout()
        # Both workers answer on the same port (the kernel spreads the connections).
        workers = wait_balanced(api, 2)
        parts = [set(w["partitions"]) for w in workers]
        run_mixed([api], parts[0], parts[1], count=40)
        hub_metrics = metrics(api)
        assert all(w["activitiesCompleted"] > 0 for w in hub_metrics["workers"]), hub_metrics["workers"]
        assert {w["worker"] for w in hub_metrics["workers"]} == {"1", "2"}
        log = host.stderr()
        assert " worker=1" in log and " worker=2" in log and " worker=supervisor" in log
    finally:
        code = host.stop(timeout=40)
    assert code == 0, host.stderr()[-3000:]
    assert "did not stop" not in host.stderr()


@pytest.mark.parametrize("value", ["17", "0", "many"])
def test_partition_count_must_be_1_to_16(azurite, tmp_path, value):
    env = durable_env(azurite.ports.connection_string, new_hub(),
                      AzureFunctionsJobHost__extensions__durableTask__storageProvider__partitionCount=value)
    proc = subprocess.run([sys.executable, "-m", "devhost", "start", "--app-dir", str(DURABLE_APP),
                           "--port", str(free_port())], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "partitionCount must be an integer from 1 to 16" in proc.stderr
    assert repr(value) in proc.stderr


def test_one_partition_works_with_two_processes(azurite, tmp_path):
    hub = new_hub()
    env = durable_env(azurite.ports.connection_string, hub, **FAST,
                      AzureFunctionsJobHost__extensions__durableTask__storageProvider__partitionCount="1")
    first = DevHost(app_dir=DURABLE_APP, env=env, log_dir=tmp_path, name="one-a").start()
    second = DevHost(app_dir=DURABLE_APP, env=env, log_dir=tmp_path, name="one-b").start()
    try:
        a = DurableApi(first, hub=hub, connection_string=azurite.ports.connection_string)
        b = DurableApi(second, hub=hub, connection_string=azurite.ports.connection_string)
        ids = [b.webhook("POST", "orchestrators/sequence", json=json.dumps(["p", "q"])).json()["id"] for _ in range(3)]
        for instance_id in ids:
            assert a.wait(instance_id)["output"] == ["Hello p!", "Hello q!"]
        assert metrics(a)["partitionCount"] == 1
    finally:
        for host in (first, second):
            assert host.stop() == 0, host.stderr()[-3000:]


def test_a_supervised_worker_that_dies_is_not_restarted_and_the_other_takes_over(azurite, hub_env, tmp_path):
    hub, env = hub_env
    host = SupervisedHost(processes=2, app_dir=DURABLE_APP, env=env, log_dir=tmp_path, name="dying",
                          port=free_port()).start()
    api = DurableApi(host, hub=hub, connection_string=azurite.ports.connection_string)
    try:
        workers = wait_balanced(api, 2)
        victim = workers[1]
        chains = ids_in(set(victim["partitions"]), 4, f"die{uuid.uuid4().hex[:6]}")
        for instance_id in chains:
            start_via(api, "chain", instance_id, 6)
        os.kill(victim["pid"], signal.SIGKILL)
        # NB: connections the dead worker had accepted or still had in its accept queue are reset (SO_REUSEPORT);
        # new ones go to the survivor
        time.sleep(0.5)
        for instance_id in chains:
            assert api.wait(instance_id, timeout=60)["output"] == sum(range(1, 7))
        survivor = wait_balanced(api, 1)
        assert survivor[0]["pid"] != victim["pid"]
        assert "worker exited unexpectedly" in host.stderr()
    finally:
        code = host.stop(timeout=40)
    assert code == 1, "a worker died: the supervisor reports it when it stops"
