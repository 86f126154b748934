"""Issue 9: Azurite stopped and started again (same data folder) in the middle of running workflows; the host,
the agent and every workflow carry on once storage is back, and nothing that was accepted is lost."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import requests

from stack.azurite import Azurite
from tests.api.conftest import SENT_SECRETS, ApiClient, client_of, cluster_path, configuration_path
from tests.fixtures.agent_process import AgentProcess
from tests.fixtures.devhost_process import isolated_host
from tests.fixtures.kubesim_process import KubeSimProcess
from tests.fixtures.waiting import wait_for

OUTAGE_SECONDS = 4


def spec(name: str) -> dict:
    return {"properties": {"repositoryUrl": "https://example.com/org/outage", "operatorInstanceName": name,
                           "operatorNamespace": name, "operatorScope": "cluster", "operatorType": "Flux"}}


def state_of(api: ApiClient, path: str) -> str | None:
    try:
        response = api.request("GET", path)
    except requests.ConnectionError:
        return None
    return response.json()["properties"]["complianceStatus"]["complianceState"] if response.ok else None


def test_workflows_resume_after_azurite_restarts(tmp_path: Path):
    with Azurite(data_dir=tmp_path / "azurite", log_file=tmp_path / "azurite.log") as azurite:
        kubesim = KubeSimProcess(work_dir=tmp_path / "kubesim", ready_delay=0.1).start()
        SENT_SECRETS.append(kubesim.token)
        connection = azurite.ports.connection_string
        host = isolated_host(connection, tmp_path, STATUS_WAIT_TIMEOUT="00:03:00", DELETE_WINDOW="00:01:00")
        agent = None
        try:
            api = client_of(host)
            cluster = cluster_path("outage")
            kubeconfig = base64.b64encode(Path(kubesim.kubeconfig_path).read_bytes()).decode()
            assert api.request("PUT", cluster, body={"properties": {"kubeconfig": kubeconfig}}).status_code == 201
            before = [configuration_path(cluster, f"before-{i}") for i in range(5)]
            for path in before:
                assert api.request("PUT", path, body=spec(path.rsplit("/", 1)[1])).status_code == 201

            azurite.stop()  # workflows are mid-flight: applying, or waiting for a status no agent sends yet
            time.sleep(OUTAGE_SECONDS)
            azurite.start()

            agent = AgentProcess(kubeconfig=kubesim.kubeconfig_path, connection_string=connection,
                                 queue=host.env["STATUS_QUEUE_NAME"], log_path=tmp_path / "agent.log",
                                 cluster_id=cluster, extra_args=("--resync-interval", "3")).start()
            wait_for(lambda: all(state_of(api, path) == "Installed" for path in before), timeout=180, interval=1,
                     what="the configurations accepted before the outage to be Installed")

            after = configuration_path(cluster, "after")
            assert api.request("PUT", after, body=spec("after")).status_code == 201
            wait_for(lambda: state_of(api, after) == "Installed", timeout=60, interval=0.5,
                     what="a configuration created after the outage to be Installed")
            deleted = api.request("DELETE", before[0])
            assert deleted.status_code == 200
            status_path = "/" + deleted.headers["Azure-AsyncOperation"].split("/api/", 1)[1].split("?", 1)[0]
            operation = wait_for(lambda: (body := api.request("GET", status_path).json())["status"] != "InProgress"
                                 and body, timeout=60, interval=0.5, what="the delete after the outage")
            assert operation["status"] == "Succeeded", operation
        finally:
            if agent is not None:
                agent.stop()
            host.stop()
            kubesim.stop()
