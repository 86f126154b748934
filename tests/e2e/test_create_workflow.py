"""SPEC section 4 end to end: PUT over HTTP on the devhost, operator objects on kubesim over HTTPS."""

from __future__ import annotations

import time

from cryptography.hazmat.primitives import serialization
from kubernetes import client as k8s

from tests.api.conftest import SENT_SECRETS
from tests.e2e.conftest import Stack, public_half, secret_identity

SEED = {"repositoryUrl": "https://github.com/Azure/arc-k8s-demo", "operatorInstanceName": "cluster-config",
        "operatorNamespace": "cluster-config", "operatorScope": "cluster", "operatorType": "Flux"}


def installed_event(message: str = "flux deployed") -> dict:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"complianceState": "Installed", "message": message, "messageLevel": "Information",
            "lastConfigApplied": now, "observedAt": now}


def test_seed_cluster_scope_creates_every_operator_object_then_installs(stack: Stack):
    stack.put("cluster-config", SEED)
    instance = stack.instance_id("cluster-config")
    stack.wait_for_workflow(instance, custom_status="WaitingForStatus")

    kube = stack.kube()
    core, apps, rbac = k8s.CoreV1Api(kube), k8s.AppsV1Api(kube), k8s.RbacAuthorizationV1Api(kube)
    assert core.read_namespace("cluster-config").metadata.name == "cluster-config"
    assert core.read_namespaced_service_account("cluster-config", "cluster-config")
    binding = rbac.read_cluster_role_binding("cluster-config-cluster-config")
    assert binding.role_ref.name == "cluster-admin"
    assert [(s.kind, s.name, s.namespace) for s in binding.subjects] == [
        ("ServiceAccount", "cluster-config", "cluster-config")]
    assert core.read_namespaced_secret("flux-git-deploy", "cluster-config").type == "Opaque"
    flux = apps.read_namespaced_deployment("cluster-config", "cluster-config")
    assert flux.spec.template.spec.containers[0].image == "docker.io/fluxcd/flux:1.16.0"
    assert flux.metadata.labels["instanceName"] == "cluster-config"
    assert flux.metadata.labels["name"] == "flux"
    assert "--git-url=https://github.com/Azure/arc-k8s-demo" in flux.spec.template.spec.containers[0].args
    found = apps.list_namespaced_deployment("cluster-config", label_selector="name=flux").items
    assert [d.metadata.name for d in found] == ["cluster-config"]
    memcached = apps.read_namespaced_deployment("memcached", "cluster-config")
    assert memcached.spec.template.spec.containers[0].image == "memcached:1.5.15"
    assert core.read_namespaced_service("memcached", "cluster-config").spec.ports[0].port == 11211
    assert stack.show("cluster-config")["properties"]["complianceStatus"]["complianceState"] == "Pending"

    stack.raise_status(instance, installed_event())
    assert stack.wait_for_workflow(instance, done=True)["output"] == "Installed"

    status = stack.show("cluster-config")["properties"]["complianceStatus"]
    assert status["complianceState"] == "Installed"
    assert status["messageLevel"] == "Information"
    assert status["lastConfigApplied"] != "0001-01-01T00:00:00"


def test_namespace_scope_creates_a_role_binding_and_no_cluster_binding(stack: Stack):
    stack.put("team-a-config", {**SEED, "operatorInstanceName": "team-a-flux", "operatorNamespace": "team-a",
                                "operatorScope": "namespace"})
    stack.wait_for_workflow(stack.instance_id("team-a-config"), custom_status="WaitingForStatus")

    kube = stack.kube()
    rbac = k8s.RbacAuthorizationV1Api(kube)
    assert rbac.read_namespaced_role("team-a-flux", "team-a")
    assert rbac.read_namespaced_role_binding("team-a-flux", "team-a").role_ref.kind == "Role"
    names = [b.metadata.name for b in rbac.list_cluster_role_binding().items]
    assert not [n for n in names if n.startswith("team-a-flux")]


