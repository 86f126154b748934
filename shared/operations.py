"""Long-running operation records (`/api/operations/{id}`): what a DELETE's Azure-AsyncOperation points the client at.

Table `operations`: PartitionKey = operation id, RowKey "". A delete operation also keeps a snapshot of
the deleted configuration's entity while it runs (what the resource was, after it is gone from the API).
The snapshot never holds the configuration's sealed secrets (a delete needs none of them), and it goes when
the operation ends: a finished record is status, times and error only.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.tables import OPERATIONS_TABLE, get_long_text, put_long_text, table

IN_PROGRESS, SUCCEEDED, FAILED = "InProgress", "Succeeded", "Failed"
SNAPSHOT = "Snapshot"
SECRET_COLUMNS = ("ProtectedSettings", "GeneratedKey")  # the sealed columns of a configuration entity


@dataclass(frozen=True)
class OperationRecord:
    operation_id: str
    kind: str
    resource_id: str
    status: str
    start_time: str
    end_time: str | None = None
    error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": f"/operations/{self.operation_id}",
            "name": self.operation_id,
            "resourceId": self.resource_id,
            "status": self.status,
            "startTime": self.start_time,
            "endTime": self.end_time,
        }
        if self.error is not None:
            body["error"] = self.error
        return body


def new_operation_id() -> str:
    return str(uuid.uuid4())


def create_operation(record: OperationRecord, *, snapshot: dict[str, Any] | None = None) -> None:
    entity: dict[str, Any] = {
        "PartitionKey": record.operation_id, "RowKey": "", "Kind": record.kind,
        "ResourceId": record.resource_id, "Status": record.status, "StartTime": record.start_time,
    }
    kept = without_secrets(snapshot) if snapshot is not None else None
    put_long_text(entity, SNAPSHOT, json.dumps(kept) if kept is not None else None)
    table(OPERATIONS_TABLE).upsert_entity(entity)


def without_secrets(entity: dict[str, Any]) -> dict[str, Any]:
    """A configuration entity minus its sealed columns (long-text parts included)."""
    return {k: v for k, v in entity.items() if not _is_column(k, SECRET_COLUMNS)}


def _is_column(key: str, names: tuple[str, ...]) -> bool:
    """`key` is one of `names` or a long-text part of one (`Name_1`, `Name_2`, ...)."""
    base, _, index = key.partition("_")
    return key in names or (base in names and index.isdigit())


def get_operation(operation_id: str) -> OperationRecord | None:
    try:
        entity = table(OPERATIONS_TABLE).get_entity(operation_id, "")
    except ResourceNotFoundError:
        return None
    error = get_long_text(entity, "Error")
    return OperationRecord(operation_id, entity["Kind"], entity["ResourceId"], entity["Status"],
                           entity["StartTime"], entity.get("EndTime"), json.loads(error) if error else None)


def operation_snapshot(operation_id: str) -> dict[str, Any] | None:
    try:
        entity = table(OPERATIONS_TABLE).get_entity(operation_id, "")
    except ResourceNotFoundError:
        return None
    text = get_long_text(entity, SNAPSHOT)
    return json.loads(text) if text else None


def discard_operation(operation_id: str) -> None:
    """Forget an operation that never started (its resource vanished before it could)."""
    table(OPERATIONS_TABLE).delete_entity(operation_id, "")


def finish_operation(operation_id: str, *, status: str, end_time: str, error: dict[str, Any] | None = None) -> None:
    """Mark an operation Succeeded/Failed (idempotent: a finished operation keeps its first outcome) and drop
    its snapshot: nothing reads it once the operation has ended."""
    client = table(OPERATIONS_TABLE)
    try:
        entity = client.get_entity(operation_id, "")
    except ResourceNotFoundError:
        return
    if entity["Status"] != IN_PROGRESS:
        return
    kept = {k: v for k, v in entity.items() if not _is_column(k, (SNAPSHOT,))}
    kept["Status"], kept["EndTime"] = status, end_time
    put_long_text(kept, "Error", json.dumps(error) if error else None)
    # NB: REPLACE, not MERGE: a merge would keep the snapshot's columns
    client.update_entity(kept, mode=UpdateMode.REPLACE)
