"""The app served by the local host over real HTTP against the session's Azurite, and a client for it."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field

import pytest
import requests
from cryptography.fernet import Fernet

from stack.azurite import free_port
from tests.fixtures.devhost_process import PROJECT_ROOT, DevHost, devhost_environment

API_VERSION = "2021-03-01"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
# Every secret a test sends is recorded here; the storage scan at the end looks for each of them.
SENT_SECRETS: list[str] = []


def make_kubeconfig(token: str, server: str | None = None) -> str:
    """A kubeconfig whose server is a closed loopback port: workflows find the cluster unreachable."""
    server = server or f"https://127.0.0.1:{free_port()}"
    return (f"apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n"
            f"contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n"
            f"users:\n- name: u\n  user:\n    token: {token}\n")


def without_compliance(resource: dict) -> dict:
    """The resource minus what its create workflow may already have changed (the cluster is unreachable)."""
    properties = {k: v for k, v in resource["properties"].items() if k != "complianceStatus"}
    return {**resource, "properties": properties}


@dataclass
class ApiClient:
    base_url: str
    function_key: str
    session: requests.Session = field(default_factory=requests.Session)

    def request(self, method: str, path: str, *, body=None, raw: str | bytes | None = None, key: bool = True,
                api_version: str | None = API_VERSION, params: dict | None = None) -> requests.Response:
        query = dict(params or {})
        if api_version is not None:
            query["api-version"] = api_version
        headers = {"x-functions-key": self.function_key} if key else {}
        if body is not None:
            raw = __import__("json").dumps(body)
        if raw is not None:
            headers["content-type"] = "application/json"
        return self.session.request(method, f"{self.base_url}/api{path}", params=query, data=raw,
                                    headers=headers, timeout=30)

    def register_cluster(self, cluster_path: str, token: str | None = None) -> requests.Response:
        token = token or "kubetoken-" + secrets.token_hex(16)
        SENT_SECRETS.append(token)
        kubeconfig = base64.b64encode(make_kubeconfig(token).encode()).decode()
        response = self.request("PUT", cluster_path, body={"properties": {"kubeconfig": kubeconfig}})
        assert response.status_code in (200, 201), response.text
        return response


def cluster_path(name: str, *, group: str = "AzureArcTest", kind: str = "Microsoft.Kubernetes/connectedClusters"):
    return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/{kind}/{name}"


def configuration_path(cluster: str, name: str) -> str:
    return f"{cluster}/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations/{name}"


@pytest.fixture(scope="session")
def app_host(storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory):
    """This project's function_app.py served by `python -m devhost start` on a free port."""
    env = devhost_environment(storage_connection_string, SECRETS_ENCRYPTION_KEY=Fernet.generate_key().decode(),
                              LIST_PAGE_SIZE="100")
    host = DevHost(app_dir=PROJECT_ROOT, env=env, log_dir=tmp_path_factory.mktemp("app-host"))
    host.start()
    yield host
    assert host.stop() == 0, host.stderr()


def client_of(host: DevHost) -> ApiClient:
    """An API client of `host`, with the host-level default function key from its key store."""
    return ApiClient(host.base_url, host.keys()["functionKeys"]["default"])


@pytest.fixture(scope="session")
def api(app_host: DevHost) -> ApiClient:
    return client_of(app_host)
