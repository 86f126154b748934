"""The index of pending work: what the cleanup timer reads instead of every configuration.

Table `pendingwork` holds only work that is not finished, so reading it costs in proportion to that work:

- PartitionKey `create`, RowKey `{cluster key}|{name}`: a configuration whose create workflow has not
  settled it yet. `State` is `Deferred` (a cleanup of the same name is still running: the create waits for
  it) or `Started` (with `DueAt`, when the workflow should long have settled it). Removed when it settles.
- PartitionKey `delete`, RowKey = the operation id: a deletion whose cluster cleanup has not ended
  (`DueAt` = the end of its window). Removed when its operation is finished.
- PartitionKey `purge`, RowKey `{due time}|{instance id}`: a finished workflow whose history may be
  purged from `DueAt` on; time-ordered keys make "what is due" one range query.

Starting a deferred create is a claim (ETag-conditional `Deferred` -> `Started`), so the PUT and the end
of the cleanup can both try it and exactly one starts the workflow: each side writes its own fact first
(the PUT its entry, the cleanup the removal of its entry) and then reads the other's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.settings import Settings
from shared.tables import table
from shared.timestamps import format_timestamp

CREATE, DELETE, PURGE = "create", "delete", "purge"
DEFERRED, STARTED = "Deferred", "Started"


def index():
    """The index table (setting `PENDING_WORK_TABLE`, so apps sharing a storage account keep theirs apart)."""
    return table(Settings.from_environment().pending_work_table)


def create_key(cluster_key: str, name: str) -> str:
    return f"{cluster_key}|{name}"


@dataclass(frozen=True)
class PendingCreate:
    cluster_key: str
    name: str
    generation: int
    state: str
    due_at: str | None
    etag: str | None = None

    @classmethod
    def from_entity(cls, entity: Any) -> PendingCreate:
        cluster_key, _, name = entity["RowKey"].rpartition("|")
        return cls(cluster_key, name, int(entity["Generation"]), entity["State"], entity.get("DueAt"),
                   entity.metadata.get("etag"))


@dataclass(frozen=True)
class PendingDelete:
    """What finishing a deletion needs when its workflow is gone: all of it references, no secrets."""

    operation_id: str
    configuration_id: str
    cluster_key: str
    name: str
    generation: int
    configuration_hash: str
    operator_scope: str
    window_seconds: float
    due_at: str

    def to_entity(self) -> dict[str, Any]:
        return {"PartitionKey": DELETE, "RowKey": self.operation_id, "ConfigurationId": self.configuration_id,
                "ClusterKey": self.cluster_key, "Name": self.name, "Generation": self.generation,
                "ConfigurationHash": self.configuration_hash, "OperatorScope": self.operator_scope,
                "WindowSeconds": float(self.window_seconds), "DueAt": self.due_at}

    @classmethod
    def from_entity(cls, entity: Any) -> PendingDelete:
        return cls(entity["RowKey"], entity["ConfigurationId"], entity["ClusterKey"], entity["Name"],
                   int(entity["Generation"]), entity["ConfigurationHash"], entity["OperatorScope"],
                   float(entity["WindowSeconds"]), entity["DueAt"])

    def target(self) -> dict[str, Any]:
        """The delete workflow's input (see orchestrators/delete_configuration.py)."""
        return {"operationId": self.operation_id, "configurationId": self.configuration_id,
                "clusterKey": self.cluster_key, "name": self.name, "configurationHash": self.configuration_hash,
                "operatorScope": self.operator_scope, "deadlineSeconds": self.window_seconds}


# ------------------------------------------------------------------ creates

def note_create(cluster_key: str, name: str, generation: int) -> PendingCreate:
    """A PUT stored this generation: its create is pending (deferred until someone claims it).

    Returns the noted entry with its ETag, so the PUT can claim it without reading it back."""
    metadata = index().upsert_entity({"PartitionKey": CREATE, "RowKey": create_key(cluster_key, name),
                                      "Generation": generation, "State": DEFERRED}, mode=UpdateMode.REPLACE)
    return PendingCreate(cluster_key, name, generation, DEFERRED, None, metadata.get("etag"))


def get_pending_create(cluster_key: str, name: str) -> PendingCreate | None:
    try:
        return PendingCreate.from_entity(index().get_entity(CREATE, create_key(cluster_key, name)))
    except ResourceNotFoundError:
        return None


