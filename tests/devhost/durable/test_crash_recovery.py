"""SIGKILL the host in the middle of durable work, restart it, and check nothing was lost.

The chain's activity counts each run of each step in an Azurite table (`count_step`), so a step that ran
twice shows a count of 2 (activities are at-least-once: a result counts only once the orchestrator step
that applies it has committed, so an activity that finished just before the kill runs again) and a step
that never ran has no row at all. The history must still show each step completed exactly once.
"""

from __future__ import annotations

import time

from stack.azurite import free_port
from tests.devhost.durable.conftest import DURABLE_APP, DurableApi, durable_env, events_of, new_hub
from tests.fixtures.devhost_process import DevHost

STEPS = 30
KILL_AT = (5, 14, 23)  # steps counted when each SIGKILL happens
# ...plus a little delay, so the kills land in different phases: during an activity (it counts, then
# sleeps 50 ms), around its result's commit, while the next activity starts.
KILL_DELAY = (0.0, 0.035, 0.07)


def wait_for_progress(api: DurableApi, run: str, steps: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done = len(api.counters(run))
        if done >= steps:
            return done
        assert time.monotonic() < deadline, f"chain stuck at {done} steps:\n{api.host.stderr()[-3000:]}"
        time.sleep(0.02)


def test_kill_9_at_several_points_loses_no_work(azurite, tmp_path):
    connection = azurite.ports.connection_string
    hub = new_hub()
    env = durable_env(connection, hub)
    port = free_port()
    host = DevHost(app_dir=DURABLE_APP, env=env, log_dir=tmp_path, name="run0", port=port).start()
    api = DurableApi(host, hub=hub, connection_string=connection)
    chain_id = api.start_id("chain", STEPS)
    sleeper_id = api.start_id("sleeper", 4)

    progress_at_kill = []
    for number, (threshold, delay) in enumerate(zip(KILL_AT, KILL_DELAY, strict=True), start=1):
        wait_for_progress(api, chain_id, threshold)
        time.sleep(delay)
        progress_at_kill.append(len(api.counters(chain_id)))
        host.kill()
        assert host.process is not None and host.process.returncode == -9
        host = DevHost(app_dir=DURABLE_APP, env=env, log_dir=tmp_path, name=f"run{number}", port=port).start()
        api.host = host

    chain = api.wait(chain_id, timeout=90, history=True)
    sleeper = api.wait(sleeper_id, timeout=60)
    assert chain["runtimeStatus"] == "Completed", chain["output"]
    assert chain["output"] == sum(range(1, STEPS + 1))
    counts = api.counters(chain_id)
    assert set(counts) == {f"step-{n:03d}" for n in range(1, STEPS + 1)}, "a step never ran"
    assert all(count >= 1 for count in counts.values())
    # Each step is completed exactly once in the history, whatever the number of runs.
    done = events_of(chain, "TaskCompleted")
    assert sorted(int(e["Result"]) for e in done) == list(range(1, STEPS + 1))
    assert sleeper["runtimeStatus"] == "Completed"
    assert sleeper["output"]["woke"] >= sleeper["output"]["fire_at"]
    assert progress_at_kill == sorted(progress_at_kill) and progress_at_kill[-1] < STEPS
    reruns = sum(counts.values()) - STEPS
    print(f"killed at steps {progress_at_kill}; activity re-runs after kills: {reruns}")
    assert "orchestration completed" in host.stderr()
    assert host.stop() == 0, host.stderr()[-3000:]
