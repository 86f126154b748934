"""The app's settings, read from the environment (local.settings.json `Values` locally, app settings in Azure).

One place that names every setting and its default, so the API, the workflows and the CLI agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

DEFAULT_CLEANUP_SCHEDULE = "0 */5 * * * *"
DEVELOPMENT_ACCOUNT = "devstoreaccount1"
# NB: the published Azurite/emulator account key; not a secret.
DEVELOPMENT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def storage_connection_string() -> str:
    """`AzureWebJobsStorage`, with `UseDevelopmentStorage=true` spelled out: the SDKs don't know it."""
    value = os.environ.get("AzureWebJobsStorage", "UseDevelopmentStorage=true").strip()
    if value.lower().rstrip(";") != "usedevelopmentstorage=true":
        return value
    endpoints = {"Blob": 10000, "Queue": 10001, "Table": 10002}
    parts = [f"DefaultEndpointsProtocol=http;AccountName={DEVELOPMENT_ACCOUNT};AccountKey={DEVELOPMENT_KEY}"]
    parts += [f"{kind}Endpoint=http://127.0.0.1:{port}/{DEVELOPMENT_ACCOUNT}" for kind, port in endpoints.items()]
    return ";".join(parts) + ";"


def parse_timespan(text: str) -> timedelta:
    """A .NET TimeSpan as app settings write it: `hh:mm:ss`, `d.hh:mm:ss`, optional fraction."""
    days = 0
    body = text.strip()
    if "." in body.split(":")[0]:
        day_text, body = body.split(".", 1)
        days = int(day_text)
    hours, minutes, seconds = body.split(":")
    return timedelta(days=days, hours=int(hours), minutes=int(minutes), seconds=float(seconds))


@dataclass(frozen=True)
class Settings:
    encryption_keys: tuple[str, ...]
    status_queue_name: str
    status_wait_timeout: timedelta
    delete_window: timedelta
    delete_window_failed: timedelta
    cleanup_schedule: str
    cleanup_grace: timedelta  # how long past its deadline a workflow may be late before the timer takes over
    history_retention: timedelta  # finished workflow history older than this is purged
    ssh_key_algorithm: str
    list_page_size: int
    pending_work_table: str

    @classmethod
    def from_environment(cls) -> Settings:
        env = os.environ
        keys = tuple(k.strip() for k in env.get("SECRETS_ENCRYPTION_KEY", "").split(",") if k.strip())
        return cls(
            encryption_keys=keys,
            status_queue_name=env.get("STATUS_QUEUE_NAME", "configuration-status"),
            status_wait_timeout=parse_timespan(env.get("STATUS_WAIT_TIMEOUT", "00:10:00")),
            delete_window=parse_timespan(env.get("DELETE_WINDOW", "00:10:00")),
            delete_window_failed=parse_timespan(env.get("DELETE_WINDOW_FAILED", "01:00:00")),
            cleanup_schedule=env.get("CLEANUP_SCHEDULE", DEFAULT_CLEANUP_SCHEDULE),
            cleanup_grace=parse_timespan(env.get("CLEANUP_GRACE", "00:02:00")),
            history_retention=parse_timespan(env.get("HISTORY_RETENTION", "30.00:00:00")),
            ssh_key_algorithm=env.get("SSH_KEY_ALGORITHM", "rsa-4096"),
            list_page_size=int(env.get("LIST_PAGE_SIZE", "100")),
            pending_work_table=env.get("PENDING_WORK_TABLE", "pendingwork"),
        )
