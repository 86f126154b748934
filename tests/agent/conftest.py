"""Fixtures for the agent tests: kubesim, the agent as a real subprocess, and a queue reader."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.queue import QueueClient
from kubernetes import client

from tests.fixtures.agent_process import AgentProcess
from tests.fixtures.kubesim_process import KubeSimProcess, running_kubesim

CLUSTER_ID = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/AgentTest/providers/"
              "Microsoft.Kubernetes/connectedClusters/AgentCluster")
OTHER_CLUSTER_ID = CLUSTER_ID[:-len("AgentCluster")] + "OtherCluster"


def configuration_id(name: str, cluster_id: str = CLUSTER_ID) -> str:
    return f"{cluster_id}/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations/{name}"


def flux_deployment(*, instance: str, config_id: str, image: str = "docker.io/fluxcd/flux:1.16.0") -> dict:
    selector = {"instanceName": instance, "name": "flux"}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": instance, "labels": {**selector, "gitops.azure.local/configuration": "h"},
                     "annotations": {"gitops.azure.local/configuration-id": config_id}},
        "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                 "template": {"metadata": {"labels": selector},
                              "spec": {"containers": [{"name": "flux", "image": image}]}}},
    }


class StatusQueue:
    """Reads (and deletes) the agent's messages, decoding base64 JSON itself as the trigger would."""

    def __init__(self, connection_string: str, name: str) -> None:
        self.name = name
        self.client = QueueClient.from_connection_string(connection_string, name)
        self.messages: list[dict[str, Any]] = []

    def drain(self) -> list[dict[str, Any]]:
        try:
            for message in self.client.receive_messages(messages_per_page=32, visibility_timeout=30):
                self.messages.append(json.loads(base64.b64decode(message.content)))
                self.client.delete_message(message)
        except Exception as exc:  # the queue may not exist until the agent creates it
            if "QueueNotFound" not in str(exc):
                raise
        return self.messages

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.drain()):
                return self.messages
            time.sleep(0.1)
        raise AssertionError(f"queue {self.name} never matched; messages: {self.messages}")


@pytest.fixture
def kubesim(tmp_path: Path) -> Iterator[KubeSimProcess]:
    # NB: rare bookmarks, so the agent's resourceVersion stays behind changes it does not watch
    # (ConfigMaps) and a restart makes its resume answer 410 Gone
    with running_kubesim(tmp_path / "kubesim", ready_delay=0.1, persist=True,
                         extra_args=["--bookmark-interval", "60"]) as sim:
        yield sim


@pytest.fixture
def apps(kubesim: KubeSimProcess) -> client.AppsV1Api:
    return client.AppsV1Api(kubesim.api_client())


@pytest.fixture
def status_queue(storage_connection_string: str) -> StatusQueue:
    return StatusQueue(storage_connection_string, f"status-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def agent(kubesim: KubeSimProcess, storage_connection_string: str, status_queue: StatusQueue,
          tmp_path: Path) -> Iterator[AgentProcess]:
    process = AgentProcess(kubeconfig=kubesim.kubeconfig_path, connection_string=storage_connection_string,
                           queue=status_queue.name, log_path=tmp_path / "agent.log", cluster_id=CLUSTER_ID).start()
    try:
        yield process
    finally:
        code = process.stop()
        assert code == 0, process.log()
