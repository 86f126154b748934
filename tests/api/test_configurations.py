"""Configuration and cluster endpoints of SPEC section 2, over real HTTP against the devhost and Azurite."""

from __future__ import annotations

import base64
import re
import secrets
import threading
import time
import uuid
from datetime import datetime

import pytest
import requests

from tests.api.conftest import (
    API_VERSION,
    SENT_SECRETS,
    SUBSCRIPTION,
    ApiClient,
    cluster_path,
    configuration_path,
    make_kubeconfig,
    without_compliance,
)
from tests.fixtures.storage_scan import table_rows

SEED_PROPERTIES = {
    "repositoryUrl": "https://github.com/Azure/arc-k8s-demo",
    "operatorInstanceName": "cluster-config",
    "operatorNamespace": "cluster-config",
    "operatorScope": "cluster",
    "operatorType": "Flux",
}


@pytest.fixture()
def cluster(api: ApiClient) -> str:
    path = cluster_path(f"cluster-{uuid.uuid4().hex[:8]}")
    api.register_cluster(path)
    return path


def test_seed_create_returns_the_seed_output_shape(api: ApiClient, cluster: str):
    response = api.request("PUT", configuration_path(cluster, "cluster-config"), body={"properties": SEED_PROPERTIES})

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "name", "type", "systemData", "properties"}
    assert body["id"] == configuration_path(cluster, "cluster-config")
    assert body["name"] == "cluster-config"
    assert body["type"] == "Microsoft.KubernetesConfiguration/sourceControlConfigurations"
    assert body["properties"] == {
        "repositoryUrl": "https://github.com/Azure/arc-k8s-demo",
        "operatorNamespace": "cluster-config",
        "operatorInstanceName": "cluster-config",
        "operatorType": "Flux",
        "operatorParams": "--git-readonly",
        "operatorScope": "cluster",
        "configurationProtectedSettings": {},
        "repositoryPublicKey": "",
        "sshKnownHostsContents": "",
        "enableHelmOperator": False,
        "helmOperatorProperties": None,
        "provisioningState": "Succeeded",
        "complianceStatus": {
            "complianceState": "Pending",
            "lastConfigApplied": "0001-01-01T00:00:00",
            "message": '{"OperatorMessage":null,"ClusterState":null}',
            "messageLevel": "3",
        },
    }
    system = body["systemData"]
    assert set(system) == {"createdAt", "createdBy", "createdByType", "lastModifiedAt", "lastModifiedBy",
                           "lastModifiedByType"}
    assert system["createdAt"] == system["lastModifiedAt"]
    assert datetime.fromisoformat(system["createdAt"]).utcoffset().total_seconds() == 0
    shown = api.request("GET", configuration_path(cluster, "cluster-config")).json()
    assert without_compliance(shown) == without_compliance(body)


def test_defaults_apply_when_only_the_url_is_given(api: ApiClient, cluster: str):
    body = api.request("PUT", configuration_path(cluster, "minimal"),
                       body={"properties": {"repositoryUrl": "git://github.com/Azure/arc-k8s-demo.git"}}).json()

    properties = body["properties"]
    assert properties["operatorNamespace"] == "default"
    assert properties["operatorInstanceName"] == "minimal"
    assert properties["operatorScope"] == "cluster"
    assert properties["operatorType"] == "Flux"
    assert properties["operatorParams"] == "--git-readonly"


def test_second_put_updates_and_keeps_creation_time(api: ApiClient, cluster: str):
    path = configuration_path(cluster, "updated")
    first = api.request("PUT", path, body={"properties": SEED_PROPERTIES}).json()
    changed = dict(SEED_PROPERTIES, operatorParams="--git-branch=main --git-user=flux")

    second = api.request("PUT", path, body={"properties": changed})

    assert second.status_code == 200
    body = second.json()
    assert body["properties"]["operatorParams"] == "--git-branch=main --git-user=flux"
    assert body["systemData"]["createdAt"] == first["systemData"]["createdAt"]
    assert body["systemData"]["lastModifiedAt"] >= first["systemData"]["lastModifiedAt"]
    assert body["properties"]["complianceStatus"]["complianceState"] == "Pending"


def test_get_of_a_missing_configuration_is_404(api: ApiClient, cluster: str):
    response = api.request("GET", configuration_path(cluster, "nothing-here"))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ResourceNotFound"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_configuration_on_an_unregistered_cluster_is_404_naming_the_cluster(api: ApiClient, method: str):
    unknown = cluster_path("never-registered")
    response = api.request(method, configuration_path(unknown, "cfg"),
                           body={"properties": SEED_PROPERTIES} if method == "PUT" else None)

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "ResourceNotFound"
    assert "never-registered" in error["message"]


