"""One kubesim process for the suite (a real subprocess over HTTPS), and clients built from its kubeconfig."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.fixtures.kubesim_process import KubeSimProcess, running_kubesim


@pytest.fixture(scope="session")
def kubesim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeSimProcess]:
    with running_kubesim(tmp_path_factory.mktemp("kubesim"), ready_delay=0.1) as sim:
        yield sim


@pytest.fixture(scope="session")
def api(kubesim: KubeSimProcess) -> Iterator[client.ApiClient]:
    api_client = kubesim.api_client()
    yield api_client
    api_client.close()


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture
def namespace(core: client.CoreV1Api) -> str:
    """A fresh namespace per test, so tests never see each other's objects."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    return name
