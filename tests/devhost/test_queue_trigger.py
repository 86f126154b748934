"""Queue triggers and queue outputs under devhost, against real Azurite queues (tests/devhost/apps/queue_app).

The app's host.json: batchSize 4, newBatchThreshold 0, maxDequeueCount 4, visibilityTimeout 1 s,
maxPollingInterval 1 s. Assertions are about counts and order; timing only where the rule is a time
(a failed message must not come back before visibilityTimeout).
"""

from __future__ import annotations

import base64
import itertools
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.functions import meta
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, QueueServiceClient

from devhost.hostconfig import HostConfig, HostConfigError
from devhost.queues import (
    Backoff,
    QueueOptions,
    decode_message,
    encode_message,
    output_messages,
    poison_queue_name,
)
from devhost.triggering import (
    BindingConfigError,
    parse_timespan,
    resolve_setting_expressions,
    storage_for_connection,
)
from tests.fixtures.devhost_process import DevHost, devhost_environment
from tests.fixtures.waiting import wait_for

QUEUE_APP = Path(__file__).resolve().parent / "apps" / "queue_app"
RECORDS_CONTAINER = "queue-app-records"
FIELDS_QUEUE = "qapp-fields-in"


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def unb64(text: str) -> str:
    return base64.b64decode(text).decode("utf-8")


def take_messages(queue: QueueClient, *, count: int, match: Callable[[str], bool] = lambda _text: True,
                  timeout: float = 30.0) -> list[str]:
    """Receive and delete messages until `count` matching ones (raw text) arrived."""
    found: list[str] = []

    def poll() -> bool:
        try:
            for message in queue.receive_messages(messages_per_page=32, visibility_timeout=30):
                queue.delete_message(message)
                if match(message.content):
                    found.append(message.content)
        except ResourceNotFoundError:
            pass
        return len(found) >= count

    wait_for(poll, timeout=timeout, what=f"{count} message(s) in {queue.queue_name}")
    return found


def peek_all(queue: QueueClient) -> list[str]:
    try:
        return [m.content for m in queue.peek_messages(max_messages=32)]
    except ResourceNotFoundError:
        return []


def attempts(connection_string: str, prefix: str) -> list[dict]:
    with BlobServiceClient.from_connection_string(connection_string) as service:
        container = service.get_container_client(RECORDS_CONTAINER)
        try:
            blobs = list(container.list_blobs(name_starts_with=prefix))
        except ResourceNotFoundError:
            return []
        return sorted((json.loads(container.download_blob(b.name).readall()) for b in blobs),
                      key=lambda r: r["dequeue_count"])


@pytest.fixture(scope="module")
def queues(azurite) -> QueueServiceClient:
    service = QueueServiceClient.from_connection_string(azurite.ports.connection_string)
    with service:
        yield service


@pytest.fixture(scope="module")
def queue_host(azurite, tmp_path_factory):
    env = devhost_environment(azurite.ports.connection_string, FIELDS_QUEUE=FIELDS_QUEUE,
                              AzureFunctionsWebHost__hostid=f"qapp-{uuid.uuid4().hex[:8]}")
    host = DevHost(app_dir=QUEUE_APP, env=env, log_dir=tmp_path_factory.mktemp("queue-host")).start()
    yield host
    assert host.stop() == 0, host.stderr()


# ---------------------------------------------------------------- end to end


def test_listing_names_queue_triggers(queue_host):
    out = queue_host.stdout()
    for name in ("fields", "always_fails", "flaky", "slow"):
        assert f"{name}: queueTrigger" in out
    assert "not served" not in out


def test_message_is_processed_with_its_fields_and_deleted(queue_host, queues):
    """The function gets a real QueueMessage (id, dequeue count, times, pop receipt); the queue name
    comes from the %FIELDS_QUEUE% setting; the report goes out through a queue output binding."""
    source = queues.get_queue_client(FIELDS_QUEUE)
    body = f"hello {uuid.uuid4()}"
    sent = source.send_message(b64(body))

    [report_text] = take_messages(queues.get_queue_client("qapp-fields-seen"), count=1,
                                  match=lambda text: body in unb64(text))
    report = json.loads(unb64(report_text))  # NB: output messages are base64 like the host's
    assert report["id"] == sent.id
    assert report["body"] == body
    assert report["dequeue_count"] == 1
    assert datetime.fromisoformat(report["insertion_time"]) == sent.inserted_on
    assert datetime.fromisoformat(report["expiration_time"]) == sent.expires_on
    assert datetime.fromisoformat(report["time_next_visible"]) > sent.inserted_on
    assert report["pop_receipt"]

    wait_for(lambda: not peek_all(source) and source.get_queue_properties().approximate_message_count == 0,
             what="the processed message to be deleted")


