"""A delete operation's record keeps no sealed secret: none while it runs, and no snapshot once it ends."""

from __future__ import annotations

import uuid

import pytest
from cryptography.fernet import Fernet

from shared.configurations import ComplianceStatus, ConfigurationRecord, SystemData
from shared.operations import (
    FAILED,
    IN_PROGRESS,
    OperationRecord,
    create_operation,
    finish_operation,
    get_operation,
    operation_snapshot,
)
from shared.secrets import SecretBox
from shared.tables import OPERATIONS_TABLE, table


@pytest.fixture()
def storage(storage_connection_string: str, monkeypatch: pytest.MonkeyPatch) -> SecretBox:
    monkeypatch.setenv("AzureWebJobsStorage", storage_connection_string)
    return SecretBox([Fernet.generate_key().decode()])


def deleted_record(box: SecretBox) -> ConfigurationRecord:
    return ConfigurationRecord(
        cluster_id="/subscriptions/s/resourceGroups/g/providers/Microsoft.Kubernetes/connectedClusters/c",
        cluster_key="s|g|microsoft.kubernetes|connectedclusters|c", name="gone",
        properties={"repositoryUrl": "https://example.com/repo"},
        sealed_protected_settings=box.seal({"httpsUser": "dXNlcg==", "httpsKey": "a2V5"}),
        repository_public_key="", provisioning_state="Succeeded", compliance=ComplianceStatus(),
        system_data=SystemData(created_at="2026-01-01T00:00:00Z", last_modified_at="2026-01-01T00:00:00Z"),
        sealed_generated_key=box.seal("-----BEGIN OPENSSH PRIVATE KEY-----"))


def raw_row(operation_id: str) -> dict:
    return dict(table(OPERATIONS_TABLE).get_entity(operation_id, ""))


def test_a_delete_operation_keeps_no_sealed_secret_and_drops_its_snapshot_when_it_ends(storage: SecretBox):
    record = deleted_record(storage)
    entity = record.to_entity()
    sealed = [entity["ProtectedSettings"], entity["GeneratedKey"]]
    operation_id = uuid.uuid4().hex
    create_operation(OperationRecord(operation_id=operation_id, kind="delete", resource_id=record.id,
                                     status=IN_PROGRESS, start_time="2026-01-01T00:00:00Z"), snapshot=entity)

    running = raw_row(operation_id)
    snapshot = operation_snapshot(operation_id)
    assert snapshot is not None and snapshot["RowKey"] == "gone"  # what the resource was is still known
    assert not any(token in str(value) for value in running.values() for token in sealed)
    assert not any(key.startswith(("ProtectedSettings", "GeneratedKey")) for key in snapshot)

    finish_operation(operation_id, status=FAILED, end_time="2026-01-01T00:01:00Z",
                     error={"code": "DeleteIncomplete", "message": "objects remain"})

    ended = raw_row(operation_id)
    assert not any(key.startswith("Snapshot") for key in ended), sorted(ended)
    assert operation_snapshot(operation_id) is None
    outcome = get_operation(operation_id)
    assert outcome.status == FAILED and outcome.error == {"code": "DeleteIncomplete", "message": "objects remain"}
