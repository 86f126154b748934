"""SPEC section 6, the delete workflow, end to end (issue 7 points 1-2): objects removed within the window,
synced objects and namespace-scope namespaces kept, stuck objects named when the window closes, and a
re-create of a name whose cleanup still runs deferred until that cleanup ends."""

from __future__ import annotations

import base64
import time
from datetime import datetime
from pathlib import Path

import pytest
from kubernetes import client as k8s

from shared.kube import list_labelled_objects
from shared.manifests import CONFIGURATION_LABEL, configuration_hash
from stack.demo_repository import GitDaemon, make_demo_repository
from tests.api.conftest import SENT_SECRETS, configuration_path
from tests.e2e.conftest import Stack, assert_seed_objects_synced, exists, public_half, secret_identity
from tests.fixtures.agent_process import AgentProcess
from tests.fixtures.git_servers import SshServer, sshd_available
from tests.fixtures.waiting import wait_for

OPERATOR = {"operatorScope": "cluster", "operatorType": "Flux", "repositoryUrl": "https://example.com/org/repo"}


def test_delete_of_an_installed_configuration_removes_operator_objects_and_keeps_synced_ones(
        stack: Stack, tmp_path: Path, agent: AgentProcess):
    repos = tmp_path / "repos"
    make_demo_repository(repos / "arc-k8s-demo.git")
    with GitDaemon(base_path=repos) as daemon:
        stack.put("doomed", {**OPERATOR, "repositoryUrl": daemon.url("arc-k8s-demo.git"),
                             "operatorInstanceName": "doomed-flux", "operatorNamespace": "cluster-config"})
        wait_for(lambda: stack.show("doomed")["properties"]["complianceStatus"]["complianceState"] == "Installed",
                 timeout=90, what="Installed")
        operation = stack.wait_for_operation(stack.delete("doomed"))

    assert operation["status"] == "Succeeded", operation
    assert operation["endTime"]
    kube = stack.kube()
    core, apps, rbac = k8s.CoreV1Api(kube), k8s.AppsV1Api(kube), k8s.RbacAuthorizationV1Api(kube)
    assert not exists(lambda: apps.read_namespaced_deployment("doomed-flux", "cluster-config"))
    assert not exists(lambda: apps.read_namespaced_deployment("memcached", "cluster-config"))
    assert not exists(lambda: core.read_namespaced_service("memcached", "cluster-config"))
    assert not exists(lambda: core.read_namespaced_service_account("doomed-flux", "cluster-config"))
    assert not exists(lambda: core.read_namespaced_secret("flux-git-deploy", "cluster-config"))
    assert not exists(lambda: rbac.read_cluster_role_binding("doomed-flux-cluster-config"))
    assert_seed_objects_synced(stack)  # the Git repository's objects (cluster-config namespace too) stay


def test_namespace_scope_delete_keeps_the_namespace(stack: Stack):
    stack.put("scoped", {**OPERATOR, "operatorScope": "namespace", "operatorInstanceName": "scoped-flux",
                         "operatorNamespace": "scoped-ns"})
    stack.wait_for_workflow(stack.instance_id("scoped"), custom_status="WaitingForStatus")

    operation = stack.wait_for_operation(stack.delete("scoped"))

    assert operation["status"] == "Succeeded", operation
    core, rbac = k8s.CoreV1Api(stack.kube()), k8s.RbacAuthorizationV1Api(stack.kube())
    assert core.read_namespace("scoped-ns").status.phase == "Active"
    assert not exists(lambda: rbac.read_namespaced_role("scoped-flux", "scoped-ns"))
    status = stack.wait_for_workflow(stack.instance_id("scoped"), done=True)
    assert status["runtimeStatus"] == "Terminated"  # the create that waited for status was cancelled


def test_a_cluster_scope_operator_in_the_default_namespace_is_removed_and_the_namespace_stays(stack: Stack):
    """operatorNamespace defaults to "default", which the API server refuses to delete: the deletion must not
    wait for it (found by the GitOps page's first live run: the operation stayed InProgress to its window)."""
    stack.put("in-default", {**OPERATOR, "operatorInstanceName": "in-default-flux"})
    stack.wait_for_workflow(stack.instance_id("in-default"), custom_status="WaitingForStatus")
    apps, core = k8s.AppsV1Api(stack.kube()), k8s.CoreV1Api(stack.kube())
    assert exists(lambda: apps.read_namespaced_deployment("in-default-flux", "default"))

    operation = stack.wait_for_operation(stack.delete("in-default"), timeout=30)

    assert operation["status"] == "Succeeded", operation
    assert not exists(lambda: apps.read_namespaced_deployment("in-default-flux", "default"))
    assert core.read_namespace("default").status.phase == "Active"


def hold_with_a_finalizer(stack: Stack, namespace: str) -> None:
    k8s.CoreV1Api(stack.kube()).patch_namespaced_secret(
        "flux-git-deploy", namespace, {"metadata": {"finalizers": ["example.com/never-cleared"]}})


