"""SPEC section 6, the cleanup timer (issue 7 point 3), end to end on a host whose timer ticks every 2 s:
orphans made by hand are removed (and nothing else), a create whose workflow died is failed, a deletion
whose workflow died is finished, finished workflow history is purged after HISTORY_RETENTION."""

from __future__ import annotations

from kubernetes import client as k8s

from shared.manifests import CONFIGURATION_ID_ANNOTATION, CONFIGURATION_LABEL, configuration_hash
from shared.workflows import delete_instance_id
from tests.api.conftest import configuration_path
from tests.e2e.conftest import Stack, exists
from tests.fixtures.waiting import wait_for

HOST_SETTINGS = {"CLEANUP_SCHEDULE": "*/2 * * * * *", "CLEANUP_GRACE": "00:00:02", "HISTORY_RETENTION": "00:00:03"}
OPERATOR = {"operatorScope": "cluster", "operatorType": "Flux", "repositoryUrl": "https://example.com/org/repo"}


def ours(configuration_id: str, *, label_of: str | None = None, extra_labels: dict | None = None) -> k8s.V1ObjectMeta:
    """Metadata as the service's manifests write it (label = hash of the id, annotation = the id)."""
    labels = {CONFIGURATION_LABEL: configuration_hash(label_of or configuration_id), **(extra_labels or {})}
    return k8s.V1ObjectMeta(labels=labels, annotations={CONFIGURATION_ID_ANNOTATION: configuration_id})


def test_orphans_made_by_hand_are_removed_and_nothing_else(stack: Stack):
    stack.put("alive", {**OPERATOR, "operatorInstanceName": "alive-flux", "operatorNamespace": "alive-ns"})
    stack.wait_for_workflow(stack.instance_id("alive"), custom_status="WaitingForStatus")
    ghost = configuration_path(stack.cluster, "ghost")
    kube = stack.kube()
    core, apps = k8s.CoreV1Api(kube), k8s.AppsV1Api(kube)
    core.create_namespace(k8s.V1Namespace(metadata=ours(ghost).to_dict() | {"name": "ghost-ns"}))

    def meta(name: str, **options) -> dict:
        return ours(ghost, **options).to_dict() | {"name": name, "namespace": "ghost-ns"}

    core.create_namespaced_config_map("ghost-ns", k8s.V1ConfigMap(metadata=meta("ghost-config")))
    core.create_namespaced_service_account("ghost-ns", k8s.V1ServiceAccount(metadata=meta("ghost-flux")))
    selector = k8s.V1LabelSelector(match_labels={"name": "flux"})
    template = k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels={"name": "flux"}), spec=k8s.V1PodSpec(
        containers=[k8s.V1Container(name="flux", image="docker.io/fluxcd/flux:1.16.0")]))
    apps.create_namespaced_deployment("ghost-ns", k8s.V1Deployment(
        metadata=meta("ghost-flux"), spec=k8s.V1DeploymentSpec(selector=selector, template=template)))
    core.create_namespaced_config_map("ghost-ns", k8s.V1ConfigMap(  # label and annotation disagree: not ours
        metadata=meta("lookalike", label_of=configuration_path(stack.cluster, "someone-else"))))
    core.create_namespaced_config_map("ghost-ns", k8s.V1ConfigMap(  # synced from Git: never ours to delete
        metadata=meta("synced", extra_labels={"fluxcd.io/sync-gc-mark": "sha256.x"})))

    wait_for(lambda: not any(exists(read) for read in (
        lambda: core.read_namespaced_config_map("ghost-config", "ghost-ns"),
        lambda: core.read_namespaced_service_account("ghost-flux", "ghost-ns"),
        lambda: apps.read_namespaced_deployment("ghost-flux", "ghost-ns"))), timeout=30, what="orphans removed")

    # NB: the sweep logs after its last deletion: wait for the line rather than read the log at once.
    wait_for(lambda: f"orphans removed: cluster={stack.cluster}" in stack.log(), timeout=10,
             what="the sweep's log line")
    assert core.read_namespace("ghost-ns").status.phase == "Active"
    assert core.read_namespaced_config_map("lookalike", "ghost-ns")
    assert core.read_namespaced_config_map("synced", "ghost-ns")
    assert apps.read_namespaced_deployment("alive-flux", "alive-ns")  # a live configuration's objects stay
    assert core.read_namespaced_secret("flux-git-deploy", "alive-ns")


def test_a_create_whose_workflow_died_is_failed_by_the_timer_and_its_history_purged(stack: Stack):
    stack.put("stranded", {**OPERATOR, "operatorInstanceName": "stranded-flux", "operatorNamespace": "stranded"})
    instance = stack.instance_id("stranded")
    stack.wait_for_workflow(instance, custom_status="WaitingForStatus")
    stack.terminate(instance, "an operator stopped it")
    assert stack.wait_for_workflow(instance, done=True)["runtimeStatus"] == "Terminated"
    assert stack.show("stranded")["properties"]["complianceStatus"]["complianceState"] == "Pending"

    status = wait_for(lambda: (s := stack.show("stranded")["properties"]["complianceStatus"])["complianceState"]
                      == "Failed" and s, timeout=40, what="the stuck create to be failed")

    assert "the cleanup timer marked it Failed" in status["message"]
    assert "0:00:08" in status["message"]  # names the status wait that passed
    assert status["messageLevel"] == "Error"
    wait_for(lambda: stack.workflow(instance) == {}, timeout=30, what="the finished workflow's history purged")


def test_a_deletion_whose_workflow_died_is_finished_by_the_timer(stack: Stack):
    stack.put("abandoned", {**OPERATOR, "operatorInstanceName": "abandoned-flux", "operatorNamespace": "abandoned"})
    stack.wait_for_workflow(stack.instance_id("abandoned"), custom_status="WaitingForStatus")
    core = k8s.CoreV1Api(stack.kube())
    core.patch_namespaced_secret("flux-git-deploy", "abandoned", {"metadata": {"finalizers": ["example.com/hold"]}})
    operation_url = stack.delete("abandoned")
    operation_id = operation_url.split("/operations/")[1].split("?")[0]
    instance = delete_instance_id(operation_id)
    stack.wait_for_workflow(instance, custom_status="RemovingOperatorObjects")
    stack.terminate(instance, "an operator stopped it")
    core.patch_namespaced_secret("flux-git-deploy", "abandoned", {"metadata": {"finalizers": None}})

    operation = stack.wait_for_operation(operation_url, timeout=40)

    assert operation["status"] == "Succeeded", operation
    assert f"delete finished: operation={operation_id} status=Succeeded by=cleanup timer" in stack.log()
    assert not exists(lambda: k8s.AppsV1Api(stack.kube()).read_namespaced_deployment("abandoned-flux", "abandoned"))
    assert not exists(lambda: core.read_namespaced_secret("flux-git-deploy", "abandoned"))
