"""Hostile messages on the status queue end in `<queue>-poison` and change nothing (SPEC section 5).

Why: the queue is written by agents on clusters, outside the API's validation; a message that names a
configuration through traversal, control characters or lookalikes, or is not an event at all, must never
touch a stored configuration or be silently dropped: the poison queue keeps it for a human.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from azure.storage.queue import BinaryBase64EncodePolicy, QueueClient

from tests.api.conftest import ApiClient, configuration_path
from tests.fixtures.devhost_process import DevHost
from tests.fixtures.storage_scan import state_a_request_may_not_change
from tests.fixtures.waiting import wait_for
from tests.reliability.conftest import Cluster

SEED = {"repositoryUrl": "https://github.com/Azure/arc-k8s-demo", "operatorNamespace": "cluster-config"}


@pytest.fixture(scope="module")
def configuration(api: ApiClient, cluster: Cluster) -> str:
    """A configuration whose create workflow has already failed (its cluster is unreachable): it is at rest."""
    path = configuration_path(cluster.path, "status-target")
    assert api.request("PUT", path, body={"properties": SEED}).status_code in (200, 201)
    wait_for(lambda: api.request("GET", path).json()["properties"]["complianceStatus"]["complianceState"]
             == "Failed", timeout=90, what="the create workflow to fail")
    return path


def event(configuration_id, **changes) -> str:
    now = datetime.now(UTC).isoformat()
    return json.dumps({"configurationId": configuration_id, "complianceState": "Installed", "message": "ok",
                       "messageLevel": "Information", "lastConfigApplied": now, "observedAt": now, **changes})


def hostile_messages(path: str) -> dict[str, bytes]:
    cluster_part, name = path.rsplit("/", 1)
    texts = {
        "not-json": "{not json",
        "json-array": "[]",
        "json-string": '"Installed"',
        "deeply-nested": "[" * 20000 + "]" * 20000,  # beyond the parser's recursion limit, within 64 KiB
        "traversal-in-id": event(f"{path}/../../{name}"),
        "encoded-traversal-in-id": event(f"{cluster_part}/..%2F{name}"),
        "nul-in-id": event(f"{path}\u0000"),
        "newline-after-id": event(f"{path}\n"),
        "bidi-override-in-id": event(f"{cluster_part}/\u202e{name}"),
        "lookalike-name-in-id": event(f"{cluster_part}/{name.replace('a', 'а')}"),
        "id-not-a-string": event(12345),
        "state-with-nul": event(path, complianceState="Installed\u0000"),
        "state-lowercase": event(path, complianceState="installed"),
        "observed-at-nonsense": event(path, observedAt="9999-99-99T99:99:99Z"),
        "observed-at-without-zone": event(path, observedAt="2030-01-01T00:00:00"),
        "message-not-a-string": event(path, message={"$ne": None}),
        "unknown-message-level": event(path, messageLevel="Critical"),
    }
    messages = {key: text.encode() for key, text in texts.items()}
    messages["not-utf8"] = b"\xff\xfe{\x00"
    return messages


def poisoned_bodies(poison: QueueClient) -> list[bytes]:
    try:
        return [base64.b64decode(m.content) for m in poison.peek_messages(max_messages=32)]
    except Exception:  # noqa: BLE001 - the poison queue is created with the first poisoned message
        return []


def test_hostile_status_messages_are_poisoned_and_change_nothing(
        app_host: DevHost, status_queue: QueueClient, storage_connection_string: str, cluster: Cluster,
        configuration: str):
    messages = hostile_messages(configuration)
    sender = QueueClient.from_connection_string(storage_connection_string, status_queue.queue_name,
                                                message_encode_policy=BinaryBase64EncodePolicy())
    poison = QueueClient.from_connection_string(storage_connection_string, f"{status_queue.queue_name}-poison")
    before = state_a_request_may_not_change(storage_connection_string, cluster.storage_key)

    for body in messages.values():
        sender.send_message(body)
    wait_for(lambda: len(poisoned_bodies(poison)) >= len(messages), timeout=120,
             what=f"{len(messages)} poisoned messages")

    not_poisoned = [key for key, body in messages.items() if body not in poisoned_bodies(poison)]
    assert not not_poisoned, "not poisoned: " + ", ".join(not_poisoned)
    assert state_a_request_may_not_change(storage_connection_string, cluster.storage_key) == before
