"""Chaos (issue 9): 50 configurations created, then half of them deleted, while the devhost is SIGKILLed and
restarted at seeded random moments. Clients retry as a real client would (the host is unreachable while
down). Everything must end where it should: the kept ones Installed with exactly one deploy key each, the
deleted ones gone from the API and the cluster, no status message lost (nothing poisoned), no 5xx answer.
"""

from __future__ import annotations

import base64
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient
from kubernetes import client as k8s

from shared.kube import list_labelled_objects
from shared.manifests import CONFIGURATION_LABEL, configuration_hash
from tests.api.conftest import SENT_SECRETS, ApiClient, client_of, cluster_path, configuration_path
from tests.e2e.conftest import public_half
from tests.fixtures.agent_process import AgentProcess
from tests.fixtures.devhost_process import DevHost, isolated_host
from tests.fixtures.kubesim_process import KubeSimProcess
from tests.fixtures.waiting import wait_for

SEED = 20261125
COUNT = 50
SSH_EVERY = 5  # every fifth configuration gets a generated deploy key
KILLS_PER_PHASE = 2
CLIENTS = 8  # concurrent callers: a kill can cut off the answer to as many requests as are in flight
RETRY_FOR = 180.0


@dataclass
class Chaos:
    host: DevHost
    api: ApiClient
    kubesim: KubeSimProcess
    cluster: str
    status_queue: str
    connection_string: str
    server_errors: list[str] = field(default_factory=list)

    def call(self, method: str, path: str, body: dict | None = None) -> requests.Response:
        """One API call, retried while the host is down or restarting (connection refused / reset)."""
        deadline = time.monotonic() + RETRY_FOR
        while True:
            try:
                response = self.api.request(method, path, body=body)
            except requests.ConnectionError:
                response = None
            if response is not None and response.status_code < 500:
                return response
            if response is not None:
                self.server_errors.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
            assert time.monotonic() < deadline, f"{method} {path} never answered"
            time.sleep(0.2)

    def operation(self, url: str) -> dict:
        path = "/" + url.split("/api/", 1)[1].split("?", 1)[0]
        return self.call("GET", path).json()

    def kills(self, rng: random.Random, *, within: float) -> threading.Thread:
        """A thread that SIGKILLs and restarts the host KILLS_PER_PHASE times at seeded moments."""
        moments = sorted(rng.uniform(0.5, within) for _ in range(KILLS_PER_PHASE))
        downtimes = [rng.uniform(0.2, 2.0) for _ in moments]

        def run() -> None:
            started = time.monotonic()
            for moment, downtime in zip(moments, downtimes, strict=True):
                time.sleep(max(0.0, started + moment - time.monotonic()))
                self.host.kill()
                time.sleep(downtime)
                self.host.start()

        thread = threading.Thread(target=run, name="chaos-kills")
        thread.start()
        return thread

    def all_in(self, names: list[str], state: str) -> bool:
        """Whether every configuration is in `state`; the others are printed (shown when a wait times out)."""
        states = {name: self.compliance(name) for name in names}
        others = {name: value for name, value in states.items() if value != state}
        print(f"not {state}: {others}")
        return not others

    def compliance(self, name: str) -> str:
        return self.call("GET", configuration_path(self.cluster, name)).json()["properties"]["complianceStatus"][
            "complianceState"]

    def objects_of(self, name: str) -> list[str]:
        selector = f"{CONFIGURATION_LABEL}={configuration_hash(configuration_path(self.cluster, name))}"
        return [f"{kind}/{obj['metadata']['name']}"
                for kind, obj in list_labelled_objects(self.kubesim.api_client(), selector)]


