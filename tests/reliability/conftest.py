"""The reliability suite's own host of the app, its routes as the app declares them, and shared checks.

NB: like tests/cli, this folder cannot share tests/api's `app_host` (a second definition would start a second
host on the same task hub, queues and tables). It runs its own host, isolated by its own task hub, host id
(keys), status queue and pending-work table, with the cleanup timer off; generated and hostile requests
land there and nowhere else.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from tests.api.conftest import SENT_SECRETS, SUBSCRIPTION, ApiClient, client_of, cluster_path, make_kubeconfig
from tests.fixtures.devhost_process import PROJECT_ROOT, DevHost, serve_isolated_host
from tests.fixtures.storage_scan import state_a_request_may_not_change

# The Python worker's indexing in a fresh interpreter (get_functions() may run once per app instance and
# function_app.py sets environment defaults on import): every HTTP function with its route, methods, auth level.
HTTP_INDEX_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import function_app
out = []
for f in function_app.app.get_functions():
    for raw in f.get_raw_bindings():
        binding = json.loads(raw)
        if binding.get("type") == "httpTrigger":
            out.append({"name": f.get_function_name(), "route": binding["route"],
                        "methods": binding.get("methods") or [], "authLevel": binding.get("authLevel")})
print(json.dumps(out))
"""


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: str
    methods: tuple[str, ...]
    auth_level: str


def http_functions_of_the_app() -> list[HttpFunction]:
    proc = subprocess.run([sys.executable, "-c", HTTP_INDEX_SCRIPT, str(PROJECT_ROOT)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120, check=True)
    return [HttpFunction(f["name"], f["route"], tuple(m.upper() for m in f["methods"]), f["authLevel"].upper())
            for f in json.loads(proc.stdout)]


@pytest.fixture(scope="session")
def app_host(storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory):
    yield from serve_isolated_host(storage_connection_string, tmp_path_factory.mktemp("reliability-host"))


@pytest.fixture(scope="session")
def api(app_host: DevHost) -> ApiClient:
    return client_of(app_host)


@pytest.fixture(scope="session")
def status_queue(app_host: DevHost, storage_connection_string: str) -> QueueClient:
    """The host's own status queue (STATUS_QUEUE_NAME), sending base64 as the queue trigger expects."""
    queue = QueueClient.from_connection_string(storage_connection_string, app_host.env["STATUS_QUEUE_NAME"],
                                               message_encode_policy=TextBase64EncodePolicy())
    with contextlib.suppress(ResourceExistsError):  # the host may have created it first
        queue.create_queue()
    return queue


@dataclass(frozen=True)
class Cluster:
    path: str
    storage_key: str


def register_cluster(api: ApiClient, prefix: str = "rel") -> Cluster:
    """A freshly registered (unreachable) connected cluster; its kubeconfig token is recorded as sent."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    api.register_cluster(cluster_path(name))
    return Cluster(cluster_path(name), f"{SUBSCRIPTION}|azurearctest|microsoft.kubernetes|connectedclusters|{name}")


@pytest.fixture(scope="module")
def cluster(api: ApiClient) -> Cluster:
    return register_cluster(api)


def sent_kubeconfig(token: str | None = None) -> str:
    """A base64 kubeconfig whose token is recorded for the final scan of storage."""
    token = token or "kubetoken-" + secrets.token_hex(16)
    SENT_SECRETS.append(token)
    return base64.b64encode(make_kubeconfig(token).encode()).decode()


def assert_arm_error(response: requests.Response, status: int = 400) -> dict:
    """A clear client error: the expected status and an ARM body `{"error": {"code", "message", "target"?}}`."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    error = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    assert "Traceback" not in error["message"]
    assert set(error) <= {"code", "message", "target"}, error
    return error


@contextlib.contextmanager
def nothing_changes(connection_string: str, cluster_key: str) -> Iterator[None]:
    """The block's requests must store nothing and start no workflow (tests.fixtures.storage_scan)."""
    before = state_a_request_may_not_change(connection_string, cluster_key)
    yield
    after = state_a_request_may_not_change(connection_string, cluster_key)
    assert after == before, "a refused request changed storage or started a workflow"
