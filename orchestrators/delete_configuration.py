"""The delete workflow (SPEC section 6): remove the operator objects, retrying with backoff until a deadline,
then start the create of the same name if a PUT re-created it meanwhile.

Deterministic: the deadline arrives in the input as seconds, time comes from the context.
"""

from __future__ import annotations

from datetime import timedelta

import azure.durable_functions as df

from shared.deletion import incomplete_message
from shared.workflows import DELETE_ORCHESTRATOR

bp = df.Blueprint()
MAX_BACKOFF_SECONDS = 30


@bp.orchestration_trigger(context_name="context", orchestration=DELETE_ORCHESTRATOR)
def delete_configuration_workflow(context: df.DurableOrchestrationContext):
    target = context.get_input()
    deadline = context.current_utc_datetime + timedelta(seconds=target["deadlineSeconds"])
    overslept = deadline + timedelta(seconds=target.get("graceSeconds", 0))
    backoff = 1
    while True:
        context.set_custom_status("RemovingOperatorObjects")
        result = yield context.call_activity("remove_operator_objects", target)
        if not result["remaining"]:
            outcome = {**target, "status": "Succeeded"}
            break
        if context.current_utc_datetime >= deadline:
            outcome = {**target, "status": "Failed", "message": incomplete_message(target["deadlineSeconds"], result)}
            break
        wake = min(context.current_utc_datetime + timedelta(seconds=backoff), deadline)
        yield context.create_timer(wake)
        if context.current_utc_datetime > overslept:
            # NB: the host was down past the window: the cleanup timer owns overdue deletions, so one place
            # (shared/deletion.py via cleanup/) gives the verdict instead of two racing for it.
            context.set_custom_status("HandedToCleanupTimer")
            return "HandedToCleanupTimer"
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
    yield context.call_activity("finish_delete_operation", outcome)
    context.set_custom_status("StartingDeferredCreate")
    yield context.call_activity("start_deferred_create", {"clusterKey": target["clusterKey"], "name": target["name"]})
    return outcome["status"]