def test_an_object_that_will_not_go_fails_the_operation_at_the_window_naming_it(stack: Stack):
    stack.put("stuck", {**OPERATOR, "operatorInstanceName": "stuck-flux", "operatorNamespace": "stuck-ns"})
    stack.wait_for_workflow(stack.instance_id("stuck"), custom_status="WaitingForStatus")
    hold_with_a_finalizer(stack, "stuck-ns")

    operation = stack.wait_for_operation(stack.delete("stuck"))

    assert operation["status"] == "Failed", operation
    assert "Secret/stuck-ns/flux-git-deploy" in operation["error"]["message"]
    assert "0:00:05 delete window" in operation["error"]["message"]


def test_a_failed_configuration_gets_the_longer_window(stack: Stack):
    stack.put("failing", {**OPERATOR, "operatorInstanceName": "failing-flux", "operatorNamespace": "failing-ns"})
    instance = stack.instance_id("failing")
    stack.wait_for_workflow(instance, custom_status="WaitingForStatus")
    stack.raise_status(instance, {"complianceState": "Failed", "message": "flux crashed", "messageLevel": "Error",
                                  "observedAt": "2026-01-01T00:00:00+00:00"})
    stack.wait_for_workflow(instance, done=True)
    hold_with_a_finalizer(stack, "failing-ns")

    operation = stack.wait_for_operation(stack.delete("failing"))

    assert operation["status"] == "Failed", operation
    assert "0:00:10 delete window" in operation["error"]["message"]


@pytest.mark.skipif(not sshd_available(), reason="sshd (Debian openssh-server) is not installed or not root")
def test_delete_then_immediate_re_create_waits_for_the_cleanup_and_ends_installed_with_a_fresh_key(
        stack: Stack, tmp_path: Path, agent: AgentProcess):
    repo = tmp_path / "repos" / "arc-k8s-demo.git"
    make_demo_repository(repo)
    authorized = tmp_path / "sshd" / "authorized_keys"
    with SshServer(work_dir=tmp_path / "sshd", authorized_keys=[]) as server:
        spec = {**OPERATOR, "repositoryUrl": server.url(repo), "operatorParams": "--git-poll-interval=1s",
                "operatorInstanceName": "again-flux", "operatorNamespace": "again-ns",
                "sshKnownHostsContents": base64.b64encode(server.known_hosts_line.encode() + b"\n").decode()}
        stack.put("again", spec)
        old_key = wait_for(lambda: stack.show("again")["properties"]["repositoryPublicKey"], timeout=60,
                           what="the first generated key")
        authorized.write_text(old_key + "\n")
        wait_for(lambda: compliance_state(stack, "again") == "Installed", timeout=90, what="first Installed")
        old_objects = operator_object_uids(stack, "again")
        assert len(old_objects) >= 6, old_objects

        operation_url = stack.delete("again")
        answer = stack.put("again", spec)  # at once: the old cleanup is still running
        assert answer["properties"]["complianceStatus"]["complianceState"] == "Pending"
        assert answer["properties"]["repositoryPublicKey"] == ""
        new_instance = stack.instance_id("again", generation=2)
        while (operation := stack.operation(operation_url))["status"] == "InProgress":
            assert stack.workflow(new_instance) == {}, "the create started while the cleanup still ran"
            time.sleep(0.05)
        assert operation["status"] == "Succeeded", operation

        new_key = wait_for(lambda: stack.show("again")["properties"]["repositoryPublicKey"], timeout=60,
                           what="the re-created configuration's key")
        assert new_key != old_key
        authorized.write_text(new_key + "\n")  # only the new key opens the repository now
        wait_for(lambda: compliance_state(stack, "again") == "Installed", timeout=90, what="Installed again")

    created = stack.workflow(new_instance)["createdTime"]
    # NB: createdTime has whole seconds, as the real management API writes it
    assert datetime.fromisoformat(created) >= datetime.fromisoformat(operation["endTime"]).replace(microsecond=0)
    identity = secret_identity(stack, "again-ns")
    SENT_SECRETS.append(identity.decode())
    assert public_half(identity) == " ".join(new_key.split()[:2])
    new_objects = operator_object_uids(stack, "again")
    assert set(new_objects) == set(old_objects)  # the same kinds and names again...
    assert not set(new_objects.values()) & set(old_objects.values())  # ...but every one of them made anew


def operator_object_uids(stack: Stack, name: str) -> dict[str, str]:
    """`{Kind/namespace/name: uid}` of the operator objects labelled as this configuration's."""
    selector = f"{CONFIGURATION_LABEL}={configuration_hash(configuration_path(stack.cluster, name))}"
    return {f"{kind}/{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}": obj["metadata"]["uid"]
            for kind, obj in list_labelled_objects(stack.kube(), selector)}


def compliance_state(stack: Stack, name: str) -> str:
    return stack.show(name)["properties"]["complianceStatus"]["complianceState"]
