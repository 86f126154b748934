"""Timer-triggered functions for the devhost timer tests. No devhost imports: runs under the real host too.

Every run writes one blob to container `timer-app-records` under `{TIMER_RUN_ID}/{kind}/`, holding what
the function saw (TimerRequest fields), which host ran it (TIMER_HOST_LABEL) and when.
"""

import json
import os
import uuid
from datetime import UTC, datetime

import azure.functions as func
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient

app = func.FunctionApp()
RECORDS_CONTAINER = "timer-app-records"


def record(kind: str, timer: func.TimerRequest) -> None:
    now = datetime.now(UTC)
    data = {
        "past_due": timer.past_due,
        "schedule_status": timer.schedule_status,
        "schedule": timer.schedule,
        "host": os.environ.get("TIMER_HOST_LABEL", "host"),
        "at": now.isoformat(),
        "tick": now.replace(microsecond=0).isoformat(),
    }
    run_id = os.environ.get("TIMER_RUN_ID", "run")
    with BlobServiceClient.from_connection_string(os.environ["AzureWebJobsStorage"]) as service:
        container = service.get_container_client(RECORDS_CONTAINER)
        try:
            container.create_container()
        except ResourceExistsError:
            pass
        container.upload_blob(f"{run_id}/{kind}/{now:%Y%m%dT%H%M%S.%f}-{uuid.uuid4().hex[:8]}", json.dumps(data))


@app.timer_trigger(schedule="00:00:01", arg_name="timer")
def every_second(timer: func.TimerRequest) -> None:
    record("timespan", timer)


@app.timer_trigger(schedule="*/2 * * * * *", arg_name="timer")
def even_seconds(timer: func.TimerRequest) -> None:
    record("cron", timer)


@app.timer_trigger(schedule="%STARTUP_SCHEDULE%", arg_name="timer", run_on_startup=True)
def at_startup(timer: func.TimerRequest) -> None:
    record("startup", timer)


@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer")
def every_five_minutes(timer: func.TimerRequest) -> None:
    record("monitored", timer)
