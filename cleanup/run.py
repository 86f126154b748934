"""One run of the cleanup timer (SPEC section 6), driven by the pending-work index only.

Each step reads what is pending (shared/pending.py), never the configurations table as a whole:
deletions past their window (plus grace) are finished here and pending ones whose workflow never started
are started; deferred creates whose cleanup ended, and claimed creates whose workflow never started (the
host died in between), are started; creates past their timeout are failed; due workflow histories are
purged. The orphan sweep reads the registered clusters and what carries our label on them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import azure.durable_functions as df

from cleanup.orphans import sweep_orphans
from shared import pending
from shared.configurations import get_configuration_by_keys
from shared.deletion import finish_deletion, incomplete_message, remove_objects_once
from shared.operations import FAILED, IN_PROGRESS, SUCCEEDED, get_operation
from shared.settings import Settings
from shared.timestamps import utc_now
from shared.verdicts import record_verdict
from shared.workflow_starts import (
    ensure_delete_running,
    start_create_workflow,
    start_deferred_create,
    terminate_if_live,
)
from shared.workflows import ConfigurationRef, create_instance_id, delete_instance_id

log = logging.getLogger("gitops.cleanup")
START_GRACE = timedelta(seconds=10)  # a claim younger than this may still be starting its workflow


@dataclass
class CleanupReport:
    overdue_deletes: int = 0
    delete_workflows_started: int = 0
    deferred_creates_started: int = 0
    create_workflows_started: int = 0
    stuck_creates_failed: int = 0
    orphaned_configurations: int = 0
    histories_purged: int = 0
    errors: int = 0
    seconds: float = 0.0

    def fields(self) -> str:
        return " ".join(f"{key}={value:.3f}" if isinstance(value, float) else f"{key}={value}"
                        for key, value in asdict(self).items())


async def run_cleanup(client: df.DurableOrchestrationClient) -> CleanupReport:
    started = time.perf_counter()
    settings = Settings.from_environment()
    report = CleanupReport()
    now = utc_now()
    for entry in await asyncio.to_thread(pending.pending_deletes):
        if datetime.fromisoformat(entry.due_at) + settings.cleanup_grace < now:
            report.overdue_deletes += await attempt(report, finish_overdue_delete(client, entry))
        else:
            report.delete_workflows_started += await attempt(report, ensure_delete_running(client, entry))
    for create in await asyncio.to_thread(pending.pending_creates):
        if create.state == pending.DEFERRED:
            report.deferred_creates_started += await attempt(
                report, start_deferred_create(client, create.cluster_key, create.name))
        elif create.due_at and datetime.fromisoformat(create.due_at) < now:
            report.stuck_creates_failed += await attempt(report, fail_stuck_create(client, create, settings))
        elif create.due_at and claimed_at(create, settings) < now - START_GRACE:
            report.create_workflows_started += await attempt(report, ensure_create_running(client, create))
    report.orphaned_configurations = await attempt(report, asyncio.to_thread(sweep_orphans))
    for row_key, instance_id in await asyncio.to_thread(pending.due_purges, now):
        report.histories_purged += await attempt(report, purge_history(client, row_key, instance_id))
    report.seconds = time.perf_counter() - started
    return report


async def attempt(report: CleanupReport, work) -> int:
    """Run one piece of work; a failure is counted and logged, and the run goes on (the next run retries)."""
    try:
        return int(await work)
    except Exception:
        report.errors += 1
        log.exception("cleanup step failed")
        return 0


async def finish_overdue_delete(client: df.DurableOrchestrationClient, entry: pending.PendingDelete) -> bool:
    """A deletion past its window whose workflow died or overslept: one last pass, then its verdict."""
    instance_id = delete_instance_id(entry.operation_id)
    await terminate_if_live(client, instance_id, "overdue: finished by the cleanup timer")
    operation = await asyncio.to_thread(get_operation, entry.operation_id)
    if operation is not None and operation.status == IN_PROGRESS:
        result = await asyncio.to_thread(remove_objects_once, cluster_key=entry.cluster_key,
                                         configuration_hash=entry.configuration_hash,
                                         keep_namespaces=entry.operator_scope == "namespace")
        status = FAILED if result["remaining"] else SUCCEEDED
        message = incomplete_message(entry.window_seconds, result) if status == FAILED else None
        await asyncio.to_thread(finish_deletion, operation_id=entry.operation_id, instance_id=instance_id,
                                status=status, message=message, finished_by="cleanup timer")
    else:
        await asyncio.to_thread(pending.forget_delete, entry.operation_id)
    await start_deferred_create(client, entry.cluster_key, entry.name)
    return True


def claimed_at(entry: pending.PendingCreate, settings: Settings) -> datetime:
    return datetime.fromisoformat(entry.due_at) - settings.status_wait_timeout - settings.cleanup_grace


async def ensure_create_running(client: df.DurableOrchestrationClient, entry: pending.PendingCreate) -> bool:
    """A claimed create whose workflow never started (the host died between the claim and the start)."""
    record = await asyncio.to_thread(get_configuration_by_keys, entry.cluster_key, entry.name)
    if record is None or record.generation != entry.generation:
        return False  # deleted or re-specified: its own path (or the due check) deals with it
    status = await client.get_status(create_instance_id(record.id, record.generation))
    if status is not None and status.runtime_status is not None:
        return False
    log.info("create workflow never started; starting it: configuration=%s generation=%s", record.id,
             record.generation)
    return await start_create_workflow(client, record)


async def fail_stuck_create(client: df.DurableOrchestrationClient, entry: pending.PendingCreate,
                            settings: Settings) -> bool:
    """A create still Pending past its timeout: its workflow died or never started; mark it Failed."""
    record = await asyncio.to_thread(get_configuration_by_keys, entry.cluster_key, entry.name)
    if record is None or record.generation != entry.generation or record.compliance.compliance_state != "Pending":
        await asyncio.to_thread(pending.settle_create, entry.cluster_key, entry.name, entry.generation)
        return False
    await terminate_if_live(client, create_instance_id(record.id, record.generation), "stuck past its timeout")
    ref = ConfigurationRef(record.id, record.cluster_key, record.name, record.generation)
    message = (f"The create workflow did not settle this configuration within {settings.status_wait_timeout} "
               f"(plus {settings.cleanup_grace} grace); the cleanup timer marked it Failed.")
    stored = await asyncio.to_thread(record_verdict, ref, state="Failed", message=message, only_if_pending=True)
    log.info("stuck create failed: configuration=%s generation=%s stored=%s", record.id, record.generation, stored)
    return stored


async def purge_history(client: df.DurableOrchestrationClient, row_key: str, instance_id: str) -> bool:
    try:
        result = await client.purge_instance_history(instance_id)
        purged = bool(getattr(result, "instances_deleted", 0))
    except Exception:  # noqa: BLE001 - already purged, or never in this task hub
        purged = False
    await asyncio.to_thread(pending.forget_purge, row_key)
    return purged