@pytest.fixture(scope="module")
def chaos(storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chaos]:
    work = tmp_path_factory.mktemp("chaos")
    kubesim = KubeSimProcess(work_dir=work / "kubesim", ready_delay=0.1).start()
    SENT_SECRETS.append(kubesim.token)
    host = isolated_host(storage_connection_string, work, STATUS_WAIT_TIMEOUT="00:04:00",
                         DELETE_WINDOW="00:02:00", CLEANUP_SCHEDULE="*/2 * * * * *", CLEANUP_GRACE="00:00:05")
    api = client_of(host)
    cluster = cluster_path("chaos-" + base64.b32encode(SEED.to_bytes(4, "big")).decode().strip("=").lower())
    kubeconfig = base64.b64encode(Path(kubesim.kubeconfig_path).read_bytes()).decode()
    assert api.request("PUT", cluster, body={"properties": {"kubeconfig": kubeconfig}}).status_code in (200, 201)
    queue = host.env["STATUS_QUEUE_NAME"]
    # NB: a status in flight when the host dies stays invisible in the queue for 10 minutes (as with the real
    # host); the agent's periodic re-send is what makes it good sooner.
    agent = AgentProcess(kubeconfig=kubesim.kubeconfig_path, connection_string=storage_connection_string,
                         queue=queue, log_path=work / "agent.log", cluster_id=cluster,
                         extra_args=("--resync-interval", "5")).start()
    yield Chaos(host, api, kubesim, cluster, queue, storage_connection_string)
    agent.stop()
    host.stop()
    kubesim.stop()


def spec(index: int) -> dict:
    url = "ssh://git@git.example.com/org/chaos.git" if index % SSH_EVERY == 0 else "https://example.com/org/chaos"
    return {"properties": {"repositoryUrl": url, "operatorInstanceName": f"chaos-{index}",
                           "operatorNamespace": f"chaos-{index}", "operatorScope": "cluster", "operatorType": "Flux"}}


def test_creates_and_deletes_survive_sigkills(chaos: Chaos):
    rng = random.Random(SEED)
    names = [f"chaos-{i}" for i in range(COUNT)]

    killer = chaos.kills(rng, within=8.0)
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(lambda i: chaos.call("PUT", configuration_path(chaos.cluster, names[i]), spec(i)),
                                range(COUNT)))
    killer.join()
    assert all(answer.status_code in (200, 201) for answer in answers)
    wait_for(lambda: chaos.all_in(names, "Installed"), timeout=240, interval=2,
             what="every configuration Installed after the kills")

    doomed = sorted(rng.sample(names, COUNT // 2))
    killer = chaos.kills(rng, within=6.0)
    with ThreadPoolExecutor(CLIENTS) as pool:
        deletes = list(pool.map(lambda name: chaos.call("DELETE", configuration_path(chaos.cluster, name)), doomed))
    killer.join()
    # NB: a DELETE whose answer a kill cut off is retried and finds its first attempt done (204); that first
    # attempt's operation is unknown to the client, so what it did is judged below by the API and the cluster.
    assert sorted({answer.status_code for answer in deletes}) in ([200], [200, 204]), \
        [answer.status_code for answer in deletes]
    operations = [answer.headers["Azure-AsyncOperation"] for answer in deletes if answer.status_code == 200]
    assert len(operations) >= len(doomed) - KILLS_PER_PHASE * CLIENTS
    wait_for(lambda: all(chaos.operation(url)["status"] != "InProgress" for url in operations), timeout=300,
             interval=2, what="every delete operation finished")
    assert [chaos.operation(url)["status"] for url in operations] == ["Succeeded"] * len(operations)
    wait_for(lambda: not any(chaos.objects_of(name) for name in doomed), timeout=120, interval=2,
             what="no operator object left of a deleted configuration")

    kept = [name for name in names if name not in doomed]
    core = k8s.CoreV1Api(chaos.kubesim.api_client())
    for name in kept:
        resource = chaos.call("GET", configuration_path(chaos.cluster, name)).json()["properties"]
        assert resource["complianceStatus"]["complianceState"] == "Installed", (name, resource)
        assert chaos.objects_of(name), name
        if int(name.rsplit("-", 1)[1]) % SSH_EVERY == 0:  # one key: the Secret holds the key the API shows
            identity = base64.b64decode(core.read_namespaced_secret("flux-git-deploy", name).data["identity"])
            SENT_SECRETS.append(identity.decode())
            assert public_half(identity) == " ".join(resource["repositoryPublicKey"].split()[:2]), name
    for name in doomed:
        assert chaos.call("GET", configuration_path(chaos.cluster, name)).status_code == 404
    with QueueClient.from_connection_string(chaos.connection_string, f"{chaos.status_queue}-poison") as poison:
        try:
            poisoned = poison.get_queue_properties().approximate_message_count
        except ResourceNotFoundError:
            poisoned = 0  # never created: nothing was ever poisoned
    assert poisoned == 0
    assert chaos.server_errors == []
