"""The `configuration-status` queue trigger (SPEC section 5): the agent's status events come in here.

A valid event updates the stored complianceStatus (ETag-conditional) and is raised to the waiting create
workflow. Stale, duplicate, unknown-configuration events change nothing and are logged. A malformed
event raises, so the host retries it and, after maxDequeueCount attempts, parks it in the poison queue.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import replace

import azure.durable_functions as df
import azure.functions as func

from shared.configurations import (
    ComplianceStatus,
    ConfigurationRecord,
    get_configuration,
    update_configuration,
)
from shared.status_events import StatusEvent, parse_status_event, parse_timestamp
from shared.workflows import STATUS_EVENT, create_instance_id

CREDENTIAL_PARAMETER = re.compile(r"(?i)\b(code|sig|key|token|password)=[^&\s]+")

bp = df.Blueprint()
log = logging.getLogger("gitops.status")


def is_news(stored: ComplianceStatus, event: StatusEvent) -> bool:
    """Only an event observed after the stored one counts: older ones are stale, equal ones duplicates."""
    if stored.observed_at is None:
        return True
    return event.observed_at > parse_timestamp(stored.observed_at, "stored observedAt")


def same_content(stored: ComplianceStatus, event: StatusEvent) -> bool:
    return (stored.compliance_state, stored.message, stored.message_level) == (
        event.compliance_state, event.message, event.message_level)


def apply_status_event(event: StatusEvent) -> tuple[ConfigurationRecord | None, bool]:
    """Store the event's status: the record to raise it to (None when it is unknown, deleted or stale) and
    whether this call stored it.

    NB: a newer event saying what is already stored (the agent re-sends its states now and then) writes
    nothing but is still raised: a workflow whose first status was lost or delayed gets it this way.
    """
    record = get_configuration(event.cluster, event.name)
    if record is None:
        log.warning("status dropped: configuration=%s reason=unknown-or-deleted", event.configuration_id)
        return None, False
    if is_news(record.compliance, event) and same_content(record.compliance, event):
        log.info("status unchanged: configuration=%s state=%s", record.id, event.compliance_state)
        return record, False

    def take(current: ConfigurationRecord) -> ConfigurationRecord | None:
        if not is_news(current.compliance, event):
            return None
        compliance = ComplianceStatus(
            compliance_state=event.compliance_state,
            last_config_applied=event.last_config_applied or current.compliance.last_config_applied,
            message=event.message, message_level=event.message_level,
            observed_at=event.observed_at.isoformat())
        return replace(current, compliance=compliance)

    updated = update_configuration(record, take)
    if updated is None:
        log.info("status dropped: configuration=%s reason=stale-or-duplicate observedAt=%s",
                 event.configuration_id, event.observed_at.isoformat())
    else:
        log.info("status stored: configuration=%s state=%s", updated.id, event.compliance_state)
    return updated, updated is not None


def raise_failure_reason(error: Exception) -> str:
    """The durable client's own words (it raises a bare Exception saying "... is gone: either completed or
    failed", "No instance ... found"), on one line, with any credential-looking URL parameter masked."""
    text = " ".join(str(error).split())[:300] or type(error).__name__
    return CREDENTIAL_PARAMETER.sub(r"\1=***", text)


def event_payload(event: StatusEvent, record: ConfigurationRecord, stored: bool) -> dict:
    """What the workflow receives. When this handler stored it, it says so, with the lastConfigApplied it
    stored: the workflow's verdict then has nothing left to write (one read and one write fewer per create)."""
    payload = event.to_event_payload()
    if stored:
        payload.update(recorded=True, lastConfigApplied=record.compliance.last_config_applied)
    return payload


@bp.function_name("configuration_status")
@bp.queue_trigger(arg_name="message", queue_name="%STATUS_QUEUE_NAME%", connection="AzureWebJobsStorage")
@bp.durable_client_input(client_name="client")
async def configuration_status(message: func.QueueMessage, client: df.DurableOrchestrationClient) -> None:
    event = parse_status_event(message.get_body().decode("utf-8", errors="replace"))
    record, stored = await asyncio.to_thread(apply_status_event, event)
    if record is None:
        return
    instance_id = create_instance_id(record.id, record.generation)
    try:
        await client.raise_event(instance_id, STATUS_EVENT, event_payload(event, record, stored))
    except Exception as error:  # noqa: BLE001 - no workflow waits (finished or superseded): the store holds it
        log.info("status not raised: configuration=%s instance=%s reason=%s", record.id, instance_id,
                 raise_failure_reason(error))
