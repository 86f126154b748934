"""Queue-triggered functions for the devhost queue tests. No devhost imports: runs under the real host too.

Each function reports what it saw: through a queue output binding when it succeeds, and as a blob per
attempt (container `queue-app-records`) when failures have to be counted too, since a failed
invocation's outputs are dropped.
"""

import asyncio
import json
import os
import time

import azure.functions as func
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient

app = func.FunctionApp()
RECORDS_CONTAINER = "queue-app-records"
STORAGE = "AzureWebJobsStorage"


def record(path: str, data: dict) -> None:
    with BlobServiceClient.from_connection_string(os.environ[STORAGE]) as service:
        container = service.get_container_client(RECORDS_CONTAINER)
        try:
            container.create_container()
        except ResourceExistsError:
            pass
        container.upload_blob(path, json.dumps(data), overwrite=True)


def seen(msg: func.QueueMessage) -> dict:
    def when(value):
        return value.isoformat() if value is not None else None

    return {
        "id": msg.id,
        "body": msg.get_body().decode("utf-8"),
        "dequeue_count": msg.dequeue_count,
        "insertion_time": when(msg.insertion_time),
        "expiration_time": when(msg.expiration_time),
        "time_next_visible": when(msg.time_next_visible),
        "pop_receipt": msg.pop_receipt,
        "at": time.time(),
    }


@app.queue_trigger(arg_name="msg", queue_name="%FIELDS_QUEUE%", connection=STORAGE)
@app.queue_output(arg_name="report", queue_name="qapp-fields-seen", connection=STORAGE)
def fields(msg: func.QueueMessage, report: func.Out[str]) -> None:
    report.set(json.dumps(seen(msg)))


@app.queue_trigger(arg_name="msg", queue_name="qapp-always-fails", connection=STORAGE)
def always_fails(msg: func.QueueMessage) -> None:
    record(f"always-fails/{msg.id}/{msg.dequeue_count}", seen(msg))
    raise RuntimeError(f"always failing (attempt {msg.dequeue_count})")


@app.queue_trigger(arg_name="msg", queue_name="qapp-flaky", connection=STORAGE)
@app.queue_output(arg_name="$return", queue_name="qapp-flaky-done", connection=STORAGE)
def flaky(msg: func.QueueMessage) -> str:
    record(f"flaky/{msg.id}/{msg.dequeue_count}", seen(msg))
    if msg.dequeue_count < 3:
        raise RuntimeError(f"failing attempt {msg.dequeue_count}")
    return json.dumps(seen(msg))


_running = 0
_peak = 0


@app.queue_trigger(arg_name="msg", queue_name="qapp-slow", connection=STORAGE)
@app.queue_output(arg_name="report", queue_name="qapp-slow-seen", connection=STORAGE)
async def slow(msg: func.QueueMessage, report: func.Out[str]) -> None:
    global _running, _peak
    _running += 1
    _peak = max(_peak, _running)
    try:
        await asyncio.sleep(0.3)
    finally:
        _running -= 1
    report.set(json.dumps({"body": msg.get_body().decode("utf-8"), "peak": _peak}))
