"""Attacks on ownership: a delete must remove only what its configuration made, and a cluster must not be
unregistered under work that still needs it (issue 17 points 3 and 4)."""

from __future__ import annotations

import base64
import uuid

from kubernetes import client as k8s

from shared.manifests import CONFIGURATION_LABEL
from tests.api.conftest import cluster_path, configuration_path
from tests.e2e import conftest as e2e
from tests.e2e.conftest import Stack, exists
from tests.fixtures.waiting import wait_for

# The e2e suite's stack (kubesim over HTTPS, the app on its own task hub), one per module.
kubesim, e2e_host, stack = e2e.kubesim, e2e.e2e_host, e2e.stack

OPERATOR = {"operatorScope": "cluster", "operatorType": "Flux", "repositoryUrl": "https://example.com/org/repo"}


def test_a_namespace_that_existed_before_a_cluster_scope_configuration_survives_its_delete(stack: Stack):
    core, apps = k8s.CoreV1Api(stack.kube()), k8s.AppsV1Api(stack.kube())
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name="production")))
    core.create_namespaced_config_map("production", k8s.V1ConfigMap(
        metadata=k8s.V1ObjectMeta(name="payments"), data={"owner": "another team"}))
    stack.put("prod-ops", {**OPERATOR, "operatorInstanceName": "prod-flux", "operatorNamespace": "production"})
    stack.wait_for_workflow(stack.instance_id("prod-ops"), custom_status="WaitingForStatus")
    assert apps.read_namespaced_deployment("prod-flux", "production")  # the operator was installed there

    operation = stack.wait_for_operation(stack.delete("prod-ops"))

    assert operation["status"] == "Succeeded", operation
    assert not exists(lambda: apps.read_namespaced_deployment("prod-flux", "production"))
    namespace = core.read_namespace("production")
    assert namespace.status.phase == "Active" and namespace.metadata.deletion_timestamp is None
    assert CONFIGURATION_LABEL not in (namespace.metadata.labels or {})
    assert core.read_namespaced_config_map("payments", "production").data == {"owner": "another team"}


def test_a_foreign_secret_of_an_operator_name_is_neither_taken_over_nor_deleted(stack: Stack):
    core = k8s.CoreV1Api(stack.kube())
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name="tenant-b")))
    theirs = {"identity": base64.b64encode(b"tenant b's own deploy key").decode()}
    core.create_namespaced_secret("tenant-b", k8s.V1Secret(metadata=k8s.V1ObjectMeta(name="flux-git-deploy"),
                                                           data=theirs))
    stack.put("hijack", {**OPERATOR, "operatorInstanceName": "hijack", "operatorNamespace": "tenant-b"})

    status = wait_for(lambda: (s := stack.show("hijack")["properties"]["complianceStatus"])["complianceState"]
                      == "Failed" and s, timeout=60, what="the configuration failed")
    assert "Secret/tenant-b/flux-git-deploy exists and is not managed by this configuration" in status["message"]
    secret = core.read_namespaced_secret("flux-git-deploy", "tenant-b")
    assert secret.data == theirs and CONFIGURATION_LABEL not in (secret.metadata.labels or {})

    operation = stack.wait_for_operation(stack.delete("hijack"), timeout=90)
    assert operation["status"] == "Succeeded", operation
    assert core.read_namespaced_secret("flux-git-deploy", "tenant-b").data == theirs


def test_unregistering_a_cluster_with_a_configuration_is_refused_and_force_marks_it_deleted(stack: Stack):
    cluster = cluster_path(f"own-{uuid.uuid4().hex[:8]}")
    stack.api.register_cluster(cluster)
    configuration = configuration_path(cluster, "still-here")
    assert stack.api.request("PUT", configuration, body={"properties": OPERATOR}).status_code == 201

    refused = stack.api.request("DELETE", cluster)
    assert refused.status_code == 409, refused.text
    assert "'still-here'" in refused.json()["error"]["message"]
    assert stack.api.request("GET", cluster).status_code == 200
    assert stack.api.request("GET", configuration).status_code == 200  # nothing changed

    forced = stack.api.request("DELETE", cluster, params={"force": "true"})
    assert forced.status_code == 200, forced.text
    stack.api.register_cluster(cluster)
    assert stack.api.request("GET", configuration).status_code == 404  # marked deleted, not waiting to return


def test_a_deletion_running_when_its_cluster_is_force_unregistered_ends_failed_not_succeeded(stack: Stack):
    cluster = cluster_path(f"own-{uuid.uuid4().hex[:8]}")
    stack.api.register_cluster(cluster)  # unreachable: the deletion cannot finish before its window closes
    configuration = configuration_path(cluster, "being-deleted")
    assert stack.api.request("PUT", configuration, body={"properties": OPERATOR}).status_code == 201
    deleted = stack.api.request("DELETE", configuration)
    assert deleted.status_code == 200, deleted.text
    status_url = deleted.headers["Azure-AsyncOperation"]

    refused = stack.api.request("DELETE", cluster)
    assert refused.status_code == 409, refused.text
    assert "'being-deleted (being deleted)'" in refused.json()["error"]["message"]
    assert stack.operation(status_url)["status"] == "InProgress"

    assert stack.api.request("DELETE", cluster, params={"force": "true"}).status_code == 200
    operation = stack.wait_for_operation(status_url, timeout=60)
    assert operation["status"] == "Failed", operation
    assert "objects may remain" in operation["error"]["message"]