def test_list_pages_with_next_link(api: ApiClient, cluster: str):
    names = [f"cfg-{i}" for i in range(5)]
    for name in names:
        assert api.request("PUT", configuration_path(cluster, name), body={"properties": SEED_PROPERTIES}).ok

    collection = f"{cluster}/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations"
    first = api.request("GET", collection, params={"$top": "2"}).json()
    seen = [item["name"] for item in first["value"]]
    next_link = first.get("nextLink")
    while next_link:
        assert next_link.startswith(api.base_url + "/api" + collection)
        page = api.session.get(next_link, headers={"x-functions-key": api.function_key}, timeout=30).json()
        assert len(page["value"]) <= 2
        seen += [item["name"] for item in page["value"]]
        next_link = page.get("nextLink")

    assert sorted(seen) == names
    whole = api.request("GET", collection).json()
    assert "nextLink" not in whole
    assert sorted(item["name"] for item in whole["value"]) == names
    assert all(item["properties"]["configurationProtectedSettings"] == {} for item in whole["value"])


def test_list_rejects_a_forged_skip_token(api: ApiClient, cluster: str):
    collection = f"{cluster}/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations"
    response = api.request("GET", collection, params={"$skipToken": "not-a-token!"})

    assert response.status_code == 400
    assert response.json()["error"]["target"] == "$skipToken"


def test_delete_answers_200_and_the_resource_is_gone_at_once(api: ApiClient, cluster: str):
    path = configuration_path(cluster, "to-delete")
    api.request("PUT", path, body={"properties": SEED_PROPERTIES})

    response = api.request("DELETE", path)

    assert response.status_code == 200
    assert response.content == b""
    status_url = response.headers["Azure-AsyncOperation"]
    assert status_url.startswith(f"{api.base_url}/api/operations/")
    assert status_url.endswith(f"?api-version={API_VERSION}")
    assert response.headers["Location"] == status_url
    assert api.request("GET", path).status_code == 404
    collection = f"{cluster}/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations"
    assert "to-delete" not in [item["name"] for item in api.request("GET", collection).json()["value"]]
    operation = api.session.get(status_url, headers={"x-functions-key": api.function_key}, timeout=30)
    assert operation.status_code == 200
    body = operation.json()
    assert body["status"] == "InProgress"
    assert body["name"] == status_url.split("/operations/")[1].split("?")[0]
    assert body["resourceId"] == path
    assert body["startTime"]
    assert api.request("DELETE", path).status_code == 204


def test_unknown_operation_is_404(api: ApiClient):
    assert api.request("GET", f"/operations/{uuid.uuid4()}").status_code == 404
    assert api.request("GET", "/operations/not-a-guid").status_code == 404


@pytest.mark.parametrize(("api_version", "code"), [(None, "MissingApiVersionParameter"),
                                                   ("", "MissingApiVersionParameter"),
                                                   ("1999-01-01", "InvalidApiVersionParameter")])
def test_api_version_is_required_on_every_route(api: ApiClient, cluster: str, api_version, code):
    paths = [cluster, configuration_path(cluster, "cfg"),
             f"{cluster}/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations",
             f"/operations/{uuid.uuid4()}"]
    for path in paths:
        response = api.request("GET", path, api_version=api_version)
        assert response.status_code == 400, path
        assert response.json()["error"]["code"] == code


@pytest.mark.parametrize("api_version", ["2021-03-01", "2022-03-01", "2022-07-01", "2022-11-01", "2023-05-01"])
def test_every_v1_route_accepts_the_v1_api_versions(api: ApiClient, api_version: str):
    """SPEC section 2: the later GA versions keep the v1 schema; 2023-05-01 is the default of Microsoft's SDK."""
    token = "kubetoken-" + secrets.token_hex(16)
    SENT_SECRETS.append(token)
    kubeconfig = base64.b64encode(make_kubeconfig(token).encode()).decode()
    cluster = cluster_path(f"versions-{uuid.uuid4().hex[:8]}")
    path = configuration_path(cluster, "versioned")
    collection = f"{cluster}/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations"

    def call(method: str, target: str, body: dict | None = None) -> requests.Response:
        return api.request(method, target, body=body, api_version=api_version)

    assert call("PUT", cluster, {"properties": {"kubeconfig": kubeconfig}}).status_code == 201
    assert call("GET", cluster).status_code == 200
    assert call("PUT", path, {"properties": SEED_PROPERTIES}).status_code == 201
    assert call("GET", path).json()["name"] == "versioned"
    assert [item["name"] for item in call("GET", collection).json()["value"]] == ["versioned"]
    for detail in ("workflow", "operatorObjects"):
        assert call("GET", f"{path}/{detail}").status_code == 200, detail
    deleted = call("DELETE", path)
    assert deleted.status_code == 200, deleted.text
    status_url = deleted.headers["Azure-AsyncOperation"]
    assert status_url.endswith(f"?api-version={api_version}")
    operation = api.session.get(status_url, headers={"x-functions-key": api.function_key}, timeout=30)
    assert operation.status_code == 200 and operation.json()["resourceId"] == path
    assert call("DELETE", path).status_code == 204
    assert call("GET", path).status_code == 404


