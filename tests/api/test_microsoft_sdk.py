"""Microsoft's own SDK, `azure-mgmt-kubernetesconfiguration` 3.1.0, scripting the API as an Azure user would
(issue 17 point 9): create, get, a list past one page, a delete followed by the SDK's poller, and ARM errors,
at 2021-03-01 and at the SDK's default api-version 2023-05-01.

The SDK speaks to `{host}/api` (its base_url) and sends the function key through its authentication policy:
ARM's bearer-token policy refuses plain http, and the local service authenticates with function keys. The
cluster is a kubesim over HTTPS, so the delete workflow really cleans up and the operation ends Succeeded.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.kubernetesconfiguration import SourceControlConfigurationClient

from tests.api.conftest import SENT_SECRETS, SUBSCRIPTION, ApiClient, cluster_path
from tests.fixtures.kubesim_process import KubeSimProcess, running_kubesim

SDK_DEFAULT_API_VERSION = "2023-05-01"
GROUP = "AzureArcTest"
CLUSTER_RP, CLUSTER_RESOURCE = "Microsoft.Kubernetes", "connectedClusters"
REPOSITORY = "https://github.com/Azure/arc-k8s-demo"


class UnusedCredential:
    """The TokenCredential the SDK's constructor requires; the function-key policy below replaces the bearer
    policy that would call it."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("unused", int(time.time()) + 3600)


class FunctionKeyPolicy(SansIOHTTPPolicy):
    """Sends the host's function key on every request (initial calls, nextLink pages, operation polls) and
    keeps each request's method and URL, so a test can check what the SDK actually sent."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.sent: list[tuple[str, str]] = []

    def on_request(self, request: PipelineRequest) -> None:
        request.http_request.headers["x-functions-key"] = self.key
        self.sent.append((request.http_request.method, request.http_request.url))


def api_versions_sent(policy: FunctionKeyPolicy) -> set[str]:
    return {version for _, url in policy.sent for version in parse_qs(urlsplit(url).query).get("api-version", [])}


@pytest.fixture(scope="module")
def kubesim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeSimProcess]:
    with running_kubesim(tmp_path_factory.mktemp("sdk-kubesim"), ready_delay=0) as sim:
        SENT_SECRETS.append(sim.token)
        yield sim


@pytest.fixture(scope="module")
def cluster_name(api: ApiClient, kubesim: KubeSimProcess) -> str:
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    kubeconfig = base64.b64encode(Path(kubesim.kubeconfig_path).read_bytes()).decode()
    response = api.request("PUT", cluster_path(name), body={"properties": {"kubeconfig": kubeconfig}})
    assert response.status_code == 201, response.text
    return name


def sdk_client(api: ApiClient, api_version: str | None) -> tuple[SourceControlConfigurationClient, FunctionKeyPolicy]:
    """The SDK's client of the local service; `api_version=None` leaves the SDK's own default."""
    policy = FunctionKeyPolicy(api.function_key)
    client = SourceControlConfigurationClient(UnusedCredential(), SUBSCRIPTION, api_version=api_version,
                                              base_url=f"{api.base_url}/api", authentication_policy=policy,
                                              polling_interval=0.5)
    return client, policy


@pytest.mark.parametrize("api_version", ["2021-03-01", None], ids=["2021-03-01", "sdk-default"])
def test_the_sdk_creates_gets_lists_pages_and_deletes_with_its_poller(api: ApiClient, cluster_name: str,
                                                                       api_version: str | None):
    client, policy = sdk_client(api, api_version)
    expected_version = api_version or SDK_DEFAULT_API_VERSION
    models = client.models(expected_version)
    operations = client.source_control_configurations
    target = (GROUP, CLUSTER_RP, CLUSTER_RESOURCE, cluster_name)
    prefix = "v" + expected_version.replace("-", "")
    names = [f"{prefix}-{index}" for index in range(3)]

    for name in names:
        # NB: one operator namespace per configuration: the operator's object names are fixed per namespace.
        created = operations.create_or_update(
            *target, name, models.SourceControlConfiguration(
                repository_url=REPOSITORY, operator_namespace=name, operator_instance_name=f"{name}-flux",
                operator_type="Flux", operator_scope="cluster", operator_params="--git-readonly"))
        assert created.name == name
        assert created.repository_url == REPOSITORY

    shown = operations.get(*target, names[0])
    assert shown.id.endswith(f"/sourceControlConfigurations/{names[0]}")
    assert (shown.operator_namespace, shown.operator_instance_name) == (names[0], f"{names[0]}-flux")
    assert shown.provisioning_state == "Succeeded"
    assert shown.system_data.created_at is not None

    listed = [item.name for item in operations.list(*target, params={"$top": "2"})]
    assert sorted(name for name in listed if name.startswith(prefix)) == names
    pages = [url for method, url in policy.sent if method == "GET" and url.split("?")[0].endswith(
        "/sourceControlConfigurations")]
    assert len(pages) >= 2 and any("$skipToken=" in url for url in pages), pages  # the SDK followed nextLink

    pollers = [operations.begin_delete(*target, name) for name in names]
    for poller in pollers:
        assert poller.result(timeout=60) is None
        assert poller.status() == "Succeeded"
    for name in names:
        with pytest.raises(ResourceNotFoundError):
            operations.get(*target, name)
    assert any("/api/operations/" in url for method, url in policy.sent if method == "GET")  # the poller polled
    gone = operations.begin_delete(*target, names[0])  # nothing to delete: 204, done at once
    assert gone.result(timeout=30) is None and gone.done()
    assert api_versions_sent(policy) == {expected_version}  # initial calls, nextLink pages and operation polls


@pytest.mark.parametrize("api_version", ["2021-03-01", None], ids=["2021-03-01", "sdk-default"])
def test_the_sdk_parses_the_arm_errors(api: ApiClient, cluster_name: str, api_version: str | None):
    client, _ = sdk_client(api, api_version)
    models = client.models(api_version or SDK_DEFAULT_API_VERSION)
    operations = client.source_control_configurations
    target = (GROUP, CLUSTER_RP, CLUSTER_RESOURCE, cluster_name)

    with pytest.raises(HttpResponseError) as refused:
        operations.create_or_update(*target, "refused", models.SourceControlConfiguration(
            repository_url="ftp://example.com/repo", operator_namespace="refused", operator_type="Flux"))

    assert refused.value.status_code == 400
    assert refused.value.error.code and refused.value.error.message
    assert refused.value.error.target == "properties.repositoryUrl"
    with pytest.raises(ResourceNotFoundError) as missing:
        operations.get(*target, "refused")  # the refused body stored nothing
    assert missing.value.error.code == "ResourceNotFound"
    assert missing.value.error.target == "configurationName"
