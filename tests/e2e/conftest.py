"""The whole create path for real: the app on the devhost (its own task hub), kubesim over HTTPS, Azurite."""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from tests.api.conftest import SENT_SECRETS, ApiClient, cluster_path, configuration_path
from tests.fixtures.agent_process import AgentProcess
from tests.fixtures.devhost_process import PROJECT_ROOT, DevHost, devhost_environment
from tests.fixtures.kubesim_process import KubeSimProcess

E2E_HUB = "GitOpsE2E"
STATUS_WAIT = "00:00:08"
STATUS_QUEUE = "configuration-status-e2e"
DELETE_WINDOW = "00:00:05"
DELETE_WINDOW_FAILED = "00:00:10"


@pytest.fixture(scope="module")
def kubesim(tmp_path_factory: pytest.TempPathFactory):
    sim = KubeSimProcess(work_dir=tmp_path_factory.mktemp("kubesim"), ready_delay=0.2)
    sim.start()
    SENT_SECRETS.append(sim.token)
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def e2e_host(storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory,
             request: pytest.FixtureRequest):
    """The app with short waits and windows, on its own task hub so it can be killed without harming other
    suites. Each module's host has its own host id (so its timers are its own, not locked by another host's)
    and pending-work index; a module may override settings with a module-level `HOST_SETTINGS` dict."""
    module_id = uuid.uuid4().hex[:12]
    env = devhost_environment(storage_connection_string, SECRETS_ENCRYPTION_KEY=Fernet.generate_key().decode(),
                              STATUS_WAIT_TIMEOUT=STATUS_WAIT, SSH_KEY_ALGORITHM="rsa-4096",
                              STATUS_QUEUE_NAME=STATUS_QUEUE,
                              DELETE_WINDOW=DELETE_WINDOW, DELETE_WINDOW_FAILED=DELETE_WINDOW_FAILED,
                              AzureFunctionsJobHost__extensions__durableTask__hubName=E2E_HUB,
                              AzureFunctionsWebHost__hostid=f"e2e-{module_id}",
                              PENDING_WORK_TABLE=f"pendingwork{module_id}",
                              **getattr(request.module, "HOST_SETTINGS", {}))
    host = DevHost(app_dir=PROJECT_ROOT, env=env, log_dir=tmp_path_factory.mktemp("e2e-host"))
    host.start()
    yield host
    if host.process is not None and host.process.poll() is None:
        host.stop()


