"""The create workflow (SPEC section 4), read top to bottom as the business process.

Deterministic: no I/O, clocks or randomness here; settings arrive in the input, time from the context.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from shared.workflows import CREATE_ORCHESTRATOR, SETTLED_STATES, STATUS_EVENT

bp = df.Blueprint()
APPLY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=2000, max_number_of_attempts=5)


def status_of(event: Any) -> dict[str, Any]:
    """NB: the extension may hand a raised dict over as JSON text (azure-functions-durable-python#295)."""
    if isinstance(event, str):
        try:
            event = json.loads(event)
        except ValueError:
            return {"complianceState": "Failed", "message": f"unreadable status event: {event[:200]}"}
    return event if isinstance(event, dict) else {"complianceState": "Failed", "message": "empty status event"}


@bp.orchestration_trigger(context_name="context", orchestration=CREATE_ORCHESTRATOR)
def create_configuration_workflow(context: df.DurableOrchestrationContext):
    start = context.get_input()
    ref = start["ref"]

    def settle(state: str, message: str, **extra: Any):
        return context.call_activity("record_compliance", {"ref": ref, "state": state, "message": message,
                                                           "claim": start.get("claim"), **extra})

    context.set_custom_status("CheckingCluster")
    reachable = yield context.call_activity("check_cluster_reachable", ref)
    if not reachable["ok"]:
        yield settle("Failed", f"Cluster unreachable: {reachable['message']}")
        return "Failed"

    if start.get("sshUrl", True):  # NB: only an ssh URL may need a generated key (older inputs lack the flag)
        context.set_custom_status("PreparingKeys")
        yield context.call_activity("ensure_deploy_key", ref)

    context.set_custom_status("ApplyingOperator")
    try:
        applied = yield context.call_activity_with_retry("apply_operator_manifests", APPLY_RETRY, ref)
    except Exception:  # noqa: BLE001 - the activity's failure after its retries
        # NB: the failure's text carries the activity's traceback; the host's log has it, the message does not.
        yield settle("Failed", f"Applying the flux operator failed {APPLY_RETRY.max_number_of_attempts} times "
                               "on an unexpected error; the service's log names it.")
        return "Failed"
    if applied.get("stale"):
        return "Superseded"
    if "error" in applied:
        yield settle("Failed", f"Applying the flux operator failed: {applied['error']}")
        return "Failed"

    context.set_custom_status("WaitingForStatus")
    wait = timedelta(seconds=start["statusWaitSeconds"])
    timeout = context.create_timer(context.current_utc_datetime + wait)
    event = context.wait_for_external_event(STATUS_EVENT)
    winner = yield context.task_any([event, timeout])
    if winner is timeout:
        yield settle("Failed", f"Timed out after {wait} waiting for the cluster agent to report the flux operator "
                               f"'{start['operatorInstanceName']}' in namespace '{start['operatorNamespace']}' "
                               "as installed.")
        return "Failed"
    timeout.cancel()
    status = status_of(event.result)
    state = SETTLED_STATES.get(status.get("complianceState"), "Failed")
    yield settle(state, status.get("message") or "", messageLevel=status.get("messageLevel"),
                 lastConfigApplied=status.get("lastConfigApplied"), observedAt=status.get("observedAt"),
                 recorded=status.get("recorded") is True and status.get("complianceState") == state)
    return state
