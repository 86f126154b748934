"""The create workflow's steps as a person reads them, from the orchestration's history and custom status.

The history is the Durable management API's display form (`showHistory=true&showHistoryOutput=true`): a
completed activity carries `FunctionName`, `ScheduledTime`, `Timestamp` and `Result`; one still running shows
as `TaskScheduled` with `Name`. Activity results hold no secrets (the workflow carries references only), and
only what a step's detail needs is read from them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from shared.workflows import LIVE_RUNTIME_STATUSES, STATUS_EVENT

SUCCEEDED, FAILED, IN_PROGRESS, NOT_STARTED, SKIPPED = "Succeeded", "Failed", "InProgress", "NotStarted", "Skipped"

STEP_TITLES = {
    "started": "Workflow started",
    "validated": "Cluster validated",
    "keyGenerated": "Deploy key generated",
    "manifestsApplied": "Operator manifests applied",
    "statusReceived": "Status received from the cluster",
    "recorded": "Compliance recorded",
}
ACTIVITY_STEPS = {"check_cluster_reachable": "validated", "ensure_deploy_key": "keyGenerated",
                  "apply_operator_manifests": "manifestsApplied", "record_compliance": "recorded"}
CUSTOM_STATUS_STEPS = {"CheckingCluster": "validated", "PreparingKeys": "keyGenerated",
                       "ApplyingOperator": "manifestsApplied", "WaitingForStatus": "statusReceived"}
MAX_DETAIL = 500


@dataclass
class Step:
    name: str
    title: str
    status: str = NOT_STARTED
    time: str | None = None
    detail: str | None = None

    def finish(self, status: str, time: str | None, detail: str | None = None) -> None:
        self.status, self.time, self.detail = status, time, (detail or None) and str(detail)[:MAX_DETAIL]


def workflow_steps(*, history: list[dict[str, Any]], runtime_status: str | None,
                   custom_status: Any) -> list[dict[str, Any]]:
    """Every step in order, each Succeeded/Failed (with its time), InProgress, NotStarted or Skipped."""
    steps = {name: Step(name, title) for name, title in STEP_TITLES.items()}
    for event in history:
        read_event(event, steps)
    running = runtime_status in LIVE_RUNTIME_STATUSES
    if running and isinstance(custom_status, str) and custom_status in CUSTOM_STATUS_STEPS:
        current = steps[CUSTOM_STATUS_STEPS[custom_status]]
        if current.status == NOT_STARTED:
            current.status = IN_PROGRESS
    if steps["keyGenerated"].status == NOT_STARTED and steps["manifestsApplied"].status != NOT_STARTED:
        steps["keyGenerated"].finish(SKIPPED, None, "Not needed: the repository URL is not an ssh URL.")
    if not running:
        for step in steps.values():
            if step.status in (NOT_STARTED, IN_PROGRESS):
                step.status = SKIPPED
    return [asdict(step) for step in steps.values()]


def read_event(event: dict[str, Any], steps: dict[str, Step]) -> None:
    kind, time = event.get("EventType"), event.get("Timestamp")
    if kind == "ExecutionStarted":
        steps["started"].finish(SUCCEEDED, time)
    elif kind == "TaskScheduled" and event.get("Name") in ACTIVITY_STEPS:
        step = steps[ACTIVITY_STEPS[event["Name"]]]
        step.status, step.time = IN_PROGRESS, time
    elif kind == "TaskCompleted" and event.get("FunctionName") in ACTIVITY_STEPS:
        read_activity_result(steps[ACTIVITY_STEPS[event["FunctionName"]]], time, event.get("Result"))
    elif kind == "TaskFailed" and event.get("FunctionName") in ACTIVITY_STEPS:
        steps[ACTIVITY_STEPS[event["FunctionName"]]].finish(FAILED, time, event.get("Reason"))
    elif kind == "EventRaised" and event.get("Name") == STATUS_EVENT:
        steps["statusReceived"].finish(SUCCEEDED, time, "The cluster agent reported the operator's state.")
    elif kind == "TimerFired" and steps["manifestsApplied"].status == SUCCEEDED:
        if steps["statusReceived"].status != SUCCEEDED:
            steps["statusReceived"].finish(FAILED, time, "Timed out waiting for the cluster agent's report.")
    elif kind == "ExecutionCompleted" and steps["recorded"].status == SUCCEEDED:
        outcome = event.get("Result")
        if isinstance(outcome, str) and outcome:
            steps["recorded"].detail = f"The configuration is {outcome}."
    elif kind == "ExecutionTerminated":
        steps["recorded"].finish(SKIPPED, time, "The workflow was stopped (the configuration changed or was "
                                                "deleted).")


def read_activity_result(step: Step, time: str | None, result: Any) -> None:
    """A completed activity: Succeeded, or Failed when its result reports a failure the workflow acts on."""
    if step.name == "validated":
        if isinstance(result, dict) and result.get("ok") is False:
            step.finish(FAILED, time, f"Cluster unreachable: {result.get('message')}")
        else:
            version = result.get("version") if isinstance(result, dict) else None
            step.finish(SUCCEEDED, time, f"Kubernetes {version} answered." if version else None)
    elif step.name == "keyGenerated":
        step.finish(SUCCEEDED, time, "An ssh key pair was generated; its public half is the repository's "
                                     "deploy key." if result else "Not needed: a private key was provided.")
    elif step.name == "manifestsApplied":
        if isinstance(result, dict) and result.get("error"):
            step.finish(FAILED, time, str(result["error"]))
        elif isinstance(result, dict) and result.get("stale"):
            step.finish(SKIPPED, time, "A newer change of the configuration took over.")
        else:
            applied = result.get("applied") if isinstance(result, dict) else None
            step.finish(SUCCEEDED, time, f"{len(applied)} objects created or updated." if applied else None)
    else:
        step.finish(SUCCEEDED, time)
