"""The official Python client through the kubeconfig: CRUD of each kind family, errors, selectors, patches."""

from __future__ import annotations

import base64
import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.fixtures.kubesim_process import KubeSimProcess
from tests.kubesim.helpers import deployment, eventually

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"


def _status(exc: ApiException) -> dict:
    return json.loads(exc.body)


def test_configmap_crud_and_list_shape(core: client.CoreV1Api, api: client.ApiClient, namespace: str) -> None:
    created = core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings", "labels": {"a": "1"}},
                                                            "data": {"k": "v"}})
    meta = created.metadata
    assert meta.uid and meta.creation_timestamp and meta.resource_version and meta.namespace == namespace
    assert core.read_namespaced_config_map("settings", namespace).data == {"k": "v"}
    raw = api.call_api(*api.param_serialize("GET", f"/api/v1/namespaces/{namespace}/configmaps",
                                            header_params={"Accept": "application/json"},
                                            auth_settings=["BearerToken"]))
    listing = json.loads(raw.read())
    assert listing["kind"] == "ConfigMapList" and listing["apiVersion"] == "v1"
    assert int(listing["metadata"]["resourceVersion"]) >= int(meta.resource_version)
    assert sorted(i["metadata"]["name"] for i in listing["items"]) == ["kube-root-ca.crt", "settings"]

    created.data = {"k": "v2"}
    replaced = core.replace_namespaced_config_map("settings", namespace, created)
    assert replaced.data == {"k": "v2"}
    assert int(replaced.metadata.resource_version) > int(meta.resource_version)
    core.delete_namespaced_config_map("settings", namespace)
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("settings", namespace)
    assert missing.value.status == 404
    assert _status(missing.value) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'configmaps "settings" not found', "reason": "NotFound",
        "details": {"name": "settings", "kind": "configmaps"}, "code": 404}


def test_already_exists_and_generate_name(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "dup"}})
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "dup"}})
    assert exists.value.status == 409
    assert _status(exists.value)["reason"] == "AlreadyExists"
    assert _status(exists.value)["message"] == 'configmaps "dup" already exists'
    generated = core.create_namespaced_config_map(namespace, {"metadata": {"generateName": "gen-"}})
    assert generated.metadata.name.startswith("gen-") and len(generated.metadata.name) == len("gen-") + 5


def test_missing_namespace_is_not_found(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as missing:
        core.create_namespaced_config_map("no-such-ns", {"metadata": {"name": "x"}})
    assert missing.value.status == 404
    assert _status(missing.value)["message"] == 'namespaces "no-such-ns" not found'
    assert _status(missing.value)["details"] == {"name": "no-such-ns", "kind": "namespaces"}


def test_stale_resource_version_conflicts(core: client.CoreV1Api, namespace: str) -> None:
    first = core.create_namespaced_config_map(namespace, {"metadata": {"name": "cas"}, "data": {"n": "0"}})
    core.patch_namespaced_config_map("cas", namespace, {"data": {"n": "1"}})
    first.data = {"n": "2"}
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("cas", namespace, first)
    assert conflict.value.status == 409
    body = _status(conflict.value)
    assert body["reason"] == "Conflict"
    assert "the object has been modified; please apply your changes to the latest version" in body["message"]
    assert core.read_namespaced_config_map("cas", namespace).data == {"n": "1"}


def test_invalid_objects_are_422(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as bad_name:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "Bad_Name"}})
    assert bad_name.value.status == 422
    assert _status(bad_name.value)["reason"] == "Invalid"
    with pytest.raises(ApiException) as bad_label:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "x", "labels": {"id": "/subs/a b"}}})
    assert bad_label.value.status == 422
    assert _status(bad_label.value)["details"]["causes"][0]["field"] == "metadata.labels"
    broken = deployment("broken")
    broken["spec"]["selector"] = {"matchLabels": {"other": "x"}}
    with pytest.raises(ApiException) as mismatch:
        apps.create_namespaced_deployment(namespace, broken)
    assert mismatch.value.status == 422
    assert "`selector` does not match template `labels`" in _status(mismatch.value)["message"]


