"""The task hub's state in one Azure table: one partition per instance, written by entity-group transactions.

Table `DevhostDurable{Hub}`, PartitionKey = instance id:

    instance                      the instance row: Name, Status, ExecutionId, Generation, Step, NextEventId,
                                  KnownActions, CreatedTime, LastUpdatedTime, Input*, Output*, CustomStatus*,
                                  Parent{InstanceId,ExecutionId,TaskId}. Its ETag fences every write.
    H{gen:08d}-{step:08d}-{p:03d} one orchestrator episode's events (JSON, split over Events0..EventsN-1 and
                                  over parts p when large); part 0 carries Parts. A row belongs to the
                                  committed history iff gen == Generation, step <= Step and p < Parts.
    I{ns:020d}{rand:08x}          inbox: durable input not yet applied (raised event, terminate, suspend,
                                  resume), in arrival order.

A step commits with ONE transaction in the partition: its history row(s), the instance row (If-Match
ETag: a stale writer fails) and the deletes of the inbox rows it consumed. Rows written by a step that
did not commit are invisible by the rule above and deleted when the partition is next loaded.

Text values are JSON (ASCII, json.dumps) split into 30,000-character properties (`{Name}0..`, count in
`{Name}N`; N = 0 means null), below the 64 KiB property limit; rows stay under the 1 MiB entity limit.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from devhost.durable.metrics import DurableMetrics, counting_hook
from devhost.durable.table_batch import BatchRejected, submit_transaction
from devhost.settings import StorageAccount

log = logging.getLogger("devhost.durable.store")

INSTANCE_ROW = "instance"
TEXT_CHUNK = 30_000  # characters per property (all stored text is ASCII JSON: 60 KB as UTF-16)
PART_CHUNKS = 15  # properties per history row: 450,000 characters, ~900 KB
FINAL_PARTS = 4  # history rows that ride in the commit transaction; more are written just before it
MAX_TRANSACTION_OPS = 100
MAX_INPUT_CHARS = 8 * TEXT_CHUNK  # input / output of an instance (the instance row must stay < 1 MiB)
MAX_CUSTOM_STATUS_CHARS = 16 * 1024  # the real limit for custom status


class StoreError(Exception):
    pass


class StaleInstance(StoreError):
    """The instance row changed (or vanished) since it was read: another writer, or a commit we lost track of."""


class InstanceExists(StoreError):
    pass


class PayloadTooLarge(StoreError, ValueError):
    """A value does not fit the row limits (answered as a bad request by the management API)."""


# ---------------------------------------------------------------- text in properties


def put_text(entity: dict[str, Any], name: str, text: str | None, *, limit: int | None = None) -> None:
    if text is None:
        entity[f"{name}N"] = 0
        return
    if limit is not None and len(text) > limit:
        raise PayloadTooLarge(f"{name} is {len(text)} characters; devhost stores at most {limit}")
    chunks = [text[i:i + TEXT_CHUNK] for i in range(0, len(text), TEXT_CHUNK)] or [""]
    entity[f"{name}N"] = len(chunks)
    for index, chunk in enumerate(chunks):
        entity[f"{name}{index}"] = chunk


def get_text(entity: dict[str, Any], name: str) -> str | None:
    count = entity.get(f"{name}N") or 0
    if not count:
        return None
    return "".join(entity.get(f"{name}{index}") or "" for index in range(int(count)))


# ---------------------------------------------------------------- rows


@dataclass
class InstanceRecord:
    instance_id: str
    name: str
    status: str
    execution_id: str
    generation: int = 1
    step: int = 0
    next_event_id: int = 0
    known_actions: int = 0
    created_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_updated_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    input_text: str | None = None
    output_text: str | None = None
    custom_status_text: str | None = None
    parent_instance_id: str | None = None
    parent_execution_id: str | None = None
    parent_task_id: int | None = None
    etag: str | None = None

    def to_entity(self) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": self.instance_id, "RowKey": INSTANCE_ROW, "Name": self.name, "Status": self.status,
            "ExecutionId": self.execution_id, "Generation": self.generation, "Step": self.step,
            "NextEventId": self.next_event_id, "KnownActions": self.known_actions,
            "CreatedTime": self.created_time, "LastUpdatedTime": self.last_updated_time,
        }
        put_text(entity, "Input", self.input_text, limit=MAX_INPUT_CHARS)
        put_text(entity, "Output", self.output_text, limit=MAX_INPUT_CHARS)
        put_text(entity, "CustomStatus", self.custom_status_text, limit=MAX_CUSTOM_STATUS_CHARS)
        if self.parent_instance_id is not None:
            entity["ParentInstanceId"] = self.parent_instance_id
            entity["ParentExecutionId"] = self.parent_execution_id or ""
            entity["ParentTaskId"] = self.parent_task_id if self.parent_task_id is not None else -1
        return entity

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> InstanceRecord:
        parent_task = entity.get("ParentTaskId")
        return cls(
            instance_id=entity["PartitionKey"], name=entity.get("Name") or "", status=entity.get("Status") or "",
            execution_id=entity.get("ExecutionId") or "", generation=int(entity.get("Generation") or 1),
            step=int(entity.get("Step") or 0), next_event_id=int(entity.get("NextEventId") or 0),
            known_actions=int(entity.get("KnownActions") or 0),
            created_time=_utc(entity.get("CreatedTime")), last_updated_time=_utc(entity.get("LastUpdatedTime")),
            input_text=get_text(entity, "Input"), output_text=get_text(entity, "Output"),
            custom_status_text=get_text(entity, "CustomStatus"),
            parent_instance_id=entity.get("ParentInstanceId"), parent_execution_id=entity.get("ParentExecutionId"),
            parent_task_id=int(parent_task) if parent_task is not None and int(parent_task) >= 0 else None,
            etag=entity.metadata.get("etag") if hasattr(entity, "metadata") else None,
        )

    def copy(self, **changes: Any) -> InstanceRecord:
        return replace(self, **changes)


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


def history_key(generation: int, step: int, part: int) -> str:
    return f"H{generation:08d}-{step:08d}-{part:03d}"


def parse_history_key(row_key: str) -> tuple[int, int, int] | None:
    try:
        return int(row_key[1:9]), int(row_key[10:18]), int(row_key[19:22])
    except ValueError:
        return None


def new_inbox_key() -> str:
    return f"I{time.time_ns():020d}{int.from_bytes(os.urandom(4), 'big'):08x}"


@dataclass(frozen=True)
class InboxItem:
    row_key: str
    kind: str  # "event" | "terminate" | "suspend" | "resume"
    name: str | None = None
    data: str | None = None  # JSON text (event input) or the reason text

    def to_entity(self, instance_id: str) -> dict[str, Any]:
        entity: dict[str, Any] = {"PartitionKey": instance_id, "RowKey": self.row_key, "Kind": self.kind,
                                  "Name": self.name or ""}
        put_text(entity, "Data", self.data, limit=MAX_INPUT_CHARS)
        return entity

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> InboxItem:
        return cls(row_key=entity["RowKey"], kind=entity.get("Kind") or "event", name=entity.get("Name") or None,
                   data=get_text(entity, "Data"))


@dataclass
class PartitionSnapshot:
    instance: InstanceRecord | None
    history: list[dict[str, Any]]  # committed events of the current generation, in order
    history_keys: list[str]
    inbox: list[InboxItem]
    garbage: list[str]  # row keys to delete (uncommitted steps, older generations)


def _split_parts(events_json: str) -> list[list[str]]:
    chunks = [events_json[i:i + TEXT_CHUNK] for i in range(0, len(events_json), TEXT_CHUNK)] or ["[]"]
    return [chunks[i:i + PART_CHUNKS] for i in range(0, len(chunks), PART_CHUNKS)]


def _part_entity(instance_id: str, generation: int, step: int, index: int, chunks: list[str],
                 parts: int) -> dict[str, Any]:
    entity: dict[str, Any] = {"PartitionKey": instance_id, "RowKey": history_key(generation, step, index),
                              "EventsN": len(chunks)}
    for number, chunk in enumerate(chunks):
        entity[f"Events{number}"] = chunk
    if index == 0:
        entity["Parts"] = parts
    return entity


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# ---------------------------------------------------------------- the store


class TaskHubStore:
    def __init__(self, *, storage: StorageAccount, table_name: str, metrics: DurableMetrics) -> None:
        self.table_name = table_name
        self.metrics = metrics
        self._service = TableServiceClient.from_connection_string(
            storage.connection_string, raw_request_hook=counting_hook(metrics, "table"))
        self.table: TableClient = self._service.get_table_client(table_name)

    async def open(self) -> None:
        try:
            await self._service.create_table(self.table_name)
        except ResourceExistsError:
            pass

    async def close(self) -> None:
        await self._service.close()

    # -- reads

    async def read_instance(self, instance_id: str) -> InstanceRecord | None:
        try:
            entity = await self.table.get_entity(instance_id, INSTANCE_ROW)
        except ResourceNotFoundError:
            return None
        return InstanceRecord.from_entity(entity)

    async def load_partition(self, instance_id: str) -> PartitionSnapshot:
        """Everything in one query: the instance row, its committed history and its inbox."""
        instance: InstanceRecord | None = None
        rows: list[dict[str, Any]] = []
        inbox: list[InboxItem] = []
        async for entity in self.table.query_entities(f"PartitionKey eq {_quote(instance_id)}"):
            key = entity["RowKey"]
            if key == INSTANCE_ROW:
                instance = InstanceRecord.from_entity(entity)
            elif key.startswith("H"):
                rows.append(entity)
            elif key.startswith("I"):
                inbox.append(InboxItem.from_entity(entity))
        garbage: list[str] = []
        history: list[dict[str, Any]] = []
        keys: list[str] = []
        if instance is None:
            return PartitionSnapshot(None, [], [], inbox, [row["RowKey"] for row in rows])
        steps: dict[int, dict[int, dict[str, Any]]] = {}
        for row in rows:
            parsed = parse_history_key(row["RowKey"])
            if parsed is None or parsed[0] != instance.generation or parsed[1] > instance.step:
                garbage.append(row["RowKey"])
                continue
            steps.setdefault(parsed[1], {})[parsed[2]] = row
        for step in sorted(steps):
            parts = steps[step]
            count = int(parts.get(0, {}).get("Parts") or 0)
            if not count or any(index not in parts for index in range(count)):
                raise StoreError(f"instance {instance_id!r}: history step {step} is incomplete")
            text = "".join(get_text(parts[index], "Events") or "" for index in range(count))
            history.extend(json.loads(text))
            keys.extend(parts[index]["RowKey"] for index in range(count))
            garbage.extend(row["RowKey"] for index, row in parts.items() if index >= count)
        inbox.sort(key=lambda item: item.row_key)
        return PartitionSnapshot(instance, history, keys, inbox, garbage)

    async def active_instance_ids(self, statuses: Iterable[str]) -> list[str]:
        condition = " or ".join(f"Status eq {_quote(s)}" for s in statuses)
        query = f"RowKey eq '{INSTANCE_ROW}' and ({condition})"
        return [e["PartitionKey"] async for e in self.table.query_entities(query, select=["PartitionKey"])]

    async def finished_children(self, since: datetime, statuses: Iterable[str]) -> list[InstanceRecord]:
        """Instance rows of sub-orchestrations that finished (last update) at or after `since`."""
        condition = " or ".join(f"Status eq {_quote(s)}" for s in statuses)
        query = (f"RowKey eq '{INSTANCE_ROW}' and ({condition}) and "
                 f"LastUpdatedTime ge datetime'{_odata_time(since)}'")
        records = [InstanceRecord.from_entity(e) async for e in self.table.query_entities(query)]
        return [r for r in records if r.parent_instance_id is not None]

    async def query_instances(self, *, statuses: list[str] | None = None, created_from: datetime | None = None,
                              created_to: datetime | None = None, prefix: str | None = None, top: int = 100,
                              continuation: str | None = None) -> tuple[list[InstanceRecord], str | None]:
        """One page of instance rows matching the filters, and the token for the next page."""
        clauses = [f"RowKey eq '{INSTANCE_ROW}'"]
        if statuses:
            clauses.append("(" + " or ".join(f"Status eq {_quote(s)}" for s in statuses) + ")")
        if created_from is not None:
            clauses.append(f"CreatedTime ge datetime'{_odata_time(created_from)}'")
        if created_to is not None:
            clauses.append(f"CreatedTime le datetime'{_odata_time(created_to)}'")
        if prefix:
            upper = prefix + "\uffff"
            clauses.append(f"PartitionKey ge {_quote(prefix)} and PartitionKey lt {_quote(upper)}")
        token = _decode_token(continuation)
        pages = self.table.query_entities(" and ".join(clauses), results_per_page=max(1, min(top, 1000))).by_page(
            continuation_token=token)
        records: list[InstanceRecord] = []
        async for page in pages:
            async for entity in page:
                records.append(InstanceRecord.from_entity(entity))
            break
        return records, _encode_token(pages.continuation_token)

    # -- writes

    async def commit(self, *, record: InstanceRecord, create: bool, events: list[dict[str, Any]] | None,
                     inbox_done: Iterable[str] = ()) -> tuple[str, list[str]]:
        """Write one step atomically; returns the instance row's new ETag and the history row keys written.

        `create`: the instance row must not exist (else InstanceExists). Otherwise the row must still carry
        `record.etag` (else StaleInstance). `events` (None: no history row) become row(s) for `record.step`.
        """
        ops: list[tuple[Any, ...]] = []
        keys: list[str] = []
        if events is not None:
            parts = _split_parts(json.dumps(events))
            entities = [_part_entity(record.instance_id, record.generation, record.step, index, chunks, len(parts))
                        for index, chunks in enumerate(parts)]
            keys = [e["RowKey"] for e in entities]
            extra = entities[FINAL_PARTS:]
            for start in range(0, len(extra), FINAL_PARTS):
                await self._submit([("upsert", e, {"mode": UpdateMode.REPLACE})
                                    for e in extra[start:start + FINAL_PARTS]], record.instance_id)
            ops.extend(("upsert", e, {"mode": UpdateMode.REPLACE}) for e in entities[:FINAL_PARTS])
        entity = record.to_entity()
        index = len(ops)
        if create:
            ops.append(("create", entity))
        else:
            ops.append(("update", entity, {"mode": UpdateMode.REPLACE, "etag": record.etag,
                                           "match_condition": MatchConditions.IfNotModified}))
        ops.extend(("delete", {"PartitionKey": record.instance_id, "RowKey": key}) for key in inbox_done)
        if len(ops) > MAX_TRANSACTION_OPS:
            raise StoreError(f"a step of {record.instance_id!r} needs {len(ops)} operations")
        results = await self._submit(ops, record.instance_id, create=create)
        return results[index]["etag"], keys

    async def _submit(self, ops: list[tuple[Any, ...]], instance_id: str, *, create: bool = False) -> list[Any]:
        try:
            return await submit_transaction(self.table, ops)
        except BatchRejected as exc:
            code = exc.error_code
            if create and ("AlreadyExists" in code or exc.status_code == 409):
                raise InstanceExists(instance_id) from None
            if exc.status_code in (404, 412) or "UpdateConditionNotSatisfied" in code:
                reason = code or exc.status_code
                raise StaleInstance(f"instance {instance_id!r} changed under us ({reason})") from None
            raise

    async def add_inbox(self, instance_id: str, item: InboxItem) -> None:
        await self.table.create_entity(item.to_entity(instance_id))

    async def delete_rows(self, instance_id: str, row_keys: list[str]) -> None:
        """Best-effort batched deletes (garbage collection); missing rows are fine."""
        for start in range(0, len(row_keys), MAX_TRANSACTION_OPS):
            batch = row_keys[start:start + MAX_TRANSACTION_OPS]
            try:
                await self.table.submit_transaction(
                    [("delete", {"PartitionKey": instance_id, "RowKey": key}) for key in batch])
            except (TableTransactionError, HttpResponseError):
                for key in batch:  # NB: one missing row fails the whole batch; fall back to single deletes
                    try:
                        await self.table.delete_entity(instance_id, key)
                    except HttpResponseError:
                        pass

    async def purge(self, instance_id: str) -> bool:
        """Delete the whole partition, the instance row last (a crash half-way leaves a purgeable instance)."""
        keys = [e["RowKey"] async for e in self.table.query_entities(
            f"PartitionKey eq {_quote(instance_id)}", select=["RowKey"])]
        if INSTANCE_ROW not in keys:
            if keys:
                await self.delete_rows(instance_id, keys)
            return False
        await self.delete_rows(instance_id, [k for k in keys if k != INSTANCE_ROW])
        await self.delete_rows(instance_id, [INSTANCE_ROW])
        return True


def _odata_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _encode_token(token: Any) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


def _decode_token(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(text.encode()))
    except ValueError:
        return None