@dataclass
class Stack:
    api: ApiClient
    host: DevHost
    kubesim: KubeSimProcess
    cluster: str
    master_key: str

    def kube(self) -> k8s.ApiClient:
        return k8s_config.new_client_from_config(config_file=str(self.kubesim.kubeconfig_path))

    def put(self, name: str, properties: dict) -> dict:
        response = self.api.request("PUT", configuration_path(self.cluster, name), body={"properties": properties})
        assert response.status_code in (200, 201), response.text
        return response.json()

    def show(self, name: str) -> dict:
        return self.api.request("GET", configuration_path(self.cluster, name)).json()

    def instance_id(self, name: str, generation: int = 1) -> str:
        from shared.workflows import create_instance_id

        return create_instance_id(configuration_path(self.cluster, name), generation)

    def workflow(self, instance_id: str) -> dict:
        url = f"{self.host.base_url}/runtime/webhooks/durabletask/instances/{instance_id}"
        response = requests.get(url, params={"code": self.master_key}, timeout=30)
        return response.json() if response.status_code in (200, 202) else {}

    def wait_for_workflow(self, instance_id: str, *, custom_status: str | None = None, done: bool = False,
                          timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.workflow(instance_id)
            if done and status.get("runtimeStatus") in ("Completed", "Failed", "Terminated"):
                return status
            if custom_status and status.get("customStatus") == custom_status:
                return status
            time.sleep(0.2)
        raise AssertionError(f"workflow {instance_id} did not reach {custom_status or 'the end'}: {status}")

    def delete(self, name: str) -> str:
        """DELETE the configuration; returns its operation status URL."""
        response = self.api.request("DELETE", configuration_path(self.cluster, name))
        assert response.status_code == 200, response.text
        return response.headers["Azure-AsyncOperation"]

    def operation(self, status_url: str) -> dict:
        return self.api.session.get(status_url, headers={"x-functions-key": self.api.function_key}, timeout=30).json()

    def wait_for_operation(self, status_url: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while (body := self.operation(status_url))["status"] == "InProgress":
            assert time.monotonic() < deadline, f"operation still in progress: {body}"
            time.sleep(0.2)
        return body

    def terminate(self, instance_id: str, reason: str = "test") -> None:
        url = f"{self.host.base_url}/runtime/webhooks/durabletask/instances/{instance_id}/terminate"
        response = requests.post(url, params={"code": self.master_key, "reason": reason}, timeout=30)
        assert response.status_code == 202, response.text

    def log(self) -> str:
        """What the host printed since it last started (app logs included)."""
        return self.host.stdout() + self.host.stderr()

    def raise_status(self, instance_id: str, event: dict) -> None:
        url = f"{self.host.base_url}/runtime/webhooks/durabletask/instances/{instance_id}/raiseEvent/ComplianceStatus"
        response = requests.post(url, params={"code": self.master_key}, json=event, timeout=30)
        assert response.status_code == 202, response.text


@pytest.fixture(scope="module")
def stack(e2e_host: DevHost, kubesim: KubeSimProcess) -> Stack:
    keys = e2e_host.keys()
    api = ApiClient(e2e_host.base_url, keys["functionKeys"]["default"])
    cluster = cluster_path(f"e2e-{uuid.uuid4().hex[:8]}")
    kubeconfig = base64.b64encode(Path(kubesim.kubeconfig_path).read_bytes()).decode()
    response = api.request("PUT", cluster, body={"properties": {"kubeconfig": kubeconfig}})
    assert response.status_code == 201, response.text
    return Stack(api, e2e_host, kubesim, cluster, keys["masterKey"])


SEED_SYNCED_NAMESPACES = ("cluster-config", "team-a", "team-b", "itops")


def assert_seed_objects_synced(stack: Stack) -> None:
    """The demo repository's objects are on the cluster, each carrying Flux's gc-mark label."""
    kube = stack.kube()
    core, apps = k8s.CoreV1Api(kube), k8s.AppsV1Api(kube)
    synced = [core.read_namespace(name) for name in SEED_SYNCED_NAMESPACES]
    synced.append(apps.read_namespaced_deployment("arc-k8s-demo", "team-a"))
    synced.append(core.read_namespaced_config_map("endpoints", "team-a"))
    for obj in synced:
        assert obj.metadata.labels["fluxcd.io/sync-gc-mark"].startswith("sha256."), obj.metadata.name


@pytest.fixture()
def agent(stack: Stack, tmp_path: Path, storage_connection_string: str):
    """The cluster agent with local Flux sync, reporting to this module's status queue."""
    process = AgentProcess(kubeconfig=stack.kubesim.kubeconfig_path, connection_string=storage_connection_string,
                           queue=STATUS_QUEUE, log_path=tmp_path / "agent.log", cluster_id=stack.cluster,
                           extra_args=("--local-sync", "--work-dir", str(tmp_path / "sync")))
    process.start()
    yield process
    assert process.stop() == 0, process.log()


def exists(read) -> bool:
    """Whether the Kubernetes object `read()` fetches is there (404 means not; other errors propagate)."""
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def secret_identity(stack: Stack, namespace: str) -> bytes:
    secret = k8s.CoreV1Api(stack.kube()).read_namespaced_secret("flux-git-deploy", namespace)
    return base64.b64decode(secret.data["identity"])


def public_half(private_openssh: bytes) -> str:
    key = serialization.load_ssh_private_key(private_openssh, password=None)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