def test_secrets_serviceaccounts_services_events(core: client.CoreV1Api, namespace: str) -> None:
    secret = core.create_namespaced_secret(namespace, {"metadata": {"name": "flux-git-deploy"},
                                                       "stringData": {"identity": "key"}})
    assert secret.type == "Opaque"
    assert base64.b64decode(secret.data["identity"]) == b"key" and not secret.string_data
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "flux"}})
    names = {sa.metadata.name for sa in core.list_namespaced_service_account(namespace).items}
    assert names == {"default", "flux"}
    service = core.create_namespaced_service(namespace, {"metadata": {"name": "memcached"},
                                                         "spec": {"selector": {"name": "memcached"},
                                                                  "ports": [{"port": 11211}]}})
    assert service.spec.cluster_ip.startswith("10.96.")
    assert service.spec.ports[0].target_port == 11211 and service.spec.type == "ClusterIP"
    core.create_namespaced_event(namespace, {"metadata": {"name": "e1"}, "reason": "Tested", "message": "hello",
                                             "involvedObject": {"kind": "Service", "name": "memcached",
                                                                "namespace": namespace}, "type": "Normal"})
    events = core.list_namespaced_event(namespace, field_selector="reason=Tested")
    assert [e.message for e in events.items] == ["hello"]
    core.delete_namespaced_service("memcached", namespace)
    core.delete_namespaced_secret("flux-git-deploy", namespace)
    assert core.list_namespaced_secret(namespace).items == []


def test_rbac_kinds(api: client.ApiClient, namespace: str) -> None:
    rbac = client.RbacAuthorizationV1Api(api)
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "flux"}, "rules": [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "flux"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "flux"},
        "subjects": [{"kind": "ServiceAccount", "name": "flux", "namespace": namespace}]})
    rbac.create_cluster_role({"metadata": {"name": f"{namespace}-reader"}, "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
    rbac.create_cluster_role_binding({
        "metadata": {"name": f"{namespace}-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "flux", "namespace": namespace}]})
    assert rbac.read_namespaced_role_binding("flux", namespace).role_ref.name == "flux"
    binding = rbac.read_cluster_role_binding(f"{namespace}-admin")
    binding.role_ref.name = "view"
    with pytest.raises(ApiException) as immutable:
        rbac.replace_cluster_role_binding(f"{namespace}-admin", binding)
    assert immutable.value.status == 422
    rbac.delete_cluster_role_binding(f"{namespace}-admin")
    rbac.delete_cluster_role(f"{namespace}-reader")
    assert f"{namespace}-admin" not in {b.metadata.name for b in rbac.list_cluster_role_binding().items}


def test_label_selectors(core: client.CoreV1Api, namespace: str) -> None:
    for name, labels in (("a", {"app": "flux", "tier": "web"}), ("b", {"app": "flux", "tier": "db"}),
                         ("c", {"app": "memcached"}), ("d", {})):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": labels}})

    def names(selector: str) -> list[str]:
        items = core.list_namespaced_config_map(namespace, label_selector=selector).items
        return sorted(i.metadata.name for i in items if i.metadata.name != "kube-root-ca.crt")

    assert names("app=flux") == ["a", "b"]
    assert names("app==flux,tier=db") == ["b"]
    assert names("app!=flux") == ["c", "d"]
    assert names("tier in (web, db)") == ["a", "b"]
    assert names("tier notin (web)") == ["b", "c", "d"]
    assert names("tier") == ["a", "b"]
    assert names("!tier") == ["c", "d"]
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_config_map(namespace, label_selector="app in flux")
    assert bad.value.status == 400


def test_field_selectors(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "one"}})
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "two"}})
    assert [i.metadata.name for i in core.list_namespaced_config_map(
        namespace, field_selector="metadata.name=two").items] == ["two"]
    assert [i.metadata.name for i in core.list_config_map_for_all_namespaces(
        field_selector=f"metadata.namespace={namespace},metadata.name!=kube-root-ca.crt").items] == ["one", "two"]
    core.create_namespaced_pod(namespace, {"metadata": {"name": "p"},
                                           "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}})
    running = eventually(lambda: core.list_namespaced_pod(namespace, field_selector="status.phase=Running").items)
    assert [p.metadata.name for p in running] == ["p"]
    assert core.list_namespaced_pod(namespace, field_selector="status.phase!=Running").items == []
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_config_map(namespace, field_selector="data.x=1")
    assert bad.value.status == 400
    assert _status(bad.value)["message"] == "field label not supported: data.x"


def test_merge_strategic_and_json_patches(apps: client.AppsV1Api, namespace: str) -> None:
    body = deployment("flux")
    body["spec"]["template"]["spec"]["containers"].append({"name": "memcached", "image": "memcached:1.5.15"})
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    apps.create_namespaced_deployment(namespace, body)

    strategic = {"spec": {"template": {"spec": {"containers": [
        {"name": "flux", "image": "docker.io/fluxcd/flux:1.17.0", "env": [{"name": "B", "value": "2"}]}]}}}}
    patched = apps.patch_namespaced_deployment("flux", namespace, strategic, _content_type=STRATEGIC_PATCH)
    containers = patched.spec.template.spec.containers
    assert [(c.name, c.image) for c in containers] == [("flux", "docker.io/fluxcd/flux:1.17.0"),
                                                       ("memcached", "memcached:1.5.15")]
    assert [(e.name, e.value) for e in containers[0].env] == [("A", "1"), ("B", "2")]
    assert patched.metadata.generation == 2

    merged = apps.patch_namespaced_deployment("flux", namespace, {"metadata": {"labels": {"extra": "yes"}}},
                                              _content_type=MERGE_PATCH)
    assert merged.metadata.labels == {"name": "flux", "extra": "yes"}
    assert merged.metadata.generation == 2  # metadata only: no new generation

    replaced = apps.patch_namespaced_deployment("flux", namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "only", "image": "busybox:1.36"}]}}}}, _content_type=MERGE_PATCH)
    assert [c.name for c in replaced.spec.template.spec.containers] == ["only"]

    ops = [{"op": "replace", "path": "/spec/replicas", "value": 3},
           {"op": "add", "path": "/metadata/annotations", "value": {"x": "y"}},
           {"op": "test", "path": "/spec/replicas", "value": 3}]
    jsoned = apps.patch_namespaced_deployment("flux", namespace, ops, _content_type=JSON_PATCH)
    assert jsoned.spec.replicas == 3 and jsoned.metadata.annotations == {"x": "y"}
    with pytest.raises(ApiException) as failed_test:
        apps.patch_namespaced_deployment("flux", namespace, [{"op": "test", "path": "/spec/replicas", "value": 9}],
                                         _content_type=JSON_PATCH)
    assert failed_test.value.status == 422


