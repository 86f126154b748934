"""Queue and timer triggers under `python -m devhost start --processes 2` (two workers on one port).

Queue messages compete through the queue (each is invisible to the other worker while one runs it), timers
run on the holder of the singleton lock only: with two workers every message is processed once and every
timer occurrence runs once.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueServiceClient

from stack.azurite import free_port
from tests.devhost.supervised import SupervisedHost
from tests.devhost.test_timer_trigger import TIMER_APP, records, timer_env
from tests.fixtures.devhost_process import devhost_environment

QUEUE_APP = Path(__file__).resolve().parent / "apps" / "queue_app"


def test_two_workers_process_each_queue_message_once(azurite, tmp_path):
    queue_name = f"qproc-{uuid.uuid4().hex[:8]}"
    env = devhost_environment(azurite.ports.connection_string, FIELDS_QUEUE=queue_name,
                              AzureFunctionsWebHost__hostid=f"qproc-{uuid.uuid4().hex[:8]}")
    host = SupervisedHost(processes=2, app_dir=QUEUE_APP, env=env, log_dir=tmp_path, name="queues",
                          port=free_port()).start()
    marker = uuid.uuid4().hex
    bodies = {f"{marker}-{n}" for n in range(40)}
    reports: list[dict] = []
    try:
        with QueueServiceClient.from_connection_string(azurite.ports.connection_string) as service:
            source = service.get_queue_client(queue_name)
            for body in sorted(bodies):
                source.send_message(base64.b64encode(body.encode()).decode())
            seen = service.get_queue_client("qapp-fields-seen")

            def collect() -> None:
                try:
                    for message in seen.receive_messages(messages_per_page=32, visibility_timeout=30):
                        seen.delete_message(message)
                        report = json.loads(base64.b64decode(message.content))
                        if report["body"].startswith(marker):
                            reports.append(report)
                except ResourceNotFoundError:  # NB: the output queue is created by the first report
                    time.sleep(0.1)

            deadline = time.monotonic() + 60
            while len({r["body"] for r in reports}) < len(bodies):
                assert time.monotonic() < deadline, f"{len(reports)} reports\n{host.stderr()[-3000:]}"
                collect()
            time.sleep(1.0)  # NB: a duplicate would show up now
            collect()
    finally:
        assert host.stop() == 0, host.stderr()[-3000:]
    assert sorted(r["body"] for r in reports) == sorted(bodies), "a message was processed twice or never"
    assert all(r["dequeue_count"] == 1 for r in reports)
    log = host.stderr()
    assert " worker=1" in log and " worker=2" in log


def test_two_workers_run_each_timer_occurrence_once(azurite, tmp_path):
    token = uuid.uuid4().hex[:8]
    run_id, host_id = f"run-{token}", f"timers-{token}"
    env = timer_env(azurite.ports.connection_string, run_id=run_id, host_id=host_id, enabled={"even_seconds"})
    host = SupervisedHost(processes=2, app_dir=TIMER_APP, env=env, log_dir=tmp_path, name="timers",
                          port=free_port()).start()
    try:
        time.sleep(7)
    finally:
        assert host.stop() == 0, host.stderr()[-3000:]
    ticks = [r["tick"] for r in records(azurite.ports.connection_string, run_id, "cron")]
    assert len(ticks) >= 2, host.stderr()[-3000:]
    assert len(ticks) == len(set(ticks)), f"an occurrence ran twice: {ticks}"
    log = host.stderr()
    assert log.count("Singleton lock acquired") == 1, log[-3000:]
    assert "Unable to acquire Singleton lock; standing by" in log
