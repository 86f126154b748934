"""Starting and stopping a configuration's workflows, so that at most one of them runs at a time.

The API, the delete workflow's last step and the cleanup timer all start workflows through here. A create
is started only by whoever claims its pending entry (see shared/pending.py): the PUT when no cleanup of the
name is running, otherwise the end of that cleanup.
"""

from __future__ import annotations

import asyncio
import logging

import azure.durable_functions as df

from shared import pending
from shared.configurations import ConfigurationRecord, get_configuration_by_keys
from shared.settings import Settings
from shared.timestamps import utc_now
from shared.validation import repository_url_kind
from shared.workflows import (
    CREATE_ORCHESTRATOR,
    DELETE_ORCHESTRATOR,
    LIVE_RUNTIME_STATUSES,
    ConfigurationRef,
    create_instance_id,
    delete_instance_id,
)

log = logging.getLogger("gitops.workflows")


async def request_create(client: df.DurableOrchestrationClient, record: ConfigurationRecord) -> bool:
    """After a PUT stored `record`: start its create now, or leave it deferred behind a running cleanup."""
    entry = await asyncio.to_thread(pending.note_create, record.cluster_key, record.name, record.generation)
    started = await claim_and_start(client, entry, record)
    if not started:
        log.info("create deferred: configuration=%s generation=%s", record.id, record.generation)
    return started


async def start_deferred_create(client: df.DurableOrchestrationClient, cluster_key: str, name: str) -> bool:
    """Start the deferred create of this name if no cleanup of it is left and nobody started it yet."""

    def find() -> tuple[pending.PendingCreate, ConfigurationRecord] | None:
        entry = pending.get_pending_create(cluster_key, name)
        if entry is None or entry.state != pending.DEFERRED:
            return None
        record = get_configuration_by_keys(cluster_key, name)
        if record is None:
            pending.settle_create(cluster_key, name, entry.generation)  # deleted meanwhile: nothing to create
            return None
        if record.generation != entry.generation:
            return None  # a newer PUT is noting its own entry and will claim it
        return entry, record

    found = await asyncio.to_thread(find)
    return found is not None and await claim_and_start(client, *found)


async def claim_and_start(client: df.DurableOrchestrationClient, entry: pending.PendingCreate,
                          record: ConfigurationRecord) -> bool:
    """Claim the noted create (only when no cleanup of the name is pending) and start its workflow.

    NB: a start that fails (storage or the task hub unavailable) releases the claim, so the next PUT, the
    end of a cleanup or the cleanup timer starts it: an accepted PUT never loses its workflow.
    """

    def claim() -> str | None:
        if pending.deletes_of(entry.cluster_key, entry.name):
            return None
        settings = Settings.from_environment()
        return pending.claim_create(entry, due_at=utc_now() + settings.status_wait_timeout + settings.cleanup_grace)

    etag = await asyncio.to_thread(claim)
    if etag is None:
        return False
    if await start_create_workflow(client, record, claim=etag):
        return True
    await asyncio.to_thread(pending.release_claim, entry, etag)
    return False


async def start_create_workflow(client: df.DurableOrchestrationClient, record: ConfigurationRecord, *,
                                claim: str | None = None) -> bool:
    """Start this generation's create workflow (only references travel, never secrets); False if it failed.

    `claim` is the ETag of the pending entry's claim: the workflow settles the entry with it in one request."""
    settings = Settings.from_environment()
    ref = ConfigurationRef(record.id, record.cluster_key, record.name, record.generation)
    instance_id = create_instance_id(record.id, record.generation)
    start = {"ref": ref.to_json(), "statusWaitSeconds": settings.status_wait_timeout.total_seconds(),
             "operatorInstanceName": record.properties["operatorInstanceName"],
             "operatorNamespace": record.properties["operatorNamespace"],
             "sshUrl": repository_url_kind(record.properties["repositoryUrl"]) == "ssh", "claim": claim}
    try:
        await client.start_new(CREATE_ORCHESTRATOR, instance_id, start)
    except Exception as error:  # noqa: BLE001 - the caller keeps the create pending and retries it
        if "already exists" not in str(error):
            log.warning("create workflow not started: configuration=%s instance=%s reason=%s", record.id,
                        instance_id, str(error)[:300])
            return False
    log.info("create workflow started: configuration=%s instance=%s", record.id, instance_id)
    if record.generation > 1:
        await retire_workflow(client, create_instance_id(record.id, record.generation - 1))
    return True


async def retire_workflow(client: df.DurableOrchestrationClient, instance_id: str,
                          reason: str = "superseded by a newer PUT or a DELETE") -> None:
    """Stop a workflow that no longer counts; best effort.

    NB: a create workflow missed here stands down by itself: its activities check the configuration's
    generation. Its history is scheduled for purging either way.
    """
    await terminate_if_live(client, instance_id, reason)
    retention = Settings.from_environment().history_retention
    await asyncio.to_thread(pending.note_purge, instance_id, due_at=utc_now() + retention)


async def ensure_delete_running(client: df.DurableOrchestrationClient, entry: pending.PendingDelete) -> bool:
    """Start a noted deletion's workflow if it never started (the host died or refused the start)."""
    status = await client.get_status(delete_instance_id(entry.operation_id))
    if status is not None and status.runtime_status is not None:
        return False
    await start_delete_workflow(client, entry)
    return True


async def terminate_if_live(client: df.DurableOrchestrationClient, instance_id: str, reason: str) -> None:
    """Terminate the instance if it runs; best effort (a stale workflow's activities stand down anyway)."""
    try:
        status = await client.get_status(instance_id)
        if status and status.runtime_status and status.runtime_status.value in LIVE_RUNTIME_STATUSES:
            await client.terminate(instance_id, reason)
    except Exception:  # noqa: BLE001 - best effort, see the docstring
        log.warning("workflow not terminated: instance=%s", instance_id)


async def start_delete_workflow(client: df.DurableOrchestrationClient, entry: pending.PendingDelete) -> None:
    """Start the delete workflow of a noted deletion; one that failed to start is started by the cleanup
    timer (or, past its window, finished by it)."""
    grace = Settings.from_environment().cleanup_grace.total_seconds()
    try:
        await client.start_new(DELETE_ORCHESTRATOR, delete_instance_id(entry.operation_id),
                               {**entry.target(), "graceSeconds": grace})
    except Exception as error:  # noqa: BLE001 - the pending entry stays: the cleanup timer starts it
        log.warning("delete workflow not started: configuration=%s operation=%s reason=%s",
                    entry.configuration_id, entry.operation_id, str(error)[:300])
        return
    log.info("delete workflow started: configuration=%s operation=%s window=%ss", entry.configuration_id,
             entry.operation_id, entry.window_seconds)