def test_strategic_patch_default_for_dicts_and_delete_directive(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(namespace, {"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "a", "image": "busybox:1.36", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}]}})
    patched = core.patch_namespaced_pod("p", namespace, {"spec": {"containers": [
        {"name": "a", "env": [{"name": "X", "$patch": "delete"}]}]}})  # the client picks strategic merge
    assert [(e.name, e.value) for e in patched.spec.containers[0].env] == [("Y", "2")]


def test_delete_collection_and_pagination(core: client.CoreV1Api, namespace: str) -> None:
    for index in range(5):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"cm-{index}", "labels": {"batch": "x"}}})
    page = core.list_namespaced_config_map(namespace, label_selector="batch=x", limit=2)
    assert [i.metadata.name for i in page.items] == ["cm-0", "cm-1"]
    assert page.metadata.remaining_item_count == 3
    rest = core.list_namespaced_config_map(namespace, label_selector="batch=x", limit=10,
                                           _continue=page.metadata._continue)
    assert [i.metadata.name for i in rest.items] == ["cm-2", "cm-3", "cm-4"] and not rest.metadata._continue
    core.delete_collection_namespaced_config_map(namespace, label_selector="batch=x")
    assert [i.metadata.name for i in core.list_namespaced_config_map(namespace).items] == ["kube-root-ca.crt"]


def test_unknown_fields_warn_or_fail(kubesim: KubeSimProcess, namespace: str) -> None:
    """The client refuses unknown fields itself, so this goes over raw HTTPS."""
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    status, created = kubesim.request("POST", path, {"metadata": {"name": "w"}, "dataa": {"a": "b"}})
    assert status == 201 and "dataa" not in created  # dropped, as decoding into the Go type would
    status, strict = kubesim.request("POST", path + "?fieldValidation=Strict",
                                     {"metadata": {"name": "s"}, "dataa": {"a": "b"}})
    assert status == 400
    assert strict["message"] == 'strict decoding error: unknown field "dataa"'


def test_dry_run_persists_nothing(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "dry"}}, dry_run="All")
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("dry", namespace)
    assert missing.value.status == 404
