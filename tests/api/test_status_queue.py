"""The status queue trigger (SPEC section 5) on the devhost: real queue messages through Azurite."""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from tests.api.conftest import ApiClient, cluster_path, configuration_path
from tests.fixtures.devhost_process import DevHost
from tests.fixtures.storage_scan import table_rows
from tests.fixtures.waiting import wait_for

SEED = {"repositoryUrl": "https://github.com/Azure/arc-k8s-demo", "operatorNamespace": "cluster-config"}
QUEUE = "configuration-status"


@pytest.fixture(scope="module")
def status_queue(storage_connection_string: str) -> QueueClient:
    queue = QueueClient.from_connection_string(storage_connection_string, QUEUE,
                                               message_encode_policy=TextBase64EncodePolicy())
    with contextlib.suppress(ResourceExistsError):  # the host may have created it first
        queue.create_queue()
    return queue


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def event(configuration_id: str, state: str, observed: datetime, message: str = "") -> dict:
    return {"configurationId": configuration_id, "complianceState": state, "message": message,
            "messageLevel": "Information" if state == "Installed" else "Error",
            "lastConfigApplied": stamp(observed), "observedAt": stamp(observed),
            "operatorMessage": None, "clusterState": None}


def stored_row(connection_string: str, name: str) -> dict:
    (row,) = [r for r in table_rows(connection_string)["configurations"] if r["RowKey"] == name]
    return row


@pytest.fixture()
def configuration(api: ApiClient) -> tuple[str, str]:
    """A configuration whose create workflow has already failed (its cluster is unreachable)."""
    cluster = cluster_path(f"status-{uuid.uuid4().hex[:8]}")
    api.register_cluster(cluster)
    name = f"cfg-{uuid.uuid4().hex[:6]}"
    path = configuration_path(cluster, name)
    assert api.request("PUT", path, body={"properties": SEED}).status_code == 201
    wait_for(lambda: api.request("GET", path).json()["properties"]["complianceStatus"]["complianceState"]
                      == "Failed")
    return path, name


def compliance(api: ApiClient, path: str) -> dict:
    return api.request("GET", path).json()["properties"]["complianceStatus"]


def test_a_newer_event_is_stored_and_a_stale_or_duplicate_one_changes_nothing(
        api: ApiClient, status_queue: QueueClient, storage_connection_string: str, configuration):
    path, name = configuration
    now = datetime.now(UTC)
    status_queue.send_message(json.dumps(event(path, "Installed", now, "flux is running")))
    wait_for(lambda: compliance(api, path)["complianceState"] == "Installed")
    stored = compliance(api, path)
    assert stored["message"] == "flux is running"
    assert stored["messageLevel"] == "Information"
    assert stored["lastConfigApplied"] == stamp(now)
    row_after_first = stored_row(storage_connection_string, name)

    status_queue.send_message(json.dumps(event(path, "Failed", now - timedelta(minutes=1), "older news")))
    status_queue.send_message(json.dumps(event(path, "Failed", now, "same moment again")))
    status_queue.send_message(json.dumps(event(path.upper().replace("SOURCECONTROLCONFIGURATIONS",
                                                                    "sourceControlConfigurations"),
                                               "Failed", now, "duplicate, other casing")))
    wait_for(lambda: status_queue.get_queue_properties().approximate_message_count == 0)
    time.sleep(1.0)  # NB: let the last dequeued message finish; then nothing may have changed

    assert compliance(api, path) == stored
    assert stored_row(storage_connection_string, name) == row_after_first


def test_an_event_for_an_unknown_or_deleted_configuration_changes_nothing(
        api: ApiClient, status_queue: QueueClient, storage_connection_string: str, configuration):
    path, _ = configuration
    assert api.request("DELETE", path).status_code == 200
    before = table_rows(storage_connection_string)

    status_queue.send_message(json.dumps(event(path, "Installed", datetime.now(UTC))))
    unknown = path.rsplit("/", 1)[0] + "/never-created"
    status_queue.send_message(json.dumps(event(unknown, "Installed", datetime.now(UTC))))
    wait_for(lambda: status_queue.get_queue_properties().approximate_message_count == 0)
    time.sleep(1.0)

    after = table_rows(storage_connection_string)
    assert after["configurations"] == before["configurations"]
    assert api.request("GET", path).status_code == 404


def test_a_malformed_event_changes_nothing_and_is_poisoned_after_exactly_five_attempts(
        api: ApiClient, app_host: DevHost, status_queue: QueueClient, storage_connection_string: str,
        configuration):
    path, name = configuration
    row_before = stored_row(storage_connection_string, name)
    poison = QueueClient.from_connection_string(storage_connection_string, f"{QUEUE}-poison")
    body = json.dumps({"configurationId": path, "complianceState": "Installed", "observedAt": "yesterday"})

    sent = status_queue.send_message(body)

    def poisoned():
        try:
            return [m for m in poison.peek_messages(max_messages=32)
                    if base64.b64decode(m.content).decode() == body]
        except Exception:  # noqa: BLE001 - the poison queue is created with the first poisoned message
            return []

    assert wait_for(poisoned, timeout=60, what="the poisoned message")
    attempts = [line for line in app_host.stderr().splitlines()
                if "configuration_status" in line and sent.id in line and "Failed" in line]
    assert len(attempts) == 5, "\n".join(attempts)
    assert stored_row(storage_connection_string, name) == row_before
