"""The process itself: auth, kubeconfig, discovery basics, persistence across restarts, CLI faults."""

from __future__ import annotations

import base64

import pytest
import yaml
from kubernetes import client

from tests.fixtures.kubesim_process import KubeSimProcess, running_kubesim
from tests.kubesim.helpers import condition, deployment, eventually


def test_requests_need_the_bearer_token(kubesim: KubeSimProcess) -> None:
    for token in ("", "wrong-token"):
        status, body = kubesim.request("GET", "/api/v1/namespaces", token=token)
        assert status == 401
        assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    status, body = kubesim.request("GET", "/kubesim/faults", token="")
    assert status == 401
    status, body = kubesim.request("GET", "/healthz", token="")
    assert (status, body) == (200, "ok")
    status, body = kubesim.request("GET", "/api/v1/namespaces")
    assert status == 200 and body["kind"] == "NamespaceList"


def test_kubeconfig_names_the_cluster(kubesim: KubeSimProcess) -> None:
    config = yaml.safe_load(kubesim.kubeconfig_path.read_text())
    cluster = config["clusters"][0]
    assert cluster["name"] == "kubesim" and config["current-context"] == "kubesim"
    assert cluster["cluster"]["server"] == kubesim.base_url and kubesim.base_url.startswith("https://127.0.0.1:")
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]).startswith(b"-----BEGIN CERTIFICATE")
    assert config["users"][0]["user"]["token"] == kubesim.token
    assert (kubesim.kubeconfig_path.stat().st_mode & 0o777) == 0o600


def test_discovery_and_version(kubesim: KubeSimProcess, api: client.ApiClient) -> None:
    assert client.VersionApi(api).get_code().git_version.startswith("v1.32")
    status, core = kubesim.request("GET", "/api/v1")
    assert status == 200 and core["groupVersion"] == "v1"
    namespaces = next(r for r in core["resources"] if r["name"] == "namespaces")
    assert namespaces["shortNames"] == ["ns"] and namespaces["namespaced"] is False
    status, aggregated = kubesim.request("GET", "/apis", headers={
        "Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"})
    assert status == 200 and aggregated["kind"] == "APIGroupDiscoveryList"
    apps = next(i for i in aggregated["items"] if i["metadata"].get("name") == "apps")
    assert "deployments" in [r["resource"] for r in apps["versions"][0]["resources"]]
    status, index = kubesim.request("GET", "/openapi/v3")
    assert status == 200 and "apis/apps/v1" in index["paths"]
    resources = kubesim.kubectl("api-resources", check=True).stdout
    assert "customresourcedefinitions" in resources and "deployments" in resources


def test_state_survives_a_restart(tmp_path_factory: pytest.TempPathFactory) -> None:
    """--state-file keeps the objects and the resourceVersion counter; --cert-dir keeps the kubeconfig valid;
    --fail-image applies from the start."""
    work = tmp_path_factory.mktemp("persist")
    with running_kubesim(work, persist=True, ready_delay=0, cluster_name="AzureArcTest1",
                         fail_images=["*:doomed=ErrImagePull"]) as sim:
        api_client = sim.api_client()
        core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
        core.create_namespace({"metadata": {"name": "kept"}})
        saved = core.create_namespaced_config_map("kept", {"metadata": {"name": "c"}, "data": {"a": "1"}})
        apps.create_namespaced_deployment("kept", deployment("doomed", image="docker.io/x/doomed:doomed"))
        failing = eventually(lambda: condition(apps.read_namespaced_deployment("doomed", "kept"), "ReplicaFailure"))
        assert failing.reason == "ErrImagePull"
        kubeconfig_before = sim.kubeconfig_path.read_text()
        assert yaml.safe_load(kubeconfig_before)["current-context"] == "AzureArcTest1"
        api_client.close()

        assert sim.stop() == 0
        assert sim.state_file.exists()
        sim.start()
        assert sim.kubeconfig_path.read_text() == kubeconfig_before
        api_client = sim.api_client()
        core = client.CoreV1Api(api_client)
        restored = core.read_namespaced_config_map("c", "kept")
        assert restored.data == {"a": "1"} and restored.metadata.uid == saved.metadata.uid
        later = core.create_namespaced_config_map("kept", {"metadata": {"name": "d"}})
        assert int(later.metadata.resource_version) > int(restored.metadata.resource_version)
        assert kubesim_get_ns(sim) == "Active"
        api_client.close()


def kubesim_get_ns(sim: KubeSimProcess) -> str:
    return sim.kubectl("get", "ns", "kept", "-o", "jsonpath={.status.phase}", check=True).stdout