def test_concurrent_puts_of_one_configuration_never_tear_the_record(api: ApiClient, cluster: str,
                                                                     storage_connection_string: str):
    path = configuration_path(cluster, "contended")
    variants = [dict(SEED_PROPERTIES, operatorParams=f"--git-branch=branch-{i} --git-user=user-{i}")
                for i in range(8)]
    statuses: list[int] = []

    def put(properties):
        statuses.append(api.request("PUT", path, body={"properties": properties}).status_code)

    threads = [threading.Thread(target=put, args=(v,)) for v in variants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] * 7 + [201]
    stored = api.request("GET", path).json()
    params = stored["properties"]["operatorParams"]
    index = re.fullmatch(r"--git-branch=branch-(\d) --git-user=user-(\d)", params)
    assert index and index.group(1) == index.group(2)
    rows = [r for r in table_rows(storage_connection_string)["configurations"] if r["RowKey"] == "contended"]
    assert len(rows) == 1
    assert rows[0]["Generation"] == 8


def test_cluster_registry_round_trip(api: ApiClient):
    path = cluster_path(f"registry-{uuid.uuid4().hex[:8]}", kind="Microsoft.ContainerService/managedClusters")
    created = api.register_cluster(path)
    assert created.status_code == 201
    assert api.register_cluster(path).status_code == 200

    shown = api.request("GET", path)
    assert shown.status_code == 200
    body = shown.json()
    assert body["id"] == path
    assert body["type"] == "Microsoft.ContainerService/managedClusters"
    assert "kubeconfig" not in shown.text

    api.request("PUT", configuration_path(path, "blocker"), body={"properties": SEED_PROPERTIES})
    conflict = api.request("DELETE", path)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "ClusterHasConfigurations"

    assert api.request("DELETE", configuration_path(path, "blocker")).status_code == 200
    # the cluster is unreachable, so the deletion is still running: unregistering it would leave its objects
    still_deleting = api.request("DELETE", path)
    assert still_deleting.status_code == 409
    assert "'blocker (being deleted)'" in still_deleting.json()["error"]["message"]
    assert api.request("DELETE", path, params={"force": "true"}).status_code == 200
    assert api.request("GET", path).status_code == 404
    assert api.request("DELETE", path).status_code == 204


@pytest.mark.parametrize(("body", "target"), [
    ({"properties": {}}, "properties.kubeconfig"),
    ({"properties": {"kubeconfig": "%%%not base64"}}, "properties.kubeconfig"),
    ({"properties": {"kubeconfig": "aGVsbG8="}}, "properties.kubeconfig"),
    ({"properties": {"kubeconfig": "aGVsbG8=", "extra": 1}}, "properties.extra"),
    ([1, 2], None),
])
def test_cluster_registration_rejects_bad_kubeconfigs(api: ApiClient, body, target,
                                                      storage_connection_string: str):
    path = cluster_path(f"bad-{uuid.uuid4().hex[:8]}")
    response = api.request("PUT", path, body=body)

    assert response.status_code == 400
    assert response.json()["error"].get("target") == target
    assert api.request("GET", path).status_code == 404


@pytest.mark.parametrize(("path", "target"), [
    ("/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Kubernetes/connectedClusters/c",
     "subscriptionId"),
    (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/c",
     "clusterResourceName"),
    (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg./providers/Microsoft.Kubernetes/connectedClusters/c",
     "resourceGroupName"),
])
def test_malformed_cluster_ids_are_400(api: ApiClient, path: str, target: str):
    response = api.request("GET", path)

    assert response.status_code == 400
    assert response.json()["error"]["target"] == target


def test_resource_ids_are_case_insensitive(api: ApiClient, cluster: str):
    api.request("PUT", configuration_path(cluster, "cased"), body={"properties": SEED_PROPERTIES})
    shouting = cluster.replace("resourceGroups/AzureArcTest", "resourcegroups/AZUREARCTEST")

    response = api.request("GET", configuration_path(shouting, "cased"))

    assert response.status_code == 200
    assert response.json()["id"] == configuration_path(cluster, "cased")


def test_create_workflow_on_an_unreachable_cluster_ends_failed_with_a_clear_message(api: ApiClient, cluster: str):
    path = configuration_path(cluster, "unreachable")
    assert api.request("PUT", path, body={"properties": SEED_PROPERTIES}).status_code == 201

    status = wait_for_compliance(api, path, lambda s: s["complianceState"] != "Pending")

    assert status["complianceState"] == "Failed"
    assert status["messageLevel"] == "Error"
    assert status["message"].startswith("Cluster unreachable: the cluster at https://127.0.0.1:")
    assert "unreachable" in status["message"]


def wait_for_compliance(api: ApiClient, path: str, settled, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = api.request("GET", path).json()["properties"]["complianceStatus"]
        if settled(status) or time.monotonic() > deadline:
            return status
        time.sleep(0.2)
