"""The create workflow's steps from its displayed history: the outcomes the e2e runs cannot easily provoke
(a status timeout, an activity failing after its retries, a superseded run, a stopped workflow)."""

from __future__ import annotations

from shared.kube import KINDS
from shared.operator_objects import KIND_ORDER, deployment_state, described
from shared.workflow_steps import workflow_steps


def completed(name: str, time: str, result: object) -> dict:
    return {"EventType": "TaskCompleted", "FunctionName": name, "ScheduledTime": time, "Timestamp": time,
            "Result": result}


STARTED = {"EventType": "ExecutionStarted", "FunctionName": "create_configuration_workflow",
           "Timestamp": "2026-11-25T10:00:00Z"}
VALIDATED = completed("check_cluster_reachable", "2026-11-25T10:00:01Z", {"ok": True, "version": "v1.29.0"})
APPLIED = completed("apply_operator_manifests", "2026-11-25T10:00:02Z", {"applied": ["Namespace/x"] * 8})


def statuses(steps: list[dict]) -> dict[str, str]:
    return {step["name"]: step["status"] for step in steps}


def test_a_status_timeout_fails_the_status_step_with_the_time_it_fired():
    history = [STARTED, VALIDATED, APPLIED, {"EventType": "TimerFired", "FireAt": "2026-11-25T10:10:02Z",
                                             "Timestamp": "2026-11-25T10:10:02Z"},
               completed("record_compliance", "2026-11-25T10:10:03Z", None),
               {"EventType": "ExecutionCompleted", "OrchestrationStatus": "Completed", "Result": "Failed",
                "Timestamp": "2026-11-25T10:10:03Z"}]

    steps = {s["name"]: s for s in workflow_steps(history=history, runtime_status="Completed", custom_status=None)}

    assert steps["statusReceived"]["status"] == "Failed"
    assert steps["statusReceived"]["time"] == "2026-11-25T10:10:02Z"
    assert "Timed out" in steps["statusReceived"]["detail"]
    assert steps["validated"]["detail"] == "Kubernetes v1.29.0 answered."
    assert steps["manifestsApplied"]["detail"] == "8 objects created or updated."
    assert steps["recorded"]["detail"] == "The configuration is Failed."


def test_an_activity_failing_after_its_retries_fails_its_step_with_the_reason():
    history = [STARTED, VALIDATED,
               {"EventType": "TaskFailed", "FunctionName": "apply_operator_manifests", "Reason": "x" * 900,
                "Timestamp": "2026-11-25T10:00:30Z"}]

    steps = workflow_steps(history=history, runtime_status="Running", custom_status="ApplyingOperator")

    assert statuses(steps) == {"started": "Succeeded", "validated": "Succeeded", "keyGenerated": "Skipped",
                               "manifestsApplied": "Failed", "statusReceived": "NotStarted",
                               "recorded": "NotStarted"}
    assert len(steps[3]["detail"]) == 500


def test_a_running_activity_is_in_progress_from_its_scheduling_time():
    history = [STARTED, VALIDATED, {"EventType": "TaskScheduled", "Name": "ensure_deploy_key",
                                    "Timestamp": "2026-11-25T10:00:01.5Z"}]

    steps = workflow_steps(history=history, runtime_status="Running", custom_status="PreparingKeys")

    assert steps[2] == {"name": "keyGenerated", "title": "Deploy key generated", "status": "InProgress",
                        "time": "2026-11-25T10:00:01.5Z", "detail": None}


def test_a_superseded_or_stopped_workflow_says_why_and_skips_what_it_never_did():
    stale = completed("apply_operator_manifests", "2026-11-25T10:00:02Z", {"stale": True, "applied": []})
    superseded = workflow_steps(history=[STARTED, VALIDATED, stale], runtime_status="Completed", custom_status=None)
    stopped = workflow_steps(history=[STARTED, VALIDATED, {"EventType": "ExecutionTerminated",
                                                           "Timestamp": "2026-11-25T10:00:05Z"}],
                             runtime_status="Terminated", custom_status="ApplyingOperator")

    assert superseded[3]["status"] == "Skipped" and "newer change" in superseded[3]["detail"]
    assert statuses(superseded)["statusReceived"] == "Skipped"
    assert statuses(stopped) == {"started": "Succeeded", "validated": "Succeeded", "keyGenerated": "Skipped",
                                 "manifestsApplied": "Skipped", "statusReceived": "Skipped", "recorded": "Skipped"}
    assert "stopped" in stopped[5]["detail"]


def test_a_deployment_reads_as_kubectl_rollout_status_would():
    def deployment(**status: object) -> tuple[str, str]:
        return deployment_state({"replicas": 1}, status)

    available = {"type": "Available", "status": "True"}
    stuck = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
             "message": "ReplicaSet \"flux\" has timed out progressing."}

    assert deployment(availableReplicas=1, conditions=[available]) == ("Available", "1/1 replicas available")
    assert deployment(conditions=[]) == ("Progressing", "0/1 replicas available")
    assert deployment(conditions=[stuck]) == ("Unavailable",
                                              "0/1 replicas available: ReplicaSet \"flux\" has timed out progressing.")


def test_an_object_being_deleted_is_terminating_and_a_secret_shows_no_data():
    secret = {"metadata": {"name": "flux-git-deploy", "namespace": "ns", "deletionTimestamp": "2026-11-25T10:00:00Z"},
              "data": {"identity": "c2VjcmV0"}}

    shown = described("Secret", secret)

    assert shown == {"apiVersion": "v1", "kind": "Secret", "namespace": "ns", "name": "flux-git-deploy",
                     "state": "Terminating", "detail": None, "createdAt": None}


def test_the_display_order_names_every_kind_the_service_manages():
    """NB: operator_objects sorts by KIND_ORDER.index; a kind missing from it would fail the listing."""
    assert sorted(KIND_ORDER) == sorted(KINDS)
