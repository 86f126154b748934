"""Activities of the durable test app; some keep counters in an Azurite table to make (re)runs visible."""

import os
import time

import azure.durable_functions as df
from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

bp = df.Blueprint()
COUNTER_TABLE = "DurableTestCounters"


def _table() -> TableClient:
    # NB: AzureWebJobsStorage is an explicit connection string in these tests (the SDK does not know
    # UseDevelopmentStorage=true).
    table = TableClient.from_connection_string(os.environ["AzureWebJobsStorage"], COUNTER_TABLE)
    try:
        table.create_table()
    except ResourceExistsError:
        pass
    return table


def increment(partition: str, row: str) -> int:
    """Atomically add one to a counter row (If-Match on the ETag); returns the new count."""
    with _table() as table:
        while True:
            try:
                entity = table.get_entity(partition, row)
            except ResourceNotFoundError:
                try:
                    table.create_entity({"PartitionKey": partition, "RowKey": row, "Count": 1})
                    return 1
                except ResourceExistsError:
                    continue
            entity["Count"] += 1
            try:
                table.update_entity(entity, mode=UpdateMode.REPLACE, etag=entity.metadata["etag"],
                                    match_condition=MatchConditions.IfNotModified)
                return entity["Count"]
            except ResourceModifiedError:
                continue


@bp.activity_trigger(input_name="city")
def hello(city: str) -> str:
    return f"Hello {city}!"


@bp.activity_trigger(input_name="value")
def double(value: int) -> int:
    return value * 2


@bp.activity_trigger(input_name="job")
def flaky(job: dict) -> int:
    """Fails until it has been called more than job["fail"] times for job["key"]; returns the attempt count."""
    attempt = increment("flaky", job["key"])
    if attempt <= job["fail"]:
        raise ValueError(f"flaky failure {attempt} of {job['key']}")
    return attempt


@bp.activity_trigger(input_name="job")
def count_step(job: dict) -> int:
    """One step of the crash test: count this run of the step, then take a little time."""
    increment(job["run"], f"step-{job['step']:03d}")
    time.sleep(0.05)
    return job["step"]
