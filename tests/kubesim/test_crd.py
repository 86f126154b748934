"""CustomResourceDefinitions: the kinds they define are served (and discovered) once the CRD exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.fixtures.kubesim_process import KubeSimProcess
from tests.kubesim.helpers import eventually

GROUP = "example.com"


def _crd(plural: str, kind: str) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {"group": GROUP, "scope": "Namespaced",
                 "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "shortNames": ["wd"]},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "subresources": {"status": {}},
                               "additionalPrinterColumns": [
                                   {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                                   {"name": "Phase", "type": "string", "jsonPath": ".status.phase"}],
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "properties": {"size": {"type": "integer"},
                                                                             "tags": {"type": "array",
                                                                                      "items": {"type": "string"}}}},
                                   "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}}]},
    }


def test_crd_serves_custom_resources(kubesim: KubeSimProcess, api: client.ApiClient, namespace: str,
                                     tmp_path: Path) -> None:
    extensions = client.ApiextensionsV1Api(api)
    custom = client.CustomObjectsApi(api)
    crd = extensions.create_custom_resource_definition(_crd("widgets", "Widget"))
    assert {c.type: c.status for c in crd.status.conditions} == {"NamesAccepted": "True", "Established": "True"}
    status, resources = kubesim.request("GET", f"/apis/{GROUP}/v1")
    assert status == 200
    assert [r["name"] for r in resources["resources"]] == ["widgets", "widgets/status"]
    status, groups = kubesim.request("GET", "/apis")
    assert GROUP in [g["name"] for g in groups["groups"]]

    widget = {"apiVersion": f"{GROUP}/v1", "kind": "Widget",
              "metadata": {"name": "w1"}, "spec": {"size": 3, "colour": "pruned"}, "status": {"phase": "ignored"}}
    created = custom.create_namespaced_custom_object(GROUP, "v1", namespace, "widgets", widget)
    assert created["spec"] == {"size": 3}  # unknown fields pruned by the schema
    assert "status" not in created  # status only through the subresource
    assert created["metadata"]["generation"] == 1
    patched = custom.patch_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "w1", {"spec": {"size": 5}})
    assert patched["spec"]["size"] == 5 and patched["metadata"]["generation"] == 2
    with_status = custom.patch_namespaced_custom_object_status(GROUP, "v1", namespace, "widgets", "w1",
                                                               {"status": {"phase": "Ready"}})
    assert with_status["status"] == {"phase": "Ready"} and with_status["metadata"]["generation"] == 2
    listing = custom.list_namespaced_custom_object(GROUP, "v1", namespace, "widgets")
    assert listing["kind"] == "WidgetList" and [i["metadata"]["name"] for i in listing["items"]] == ["w1"]

    table = kubesim.kubectl("get", "widgets", "-n", namespace, check=True).stdout
    assert table.splitlines()[0].split() == ["NAME", "SIZE", "PHASE"]
    assert table.splitlines()[1].split() == ["w1", "5", "Ready"]
    manifest = tmp_path / "w2.yaml"
    manifest.write_text(f"apiVersion: {GROUP}/v1\nkind: Widget\nmetadata:\n  name: w2\n  namespace: {namespace}\n"
                        f"spec:\n  size: 1\n")
    kubesim.kubectl("apply", "-f", str(manifest), check=True)
    manifest.write_text(manifest.read_text().replace("size: 1", "size: 2"))
    applied = kubesim.kubectl("apply", "-f", str(manifest), check=True)
    assert "widget.example.com/w2 configured" in applied.stdout
    assert kubesim.kubectl("get", "wd", "w2", "-n", namespace, "-o", "jsonpath={.spec.size}", check=True).stdout == "2"

    with pytest.raises(ApiException) as strategic:
        custom.patch_namespaced_custom_object(GROUP, "v1", namespace, "widgets", "w1", {"spec": {"size": 1}},
                                              _content_type="application/strategic-merge-patch+json")
    assert strategic.value.status == 415


def test_deleting_a_crd_deletes_its_objects(kubesim: KubeSimProcess, api: client.ApiClient, namespace: str) -> None:
    extensions = client.ApiextensionsV1Api(api)
    custom = client.CustomObjectsApi(api)
    extensions.create_custom_resource_definition(_crd("gadgets", "Gadget"))
    custom.create_namespaced_custom_object(GROUP, "v1", namespace, "gadgets",
                                           {"apiVersion": f"{GROUP}/v1", "kind": "Gadget", "metadata": {"name": "g"}})
    extensions.delete_custom_resource_definition(f"gadgets.{GROUP}")

    def crd_gone() -> bool:
        try:
            extensions.read_custom_resource_definition(f"gadgets.{GROUP}")
        except ApiException as exc:
            return exc.status == 404
        return False

    eventually(crd_gone)
    status, _body = kubesim.request("GET", f"/apis/{GROUP}/v1/namespaces/{namespace}/gadgets")
    assert status == 404


def test_invalid_crd_is_rejected(api: client.ApiClient) -> None:
    extensions = client.ApiextensionsV1Api(api)
    bad = _crd("things", "Thing")
    bad["metadata"]["name"] = "wrong.example.com"
    with pytest.raises(ApiException) as invalid:
        extensions.create_custom_resource_definition(bad)
    assert invalid.value.status == 422
