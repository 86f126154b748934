"""The end of a create: store its verdict on the configuration generation it was for, and drop the create
from the pending index. Used by the create workflow and by the cleanup timer for creates stuck in Pending."""

from __future__ import annotations

import logging
from dataclasses import replace

from shared import pending
from shared.configurations import (
    ComplianceStatus,
    ConfigurationRecord,
    update_configuration_by_keys,
)
from shared.settings import Settings
from shared.timestamps import format_timestamp, utc_now
from shared.workflows import ConfigurationRef, create_instance_id

log = logging.getLogger("gitops.workflow")


def record_verdict(ref: ConfigurationRef, *, state: str, message: str, message_level: str | None = None,
                   last_config_applied: str | None = None, observed_at: str | None = None,
                   only_if_pending: bool = False, claim: str | None = None, recorded: bool = False) -> bool:
    """True when stored; False when the configuration was deleted or re-specified since (or, with
    `only_if_pending`, already settled by a status event).

    `claim`: the ETag of the claim that started the workflow (see shared/pending.py), when known.
    `recorded`: the status handler already stored exactly this verdict on this generation (it raised the
    event to this generation's workflow right after its conditional write), so nothing is read or written."""

    def settle(current: ConfigurationRecord) -> ConfigurationRecord | None:
        if current.generation != ref.generation:
            return None
        if only_if_pending and current.compliance.compliance_state != "Pending":
            return None
        compliance = ComplianceStatus(
            compliance_state=state,
            last_config_applied=last_config_applied or format_timestamp(utc_now()),
            message=message or "",
            message_level=message_level or ("Error" if state == "Failed" else "Information"),
            observed_at=observed_at or current.compliance.observed_at,
        )
        return replace(current, compliance=compliance)

    already = recorded and last_config_applied is not None
    stored = already or update_configuration_by_keys(ref.cluster_key, ref.name, settle) is not None
    pending.settle_create(ref.cluster_key, ref.name, ref.generation, claim=claim)
    retention = Settings.from_environment().history_retention
    pending.note_purge(create_instance_id(ref.configuration_id, ref.generation), due_at=utc_now() + retention)
    log.info("compliance recorded: configuration=%s state=%s stored=%s%s", ref.configuration_id, state, stored,
             " (by the status handler)" if already else "")
    return stored
