"""Status events the cluster agent sends through the `configuration-status` queue (SPEC section 5).

Parsing is strict: a malformed event raises `MalformedStatusEvent`, which the queue trigger lets
escape so the host retries it and finally parks it in the poison queue, changing nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.errors import ValidationError
from shared.resource_ids import ClusterId, parse_configuration_id
from shared.validation import validate_configuration_name

COMPLIANCE_STATES = ("Pending", "Compliant", "Noncompliant", "Installed", "Failed")
MESSAGE_LEVELS = ("Error", "Warning", "Information")


class MalformedStatusEvent(ValueError):
    """The message is not a status event; retrying cannot help, the poison queue keeps it for a human."""


@dataclass(frozen=True)
class StatusEvent:
    configuration_id: str
    cluster: ClusterId
    name: str
    compliance_state: str
    observed_at: datetime
    message: str
    message_level: str
    last_config_applied: str | None

    def to_event_payload(self) -> dict[str, Any]:
        """What the waiting workflow receives (the same fields, JSON-ready)."""
        return {"complianceState": self.compliance_state, "message": self.message,
                "messageLevel": self.message_level, "lastConfigApplied": self.last_config_applied,
                "observedAt": self.observed_at.isoformat()}


def parse_timestamp(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise MalformedStatusEvent(f"{field} must be an ISO-8601 timestamp")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedStatusEvent(f"{field} is not an ISO-8601 timestamp") from None
    if moment.tzinfo is None:
        raise MalformedStatusEvent(f"{field} must carry a time zone")
    return moment


def parse_status_event(body: str) -> StatusEvent:
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedStatusEvent("the message is not JSON") from None
    if not isinstance(event, dict):
        raise MalformedStatusEvent("the message is not a JSON object")
    configuration_id = event.get("configurationId")
    if not isinstance(configuration_id, str):
        raise MalformedStatusEvent("configurationId is required")
    # NB: isprintable() first: the id patterns end in `$`, which also matches before a final line feed.
    if not configuration_id.isprintable():
        raise MalformedStatusEvent("configurationId contains a control or formatting character")
    try:
        cluster, name = parse_configuration_id(configuration_id)
        validate_configuration_name(name)
    except ValidationError:
        raise MalformedStatusEvent("configurationId is not a source control configuration id") from None
    state = event.get("complianceState")
    if state not in COMPLIANCE_STATES:
        raise MalformedStatusEvent(f"complianceState must be one of {', '.join(COMPLIANCE_STATES)}")
    observed_at = parse_timestamp(event.get("observedAt"), "observedAt")
    last_applied = event.get("lastConfigApplied")
    if last_applied is not None:
        parse_timestamp(last_applied, "lastConfigApplied")
    message = event.get("message")
    if message is not None and not isinstance(message, str):
        raise MalformedStatusEvent("message must be a string")
    level = event.get("messageLevel") or ("Error" if state in ("Failed", "Noncompliant") else "Information")
    if level not in MESSAGE_LEVELS:
        raise MalformedStatusEvent(f"messageLevel must be one of {', '.join(MESSAGE_LEVELS)}")
    return StatusEvent(configuration_id, cluster, name, state, observed_at, message or "", level, last_applied)
