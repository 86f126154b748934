"""The seed tutorial's flow end to end: HTTP PUT -> workflow -> kubesim -> agent (local Flux sync from a real
git daemon) -> status queue -> status handler -> Installed, with the repository's objects on the cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from stack.demo_repository import GitDaemon, commit_time, make_demo_repository
from tests.e2e.conftest import Stack, assert_seed_objects_synced
from tests.fixtures.agent_process import AgentProcess
from tests.fixtures.waiting import wait_for

SEED = {"operatorInstanceName": "cluster-config", "operatorNamespace": "cluster-config",
        "operatorScope": "cluster", "operatorType": "Flux"}


def test_seed_flow_goes_pending_to_installed_and_syncs_the_demo_repository(
        stack: Stack, tmp_path: Path, agent: AgentProcess):
    repos = tmp_path / "repos"
    make_demo_repository(repos / "arc-k8s-demo.git")
    with GitDaemon(base_path=repos) as daemon:
        created = stack.put("seed-config", {**SEED, "repositoryUrl": daemon.url("arc-k8s-demo.git")})
        assert created["properties"]["complianceStatus"]["complianceState"] == "Pending"

        status = wait_for(lambda: (s := stack.show("seed-config")["properties"]["complianceStatus"])
                          ["complianceState"] != "Pending" and s, timeout=90, what="the agent's status")

    assert status["complianceState"] == "Installed", status
    assert status["messageLevel"] == "Information"
    committed = datetime.fromtimestamp(commit_time(repos / "arc-k8s-demo.git", "master"), UTC)
    assert datetime.fromisoformat(status["lastConfigApplied"]) == committed
    workflow = stack.wait_for_workflow(stack.instance_id("seed-config"), done=True)
    assert workflow["output"] == "Installed"

    assert_seed_objects_synced(stack)
