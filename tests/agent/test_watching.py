"""The agent as a real subprocess against kubesim and Azurite: what it sends, and what it does not."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from kubernetes import client

from tests.agent.conftest import (
    CLUSTER_ID,
    OTHER_CLUSTER_ID,
    AgentProcess,
    StatusQueue,
    configuration_id,
    flux_deployment,
)
from tests.fixtures.kubesim_process import KubeSimProcess


def states(messages: list[dict], config_id: str) -> list[str]:
    return [m["complianceState"] for m in messages if m["configurationId"] == config_id]


def test_available_flux_deployment_sends_one_installed(apps: client.AppsV1Api, agent: AgentProcess,
                                                       status_queue: StatusQueue) -> None:
    config_id = configuration_id("cluster-config")
    before = datetime.now(UTC)
    apps.create_namespaced_deployment("default", flux_deployment(instance="cluster-config", config_id=config_id))

    messages = status_queue.wait_for(lambda ms: len(ms) >= 1)
    assert len(messages) == 1
    message = messages[0]
    assert message["configurationId"] == config_id
    assert message["complianceState"] == "Installed"
    assert message["messageLevel"] == "Information"
    assert message["operatorMessage"] is None and message["clusterState"] is None
    observed = datetime.fromisoformat(message["observedAt"])
    assert before <= observed <= datetime.now(UTC)
    assert message["lastConfigApplied"] == message["observedAt"]

    # the same state again (a status write, a label change) sends nothing more
    seen = agent.log().count('"event": "deployment.seen"')
    apps.patch_namespaced_deployment("cluster-config", "default", {"metadata": {"labels": {"touched": "yes"}}})
    agent.wait_for_log('"event": "deployment.seen"', count=seen + 1)
    time.sleep(1.5)
    assert len(status_queue.drain()) == 1


def test_image_pull_failure_sends_failed_then_installed_after_fix(
        kubesim: KubeSimProcess, apps: client.AppsV1Api, agent: AgentProcess, status_queue: StatusQueue) -> None:
    config_id = configuration_id("broken")
    kubesim.set_fault("docker.io/fluxcd/flux:*", reason="ImagePullBackOff",
                      message='Back-off pulling image "{image}"')
    apps.create_namespaced_deployment("default", flux_deployment(instance="broken", config_id=config_id))

    messages = status_queue.wait_for(lambda ms: "Failed" in states(ms, config_id))
    assert states(messages, config_id) == ["Failed"]
    failed = messages[0]
    assert failed["messageLevel"] == "Error"
    assert failed["message"].startswith("flux deployment unavailable: ImagePullBackOff")
    assert "docker.io/fluxcd/flux:1.16.0" in failed["message"]

    kubesim.clear_faults()
    apps.patch_namespaced_deployment("broken", "default", {"spec": {"template": {"metadata": {
        "annotations": {"kubectl.kubernetes.io/restartedAt": datetime.now(UTC).isoformat()}}}}})
    messages = status_queue.wait_for(lambda ms: states(ms, config_id)[-1:] == ["Installed"])
    assert states(messages, config_id) == ["Failed", "Installed"]


def test_other_clusters_and_unannotated_deployments_are_ignored(
        apps: client.AppsV1Api, agent: AgentProcess, status_queue: StatusQueue) -> None:
    apps.create_namespaced_deployment("default", flux_deployment(
        instance="elsewhere", config_id=configuration_id("elsewhere", OTHER_CLUSTER_ID)))
    plain = flux_deployment(instance="plain", config_id="")
    del plain["metadata"]["annotations"]
    apps.create_namespaced_deployment("default", plain)
    mine = configuration_id("mine").upper()  # ids compare case-insensitively
    apps.create_namespaced_deployment("default", flux_deployment(instance="mine", config_id=mine))

    messages = status_queue.wait_for(lambda ms: len(ms) >= 1)
    time.sleep(1.0)
    assert [m["configurationId"] for m in status_queue.drain()] == [mine]
    assert messages[0]["complianceState"] == "Installed"


def test_agent_resumes_after_kubesim_restart_with_410(
        kubesim: KubeSimProcess, apps: client.AppsV1Api, agent: AgentProcess, status_queue: StatusQueue) -> None:
    first = configuration_id("first")
    apps.create_namespaced_deployment("default", flux_deployment(instance="first", config_id=first))
    status_queue.wait_for(lambda ms: len(ms) == 1)
    client.CoreV1Api(kubesim.api_client()).create_namespaced_config_map(  # unseen by the agent's watch
        "default", {"metadata": {"name": "moves-the-resource-version"}})
    time.sleep(0.5)  # the state file is written 0.2 s after changes

    kubesim.kill()  # the state survives (persist=True), the watch history does not
    kubesim.start()
    agent.wait_for_log('"event": "watch.expired"', timeout=15)
    agent.wait_for_log('"event": "watch.listed"', count=2)
    second = configuration_id("second")
    apps = client.AppsV1Api(kubesim.api_client())
    apps.create_namespaced_deployment("default", flux_deployment(instance="second", config_id=second))
    messages = status_queue.wait_for(lambda ms: second in [m["configurationId"] for m in ms])
    assert states(messages, first) == ["Installed"]  # the re-list found it unchanged: not sent again
    assert states(messages, second) == ["Installed"]


def test_deleted_deployment_is_forgotten_and_sigterm_stops_cleanly(
        apps: client.AppsV1Api, agent: AgentProcess, status_queue: StatusQueue) -> None:
    config_id = configuration_id("gone")
    apps.create_namespaced_deployment("default", flux_deployment(instance="gone", config_id=config_id))
    status_queue.wait_for(lambda ms: len(ms) == 1)
    apps.delete_namespaced_deployment("gone", "default")
    agent.wait_for_log('"event": "status.forgotten"')
    time.sleep(1.0)
    assert len(status_queue.drain()) == 1  # a deletion sends nothing

    # a new Deployment for the same configuration is a new state: reported again
    apps.create_namespaced_deployment("default", flux_deployment(instance="gone", config_id=config_id))
    status_queue.wait_for(lambda ms: len(ms) == 2)
    assert agent.stop() == 0
    assert '"event": "agent.stopped"' in agent.log()


def test_resync_re_lists_and_re_sends_the_last_state(kubesim: KubeSimProcess, apps: client.AppsV1Api,
                                                     storage_connection_string: str, status_queue: StatusQueue,
                                                     tmp_path) -> None:
    """Every --resync-interval the agent lists the Deployments again (what a watch resume missed is seen)
    and sends each configuration's last state again, newly observed."""
    config_id = configuration_id("resynced")
    apps.create_namespaced_deployment("default", flux_deployment(instance="resynced", config_id=config_id))
    agent = AgentProcess(kubeconfig=kubesim.kubeconfig_path, connection_string=storage_connection_string,
                         queue=status_queue.name, log_path=tmp_path / "resync.log", cluster_id=CLUSTER_ID,
                         extra_args=("--resync-interval", "1")).start()
    try:
        agent.wait_for_log('"event": "watch.listed"', count=3, timeout=90)
        messages = status_queue.wait_for(lambda ms: len(ms) >= 2, timeout=30)
    finally:
        assert agent.stop() == 0, agent.log()
    assert states(messages, config_id)[:2] == ["Installed", "Installed"]
    assert messages[1]["observedAt"] > messages[0]["observedAt"]
