"""The hand-written entity-group transaction against Azurite: what the store relies on from it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from azure.core import MatchConditions
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableServiceClient

from devhost.durable.table_batch import BatchRejected, submit_transaction

REPLACE = {"mode": UpdateMode.REPLACE}


def run(connection: str, scenario) -> object:
    async def main() -> object:
        async with TableServiceClient.from_connection_string(connection) as service:
            name = f"Batch{uuid.uuid4().hex[:12]}"
            await service.create_table(name)
            return await scenario(service.get_table_client(name))

    return asyncio.run(main())


def test_a_transaction_applies_every_operation_and_answers_the_etags(storage_connection_string: str) -> None:
    partition = "it's ünïcode +&=%"  # NB: a quote and characters that need escaping in the key path

    async def scenario(table) -> None:
        await table.create_entity({"PartitionKey": partition, "RowKey": "gone", "Kind": "event"})
        await table.create_entity({"PartitionKey": partition, "RowKey": "row", "Value": "old"})
        current = await table.get_entity(partition, "row")
        now = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)
        results = await submit_transaction(table, [
            ("upsert", {"PartitionKey": partition, "RowKey": "H1", "Events0": "[" + "x" * 30_000 + "]"}, REPLACE),
            ("create", {"PartitionKey": partition, "RowKey": "new", "When": now, "Step": 3, "Flag": True}),
            ("update", {"PartitionKey": partition, "RowKey": "row", "Value": "new"},
             {**REPLACE, "etag": current.metadata["etag"], "match_condition": MatchConditions.IfNotModified}),
            ("delete", {"PartitionKey": partition, "RowKey": "gone"}),
        ])
        assert len(results) == 4
        rows = {e["RowKey"]: e async for e in table.query_entities(f"PartitionKey eq '{partition.replace(chr(39), chr(39) * 2)}'")}
        assert set(rows) == {"H1", "new", "row"}
        assert rows["H1"]["Events0"] == "[" + "x" * 30_000 + "]"
        assert rows["new"]["When"] == now and rows["new"]["Step"] == 3 and rows["new"]["Flag"] is True
        assert rows["row"]["Value"] == "new"
        for index, key in ((0, "H1"), (1, "new"), (2, "row")):
            assert results[index]["etag"] == rows[key].metadata["etag"]

    run(storage_connection_string, scenario)


def test_a_stale_etag_rejects_the_whole_transaction(storage_connection_string: str) -> None:
    async def scenario(table) -> None:
        await table.create_entity({"PartitionKey": "p", "RowKey": "instance", "Step": 1})
        stale = (await table.get_entity("p", "instance")).metadata["etag"]
        await table.update_entity({"PartitionKey": "p", "RowKey": "instance", "Step": 2}, mode=UpdateMode.REPLACE)
        with pytest.raises(BatchRejected) as rejected:
            await submit_transaction(table, [
                ("upsert", {"PartitionKey": "p", "RowKey": "H2"}, REPLACE),
                ("update", {"PartitionKey": "p", "RowKey": "instance", "Step": 3},
                 {**REPLACE, "etag": stale, "match_condition": MatchConditions.IfNotModified}),
            ])
        assert rejected.value.status_code == 412
        assert rejected.value.error_code == "UpdateConditionNotSatisfied"
        keys = [e["RowKey"] async for e in table.query_entities("PartitionKey eq 'p'")]
        assert keys == ["instance"]  # NB: atomic: the upsert before the failing update did not land
        assert (await table.get_entity("p", "instance"))["Step"] == 2

    run(storage_connection_string, scenario)


def test_creating_an_existing_row_is_a_conflict(storage_connection_string: str) -> None:
    async def scenario(table) -> None:
        await table.create_entity({"PartitionKey": "p", "RowKey": "instance"})
        with pytest.raises(BatchRejected) as rejected:
            await submit_transaction(table, [("create", {"PartitionKey": "p", "RowKey": "instance"})])
        assert rejected.value.status_code == 409
        assert rejected.value.error_code == "EntityAlreadyExists"

    run(storage_connection_string, scenario)


def test_deleting_a_missing_row_is_not_found(storage_connection_string: str) -> None:
    async def scenario(table) -> None:
        with pytest.raises(BatchRejected) as rejected:
            await submit_transaction(table, [("delete", {"PartitionKey": "p", "RowKey": "missing"})])
        assert rejected.value.status_code == 404

    run(storage_connection_string, scenario)