def test_ssh_url_without_key_gets_one_rsa_4096_key_through_a_kill_and_a_re_put(stack: Stack):
    properties = {**SEED, "repositoryUrl": "git@github.com:Azure/arc-k8s-demo.git",
                  "operatorInstanceName": "ssh-flux", "operatorNamespace": "ssh-ns"}
    stack.put("ssh-config", properties)
    deadline = time.monotonic() + 60
    while not (public_key := stack.show("ssh-config")["properties"]["repositoryPublicKey"]):
        assert time.monotonic() < deadline, "no key was generated"
        time.sleep(0.05)
    stack.host.kill()  # NB: the key is stored; the apply that puts it on the cluster may not have run yet
    stack.host.start()

    stack.wait_for_workflow(stack.instance_id("ssh-config"), custom_status="WaitingForStatus")
    identity = secret_identity(stack, "ssh-ns")
    SENT_SECRETS.append(identity.decode())
    assert public_key.startswith("ssh-rsa ")
    assert serialization.load_ssh_private_key(identity, password=None).key_size == 4096
    assert public_half(identity) == public_key.split(" ")[0] + " " + public_key.split(" ")[1]

    again = stack.put("ssh-config", {**properties, "operatorParams": "--git-branch=main"})
    assert again["properties"]["repositoryPublicKey"] == public_key
    stack.wait_for_workflow(stack.instance_id("ssh-config", generation=2), custom_status="WaitingForStatus")
    assert secret_identity(stack, "ssh-ns") == identity
    flux = k8s.AppsV1Api(stack.kube()).read_namespaced_deployment("ssh-flux", "ssh-ns")
    assert "--git-branch=main" in flux.spec.template.spec.containers[0].args


def test_status_timeout_ends_failed_naming_what_was_awaited(stack: Stack):
    stack.put("silent", {**SEED, "operatorInstanceName": "silent-flux", "operatorNamespace": "silent-ns"})

    assert stack.wait_for_workflow(stack.instance_id("silent"), done=True)["output"] == "Failed"

    status = stack.show("silent")["properties"]["complianceStatus"]
    assert status["complianceState"] == "Failed"
    assert status["messageLevel"] == "Error"
    assert "Timed out" in status["message"]
    assert "'silent-flux'" in status["message"] and "'silent-ns'" in status["message"]


def test_image_fault_and_a_failed_status_end_failed_with_the_reason(stack: Stack):
    stack.kubesim.set_fault("docker.io/fluxcd/flux:*", reason="ImagePullBackOff",
                            message="Back-off pulling image docker.io/fluxcd/flux:1.16.0")
    try:
        stack.put("faulty", {**SEED, "operatorInstanceName": "faulty-flux", "operatorNamespace": "faulty-ns"})
        instance = stack.instance_id("faulty")
        stack.wait_for_workflow(instance, custom_status="WaitingForStatus")
        apps = k8s.AppsV1Api(stack.kube())
        deadline = time.monotonic() + 30
        reasons: list[str] = []
        while "ImagePullBackOff" not in reasons and time.monotonic() < deadline:
            conditions = apps.read_namespaced_deployment("faulty-flux", "faulty-ns").status.conditions or []
            reasons = [c.reason for c in conditions]
            time.sleep(0.2)
        assert "ImagePullBackOff" in reasons

        stack.raise_status(instance, {**installed_event(), "complianceState": "Failed", "messageLevel": "Error",
                                      "message": "flux deployment unavailable: ImagePullBackOff"})
        assert stack.wait_for_workflow(instance, done=True)["output"] == "Failed"
    finally:
        stack.kubesim.clear_faults()

    status = stack.show("faulty")["properties"]["complianceStatus"]
    assert status["complianceState"] == "Failed"
    assert "ImagePullBackOff" in status["message"]