def test_always_failing_message_goes_to_poison_after_exactly_max_dequeue_count(queue_host, queues, azurite):
    body = f"poison me {uuid.uuid4()}"
    sent = queues.get_queue_client("qapp-always-fails").send_message(b64(body))

    [poisoned] = take_messages(queues.get_queue_client("qapp-always-fails-poison"), count=1,
                               match=lambda text: text == b64(body))
    assert unb64(poisoned) == body  # the original text, as stored

    tries = attempts(azurite.ports.connection_string, f"always-fails/{sent.id}/")
    assert [t["dequeue_count"] for t in tries] == [1, 2, 3, 4]  # host.json maxDequeueCount
    assert {t["id"] for t in tries} == {sent.id}
    # visibilityTimeout 1 s: a failed message does not come back before it (some slack for clocks).
    gaps = [later["at"] - earlier["at"] for earlier, later in itertools.pairwise(tries)]
    assert all(gap >= 0.8 for gap in gaps), gaps
    assert b64(body) not in peek_all(queues.get_queue_client("qapp-always-fails"))


def test_message_failing_twice_then_succeeding_is_processed_once(queue_host, queues, azurite):
    body = f"third time lucky {uuid.uuid4()}"
    sent = queues.get_queue_client("qapp-flaky").send_message(b64(body))

    done = take_messages(queues.get_queue_client("qapp-flaky-done"), count=1,
                         match=lambda text: body in unb64(text))
    report = json.loads(unb64(done[0]))  # a `$return` queue output
    assert (report["id"], report["dequeue_count"]) == (sent.id, 3)
    assert [t["dequeue_count"] for t in attempts(azurite.ports.connection_string, f"flaky/{sent.id}/")] == [1, 2, 3]
    wait_for(lambda: not peek_all(queues.get_queue_client("qapp-flaky")), what="the message to be deleted")
    assert b64(body) not in peek_all(queues.get_queue_client("qapp-flaky-poison"))


def test_batch_size_bounds_concurrency(queue_host, queues):
    """batchSize 4 with newBatchThreshold 0: never more than 4 messages of one function at once."""
    tag = uuid.uuid4().hex
    source = queues.get_queue_client("qapp-slow")
    for i in range(12):
        source.send_message(b64(f"{tag}-{i}"))
    reports = [json.loads(unb64(text)) for text in take_messages(
        queues.get_queue_client("qapp-slow-seen"), count=12, match=lambda text: tag in unb64(text))]
    assert sorted(r["body"] for r in reports) == sorted(f"{tag}-{i}" for i in range(12))
    peak = max(r["peak"] for r in reports)
    assert 2 <= peak <= 4, peak


def test_message_that_is_not_base64_goes_to_poison_unchanged(queue_host, queues):
    text = f"not base64 ~~ {uuid.uuid4()}"
    queues.get_queue_client(FIELDS_QUEUE).send_message(text)
    [poisoned] = take_messages(queues.get_queue_client(f"{FIELDS_QUEUE}-poison"), count=1,
                               match=lambda raw: raw == text)
    assert poisoned == text


def test_message_encoding_none(azurite, queues, tmp_path):
    """`messageEncoding: none` (here through an AzureFunctionsJobHost__ override): plain text in and out."""
    env = devhost_environment(
        azurite.ports.connection_string, FIELDS_QUEUE="qapp-plain-in",
        AzureFunctionsWebHost__hostid=f"qplain-{uuid.uuid4().hex[:8]}",
        AzureFunctionsJobHost__extensions__queues__messageEncoding="none",
        **{f"AzureWebJobs.{name}.Disabled": "true" for name in ("always_fails", "flaky", "slow")},
    )
    host = DevHost(app_dir=QUEUE_APP, env=env, log_dir=tmp_path).start()
    try:
        body = f"plain {uuid.uuid4()}"
        queues.get_queue_client("qapp-plain-in").send_message(body)
        [report] = take_messages(queues.get_queue_client("qapp-fields-seen"), count=1,
                                 match=lambda text: body in text)
        assert json.loads(report)["body"] == body
    finally:
        assert host.stop() == 0, host.stderr()
    assert "message_encoding=none" in host.stderr()


