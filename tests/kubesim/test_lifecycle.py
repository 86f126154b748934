"""Deletion semantics: finalizers, namespace termination and cascade, garbage collection by owner."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.kubesim.helpers import deployment, eventually


def _gone(read: object, *args: str) -> bool:
    try:
        read(*args)  # type: ignore[operator]
    except ApiException as exc:
        return exc.status == 404
    return False


def test_builtin_namespaces_exist_and_cannot_be_deleted(core: client.CoreV1Api) -> None:
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public"} <= names
    with pytest.raises(ApiException) as refused:
        core.delete_namespace("default")
    assert refused.value.status == 403
    assert json.loads(refused.value.body)["message"] == 'namespaces "default" is forbidden: this namespace may not be deleted'


def test_finalizer_holds_deletion_until_removed(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    core.delete_namespaced_config_map("held", namespace)
    held = core.read_namespaced_config_map("held", namespace)
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.finalizers == ["example.com/hold"]
    core.patch_namespaced_config_map("held", namespace, {"metadata": {"finalizers": None}},
                                     _content_type="application/merge-patch+json")
    assert _gone(core.read_namespaced_config_map, "held", namespace)


def test_namespace_deletion_cascades(core: client.CoreV1Api, apps: client.AppsV1Api) -> None:
    name = "cascade-ns"
    core.create_namespace({"metadata": {"name": name}})
    core.create_namespaced_config_map(name, {"metadata": {"name": "c", "finalizers": ["example.com/hold"]}})
    core.create_namespaced_secret(name, {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
    apps.create_namespaced_deployment(name, deployment("flux"))
    eventually(lambda: core.list_namespaced_pod(name).items)

    core.delete_namespace(name)
    assert core.read_namespace(name).status.phase == "Terminating"
    terminating = eventually(lambda: (ns := core.read_namespace(name)).status.conditions and ns)
    assert terminating.metadata.deletion_timestamp is not None
    assert {c.type for c in terminating.status.conditions} >= {"NamespaceContentRemaining",
                                                              "NamespaceFinalizersRemaining"}
    with pytest.raises(ApiException) as forbidden:
        core.create_namespaced_config_map(name, {"metadata": {"name": "late"}})
    assert forbidden.value.status == 403
    assert json.loads(forbidden.value.body)["reason"] == "Forbidden"
    assert eventually(lambda: [c.metadata.name for c in core.list_namespaced_config_map(name).items] == ["c"])
    assert apps.list_namespaced_deployment(name).items == [] and core.list_namespaced_pod(name).items == []

    core.patch_namespaced_config_map("c", name, {"metadata": {"finalizers": None}})  # SMP: [] would merge
    eventually(lambda: _gone(core.read_namespace, name))
    assert core.list_namespaced_secret(name).items == []


def test_deleting_a_deployment_collects_its_replicasets_and_pods(core: client.CoreV1Api, apps: client.AppsV1Api,
                                                                 namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("flux", replicas=2))
    eventually(lambda: len(core.list_namespaced_pod(namespace).items) == 2)
    rs = apps.list_namespaced_replica_set(namespace).items[0]
    assert rs.metadata.owner_references[0].kind == "Deployment"
    apps.delete_namespaced_deployment("flux", namespace)
    eventually(lambda: not apps.list_namespaced_replica_set(namespace).items
               and not core.list_namespaced_pod(namespace).items)


def test_orphan_and_foreground_propagation(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("orphaned"))
    eventually(lambda: apps.list_namespaced_replica_set(namespace).items)
    apps.delete_namespaced_deployment("orphaned", namespace, propagation_policy="Orphan")
    rs = apps.list_namespaced_replica_set(namespace).items
    assert len(rs) == 1 and not rs[0].metadata.owner_references

    apps.create_namespaced_deployment(namespace, deployment("fg"))
    eventually(lambda: len(apps.list_namespaced_replica_set(namespace).items) == 2)
    apps.delete_namespaced_deployment("fg", namespace, propagation_policy="Foreground")
    eventually(lambda: _gone(apps.read_namespaced_deployment, "fg", namespace))
    assert [r.metadata.name for r in apps.list_namespaced_replica_set(namespace).items] == [rs[0].metadata.name]


def test_delete_preconditions(core: client.CoreV1Api, namespace: str) -> None:
    created = core.create_namespaced_config_map(namespace, {"metadata": {"name": "p"}})
    with pytest.raises(ApiException) as conflict:
        core.delete_namespaced_config_map("p", namespace, body={"preconditions": {"uid": "not-the-uid"}})
    assert conflict.value.status == 409
    core.delete_namespaced_config_map("p", namespace, body={"preconditions": {"uid": created.metadata.uid}})
    assert _gone(core.read_namespaced_config_map, "p", namespace)