def claim_create(entry: PendingCreate, *, due_at: datetime) -> str | None:
    """Deferred -> Started, for one caller only: the claim's ETag when this caller must start the workflow."""
    if entry.state != DEFERRED:
        return None
    entity = {"PartitionKey": CREATE, "RowKey": create_key(entry.cluster_key, entry.name),
              "Generation": entry.generation, "State": STARTED, "DueAt": format_timestamp(due_at)}
    try:
        metadata = index().update_entity(entity, mode=UpdateMode.REPLACE, etag=entry.etag,
                                         match_condition=MatchConditions.IfNotModified)
    except (ResourceModifiedError, ResourceNotFoundError):
        return None
    return metadata.get("etag")


def release_claim(entry: PendingCreate, claim: str) -> None:
    """Started -> Deferred again when the workflow could not be started, so a later try starts it."""
    entity = {"PartitionKey": CREATE, "RowKey": create_key(entry.cluster_key, entry.name),
              "Generation": entry.generation, "State": DEFERRED}
    try:
        index().update_entity(entity, mode=UpdateMode.REPLACE, etag=claim,
                              match_condition=MatchConditions.IfNotModified)
    except (ResourceModifiedError, ResourceNotFoundError):
        pass  # NB: a newer PUT or a settle replaced the entry: nothing of this claim is left to release


def settle_create(cluster_key: str, name: str, generation: int, *, claim: str | None = None) -> None:
    """The create of `generation` has settled (or is void): forget it, unless a newer PUT replaced it.

    With the ETag of the claim that started it, one conditional delete does it: any newer entry has
    another ETag and stays."""
    if claim is not None:
        forget(CREATE, create_key(cluster_key, name), etag=claim)
        return
    entry = get_pending_create(cluster_key, name)
    if entry is None or entry.generation > generation:
        return
    forget(CREATE, create_key(cluster_key, name), etag=entry.etag)


def pending_creates() -> list[PendingCreate]:
    query = index().query_entities("PartitionKey eq @pk", parameters={"pk": CREATE})
    return [PendingCreate.from_entity(entity) for entity in query]


# ------------------------------------------------------------------ deletes

def note_delete(entry: PendingDelete) -> None:
    index().upsert_entity(entry.to_entity(), mode=UpdateMode.REPLACE)


def get_pending_delete(operation_id: str) -> PendingDelete | None:
    try:
        return PendingDelete.from_entity(index().get_entity(DELETE, operation_id))
    except ResourceNotFoundError:
        return None


def deletes_of(cluster_key: str, name: str) -> list[PendingDelete]:
    """The cleanups still running for this configuration name (usually none, at most a few)."""
    query = index().query_entities(
        "PartitionKey eq @pk and ClusterKey eq @cluster and Name eq @name",
        parameters={"pk": DELETE, "cluster": cluster_key, "name": name})
    return [PendingDelete.from_entity(entity) for entity in query]


def deletes_on(cluster_key: str) -> list[PendingDelete]:
    """The cleanups still running on this cluster."""
    query = index().query_entities("PartitionKey eq @pk and ClusterKey eq @cluster",
                                   parameters={"pk": DELETE, "cluster": cluster_key})
    return [PendingDelete.from_entity(entity) for entity in query]


def pending_deletes() -> list[PendingDelete]:
    query = index().query_entities("PartitionKey eq @pk", parameters={"pk": DELETE})
    return [PendingDelete.from_entity(entity) for entity in query]


def forget_delete(operation_id: str) -> None:
    forget(DELETE, operation_id)


# ------------------------------------------------------------------ history purges

def note_purge(instance_id: str, *, due_at: datetime) -> None:
    index().upsert_entity({"PartitionKey": PURGE, "RowKey": f"{format_timestamp(due_at)}|{instance_id}",
                                        "InstanceId": instance_id})


def due_purges(now: datetime, *, limit: int = 500) -> list[tuple[str, str]]:
    """`(row key, instance id)` of histories due for purging, oldest first, at most `limit`."""
    query = index().query_entities(
        "PartitionKey eq @pk and RowKey lt @now", parameters={"pk": PURGE, "now": format_timestamp(now)},
        results_per_page=limit)
    found = []
    for entity in query:
        found.append((entity["RowKey"], entity["InstanceId"]))
        if len(found) >= limit:
            break
    return found


def forget_purge(row_key: str) -> None:
    forget(PURGE, row_key)


def forget(partition: str, row_key: str, *, etag: str | None = None) -> None:
    try:
        if etag is None:
            index().delete_entity(partition, row_key)
        else:
            index().delete_entity(partition, row_key, etag=etag,
                                               match_condition=MatchConditions.IfNotModified)
    except (ResourceNotFoundError, ResourceModifiedError, ResourceExistsError):
        pass
