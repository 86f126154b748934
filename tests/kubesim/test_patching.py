"""Strategic merge patch directives as `kubectl apply` sends them (pure functions, no server needed)."""

from __future__ import annotations

from kubesim.patching import json_merge_patch, strategic_merge_patch

DEPLOYMENT = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
                       "template": {"spec": {"containers": [
                           {"name": "a", "image": "a:1", "ports": [{"containerPort": 80}, {"containerPort": 81}]},
                           {"name": "b", "image": "b:1"}],
                           "volumes": [{"name": "v", "emptyDir": {}}]}}},
              "metadata": {"finalizers": ["x"]}}


def test_lists_merge_by_key_and_keep_element_order() -> None:
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
        "containers": [{"name": "a", "image": "a:2", "ports": [{"containerPort": 81, "$patch": "delete"}]}]}}}}
    result = strategic_merge_patch(DEPLOYMENT, patch, kind="Deployment")
    containers = result["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["b", "a"]
    assert containers[1] == {"name": "a", "image": "a:2", "ports": [{"containerPort": 80}]}
    assert DEPLOYMENT["spec"]["template"]["spec"]["containers"][0]["image"] == "a:1"  # input untouched


def test_retain_keys_replace_and_primitive_lists() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None},
                      "template": {"spec": {"volumes": [{"$patch": "replace"}, {"name": "w", "configMap": {"name": "c"}}]}}},
             "metadata": {"finalizers": ["y"], "$deleteFromPrimitiveList/finalizers": ["x"]}}
    result = strategic_merge_patch(DEPLOYMENT, patch, kind="Deployment")
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    assert result["spec"]["template"]["spec"]["volumes"] == [{"name": "w", "configMap": {"name": "c"}}]
    assert result["metadata"]["finalizers"] == ["y"]


def test_service_ports_merge_on_port_and_merge_patch_replaces_lists() -> None:
    service = {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}}
    merged = strategic_merge_patch(service, {"spec": {"ports": [{"port": 443, "targetPort": 8443}]}}, kind="Service")
    assert merged["spec"]["ports"][1] == {"port": 443, "name": "https", "targetPort": 8443}
    replaced = json_merge_patch(service, {"spec": {"ports": [{"port": 8080}]}, "metadata": {"labels": None}})
    assert replaced == {"spec": {"ports": [{"port": 8080}]}, "metadata": {}}  # RFC 7386
