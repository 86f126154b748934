"""Issue 7: the devhost is SIGKILLed in the middle of a delete and left down past the delete window; after
the restart the cleanup timer's past-due run finishes the deletion.

The timer here ticks once a minute, so the host keeps its schedule status (a monitored schedule, as the real
host does for schedules of a minute or longer) and knows at start that a run was missed while it was down.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from kubernetes import client as k8s

from shared.workflows import delete_instance_id
from tests.e2e.conftest import DELETE_WINDOW, Stack, exists
from tests.fixtures.waiting import wait_for

GRACE_SECONDS = 2
HOST_SETTINGS = {"CLEANUP_SCHEDULE": "0 * * * * *", "CLEANUP_GRACE": f"00:00:0{GRACE_SECONDS}",
                 # NB: the shortest lock the real host allows, so the restarted host gets the timer sooner
                 "AzureFunctionsJobHost__singleton__listenerLockPeriod": "00:00:15"}
OPERATOR = {"operatorScope": "cluster", "operatorType": "Flux", "repositoryUrl": "https://example.com/org/repo"}


def sleep_until(moment: datetime) -> None:
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


def test_a_delete_interrupted_by_sigkill_is_finished_by_the_past_due_cleanup_run(stack: Stack):
    stack.put("interrupted", {**OPERATOR, "operatorInstanceName": "interrupted-flux",
                              "operatorNamespace": "interrupted"})
    stack.wait_for_workflow(stack.instance_id("interrupted"), custom_status="WaitingForStatus")
    kube = stack.kube()
    core, apps = k8s.CoreV1Api(kube), k8s.AppsV1Api(kube)
    core.patch_namespaced_secret("flux-git-deploy", "interrupted", {"metadata": {"finalizers": ["example.com/hold"]}})
    operation_url = stack.delete("interrupted")
    operation_id = operation_url.split("/operations/")[1].split("?")[0]
    stack.wait_for_workflow(delete_instance_id(operation_id), custom_status="RemovingOperatorObjects")
    wait_for(lambda: not exists(lambda: apps.read_namespaced_deployment("interrupted-flux", "interrupted")),
             timeout=30, what="the first delete pass")  # the Secret stays: its finalizer holds it

    stack.host.kill()
    killed = datetime.now(UTC)
    core.patch_namespaced_secret("flux-git-deploy", "interrupted", {"metadata": {"finalizers": None}})
    window = int(DELETE_WINDOW.rsplit(":", 1)[1])
    next_tick = (killed + timedelta(minutes=1)).replace(second=0, microsecond=0)
    sleep_until(max(killed + timedelta(seconds=window + GRACE_SECONDS + 1), next_tick + timedelta(seconds=1)))
    stack.host.start()

    operation = stack.wait_for_operation(operation_url, timeout=90)

    assert operation["status"] == "Succeeded", operation
    wait_for(lambda: "cleanup run: past_due=True" in stack.log(), timeout=60, what="the past-due run to end")
    assert f"delete finished: operation={operation_id} status=Succeeded by=cleanup timer" in stack.log()
    assert not exists(lambda: core.read_namespaced_secret("flux-git-deploy", "interrupted"))