# ---------------------------------------------------------------- rules, without a host


def test_queue_options_defaults_copy_the_host():
    options = QueueOptions.from_config(HostConfig(raw={}), processor_count=2, environ={})
    assert options.batch_size == 16
    assert options.new_batch_threshold == 16  # (batchSize / 2) * cores
    assert options.max_polling_interval == timedelta(seconds=2)  # Development (Core Tools' default)
    assert options.visibility_timeout == timedelta(0)
    assert options.max_dequeue_count == 5
    assert options.message_encoding == "base64"
    production = QueueOptions.from_config(HostConfig(raw={}), environ={"AZURE_FUNCTIONS_ENVIRONMENT": "Production"})
    assert production.max_polling_interval == timedelta(minutes=1)


def test_queue_options_from_host_json():
    raw = {"extensions": {"queues": {"batchSize": "8", "maxPollingInterval": "00:00:05", "messageEncoding": "None",
                                     "visibilityTimeout": "00:00:30", "maxDequeueCount": 2}}}
    options = QueueOptions.from_config(HostConfig(raw=raw), processor_count=4, environ={})
    assert (options.batch_size, options.new_batch_threshold) == (8, 16)
    assert options.max_polling_interval == timedelta(seconds=5)
    assert options.visibility_timeout == timedelta(seconds=30)
    assert (options.max_dequeue_count, options.message_encoding) == (2, "none")
    for bad in ({"batchSize": 33}, {"batchSize": 0}, {"maxDequeueCount": 0}, {"messageEncoding": "utf8"},
                {"maxPollingInterval": "00:00:00.05"}):
        with pytest.raises(HostConfigError):
            QueueOptions.from_config(HostConfig(raw={"extensions": {"queues": bad}}), environ={})


def test_poison_queue_names():
    assert poison_queue_name("orders") == "orders-poison"
    assert poison_queue_name("orders-poison") is None
    assert poison_queue_name("q" * 57) is None  # 57 + 7 > 63


def test_message_text_encoding():
    assert encode_message("héllo", "base64") == b64("héllo")
    assert decode_message(b64("héllo"), "base64") == "héllo".encode()
    assert decode_message("not base64!", "base64") is None
    assert decode_message("plain", "none") == b"plain"
    assert output_messages(meta.Datum(type="json", value='["a", {"b": 1}]')) == ["a", '{"b": 1}']
    assert output_messages(meta.Datum(type="string", value="x")) == ["x"]


def test_polling_backoff_grows_to_the_maximum_and_resets():
    backoff = Backoff(timedelta(milliseconds=100), timedelta(seconds=2), rng=lambda: 0.5)
    delays = [backoff.next_delay(succeeded=False) for _ in range(8)]
    assert delays == sorted(delays) and delays[-1] == 2.0 and delays[0] > 0.1
    assert backoff.next_delay(succeeded=True) == 0.1


def test_timespan_text_as_dotnet_reads_it():
    assert parse_timespan("00:00:10") == timedelta(seconds=10)
    assert parse_timespan("1.00:00:00") == timedelta(days=1)
    assert parse_timespan("00:01") == timedelta(minutes=1)
    assert parse_timespan("00:00:00.1") == timedelta(milliseconds=100)
    assert parse_timespan("2000") == timedelta(days=2000)  # NB: a bare number is days in .NET
    for bad in ("10s", "24:00:00", "00:60:00", ""):
        with pytest.raises(ValueError):
            parse_timespan(bad)


def test_setting_expressions_and_connection_names():
    env = {"Q": "orders", "AzureWebJobsMyStorage": "UseDevelopmentStorage=true",
           "Other": "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://10.0.0.5"}
    assert resolve_setting_expressions("%Q%-in", env) == "orders-in"
    with pytest.raises(BindingConfigError, match="does not resolve"):
        resolve_setting_expressions("%Missing%", env)
    # `AzureWebJobs<name>` first, then `<name>`, as the WebJobs SDK looks connections up.
    assert storage_for_connection("MyStorage", env).queue_endpoint == "http://127.0.0.1:10001/devstoreaccount1"
    assert storage_for_connection("Other", env).queue_endpoint == "http://10.0.0.5:10001/devstoreaccount1"
    with pytest.raises(BindingConfigError):
        storage_for_connection("Nowhere", env)
