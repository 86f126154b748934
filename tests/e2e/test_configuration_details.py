"""Issue 10, the detail view's data: the create workflow's steps with times, and the operator objects on the
cluster with their state (`GET {configuration}/workflow`, `GET {configuration}/operatorObjects`)."""

from __future__ import annotations

import base64
from datetime import datetime

from tests.api.conftest import configuration_path, make_kubeconfig
from tests.e2e.conftest import Stack
from tests.e2e.test_create_workflow import SEED, installed_event
from tests.fixtures.waiting import wait_for

STEP_NAMES = ["started", "validated", "keyGenerated", "manifestsApplied", "statusReceived", "recorded"]


def detail(stack: Stack, name: str, view: str, cluster: str | None = None) -> dict:
    response = stack.api.request("GET", f"{configuration_path(cluster or stack.cluster, name)}/{view}")
    assert response.status_code == 200, response.text
    return response.json()


def workflow(stack: Stack, name: str, cluster: str | None = None) -> dict:
    return detail(stack, name, "workflow", cluster)


def operator_objects(stack: Stack, name: str, cluster: str | None = None) -> dict:
    return detail(stack, name, "operatorObjects", cluster)


def steps_by_name(view: dict) -> dict[str, dict]:
    assert [step["name"] for step in view["steps"]] == STEP_NAMES
    return {step["name"]: step for step in view["steps"]}


def test_an_https_configuration_shows_each_step_with_its_time_and_the_operator_objects(stack: Stack):
    stack.put("details-https", {**SEED, "operatorInstanceName": "details-flux", "operatorNamespace": "details"})
    instance = stack.instance_id("details-https")
    stack.wait_for_workflow(instance, custom_status="WaitingForStatus")

    waiting = workflow(stack, "details-https")
    assert waiting["instanceId"] == instance and waiting["runtimeStatus"] == "Running"
    steps = steps_by_name(waiting)
    assert [steps[n]["status"] for n in STEP_NAMES] == ["Succeeded", "Succeeded", "Skipped", "Succeeded",
                                                         "InProgress", "NotStarted"]
    assert "not an ssh URL" in steps["keyGenerated"]["detail"]
    assert "objects created or updated" in steps["manifestsApplied"]["detail"]

    stack.raise_status(instance, installed_event())
    stack.wait_for_workflow(instance, done=True)
    done = steps_by_name(workflow(stack, "details-https"))
    assert [done[n]["status"] for n in STEP_NAMES] == ["Succeeded", "Succeeded", "Skipped", "Succeeded",
                                                      "Succeeded", "Succeeded"]
    times = [datetime.fromisoformat(done[n]["time"]) for n in STEP_NAMES if n != "keyGenerated"]
    assert times == sorted(times), times
    assert done["recorded"]["detail"] == "The configuration is Installed."

    objects = operator_objects(stack, "details-https")
    assert objects["cluster"] == {"reachable": True, "message": None}
    found = {(o["kind"], o["namespace"], o["name"]): o for o in objects["value"]}
    assert set(found) >= {("Namespace", None, "details"), ("ServiceAccount", "details", "details-flux"),
                          ("ClusterRoleBinding", None, "details-flux-details"),
                          ("Secret", "details", "flux-git-deploy"), ("Deployment", "details", "details-flux"),
                          ("Deployment", "details", "memcached"), ("Service", "details", "memcached")}
    assert found[("Deployment", "details", "details-flux")]["state"] == "Available"
    assert found[("Deployment", "details", "details-flux")]["detail"] == "1/1 replicas available"
    assert found[("Service", "details", "memcached")]["detail"] == "ClusterIP 11211/TCP"
    assert all(set(o) == {"apiVersion", "kind", "namespace", "name", "state", "detail", "createdAt"}
               for o in objects["value"])  # a Secret's data never leaves the service


def test_an_ssh_configuration_shows_its_key_step(stack: Stack):
    stack.put("details-ssh", {**SEED, "repositoryUrl": "git@github.com:Azure/arc-k8s-demo.git",
                              "operatorInstanceName": "details-ssh", "operatorNamespace": "details-ssh"})
    stack.wait_for_workflow(stack.instance_id("details-ssh"), custom_status="WaitingForStatus")

    key_step = steps_by_name(workflow(stack, "details-ssh"))["keyGenerated"]

    assert key_step["status"] == "Succeeded" and key_step["time"]
    assert "ssh key pair was generated" in key_step["detail"]


def test_a_cluster_that_cannot_be_reached_is_said_so_in_both_views(stack: Stack):
    cluster = stack.cluster.replace("/connectedClusters/e2e-", "/connectedClusters/gone-")
    kubeconfig = make_kubeconfig("token-of-nothing")
    registered = stack.api.request("PUT", cluster, body={"properties": {"kubeconfig": base64.b64encode(
        kubeconfig.encode()).decode()}})
    assert registered.status_code == 201, registered.text
    stack.api.request("PUT", configuration_path(cluster, "unreachable"), body={"properties": SEED})

    objects = operator_objects(stack, "unreachable", cluster)
    assert objects["cluster"]["reachable"] is False and objects["cluster"]["message"]
    assert objects["value"] == []

    def validated() -> dict:
        return steps_by_name(workflow(stack, "unreachable", cluster))["validated"]

    step = wait_for(lambda: validated()["status"] == "Failed" and validated(), timeout=60, what="validation")
    assert step["detail"].startswith("Cluster unreachable:")
    settled = steps_by_name(wait_for(lambda: (view := workflow(stack, "unreachable", cluster))["runtimeStatus"]
                                     == "Completed" and view, timeout=60, what="the workflow's end"))
    assert [settled[n]["status"] for n in STEP_NAMES[2:]] == ["Skipped", "Skipped", "Skipped", "Succeeded"]
    assert settled["keyGenerated"]["detail"] is None
    assert settled["recorded"]["detail"] == "The configuration is Failed."


def test_unknown_configurations_and_names_no_put_accepts_are_not_found(stack: Stack):
    for name in ("never-made", "Bad_Name"):
        for view in ("workflow", "operatorObjects"):
            response = stack.api.request("GET", configuration_path(stack.cluster, name) + f"/{view}")
            assert response.status_code == 404, response.text
            assert response.json()["error"]["code"] == "ResourceNotFound"
