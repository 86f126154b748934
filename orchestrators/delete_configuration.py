"""The delete workflow (SPEC section 6): remove the operator objects, retrying with backoff until a deadline.

Deterministic: the deadline arrives in the input as seconds, time comes from the context.
"""

from __future__ import annotations

from datetime import timedelta

import azure.durable_functions as df

from shared.workflows import DELETE_ORCHESTRATOR

bp = df.Blueprint()
MAX_BACKOFF_SECONDS = 30


@bp.orchestration_trigger(context_name="context", orchestration=DELETE_ORCHESTRATOR)
def delete_configuration_workflow(context: df.DurableOrchestrationContext):
    target = context.get_input()
    deadline = context.current_utc_datetime + timedelta(seconds=target["deadlineSeconds"])
    backoff = 1
    while True:
        context.set_custom_status("RemovingOperatorObjects")
        result = yield context.call_activity("remove_operator_objects", target)
        remaining = result["remaining"]
        if not remaining:
            yield context.call_activity("finish_delete_operation", {**target, "status": "Succeeded"})
            return "Succeeded"
        if context.current_utc_datetime >= deadline:
            reason = f" ({result['error']})" if result.get("error") else ""
            message = (f"Objects still present after the {timedelta(seconds=target['deadlineSeconds'])} delete "
                       f"window{reason}: {', '.join(remaining[:20])}")
            yield context.call_activity("finish_delete_operation", {**target, "status": "Failed", "message": message})
            return "Failed"
        wake = min(context.current_utc_datetime + timedelta(seconds=backoff), deadline)
        yield context.create_timer(wake)
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
