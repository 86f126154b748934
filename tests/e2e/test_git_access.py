"""Issue 6 end to end: private repositories over http basic auth and ssh (the Flux-generated key), and
garbage collection, through HTTP, the devhost, kubesim, the agent's local Flux sync and real git servers."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest
from kubernetes import client as k8s

from stack.demo_repository import GitDaemon, make_demo_repository, remove_files
from tests.api.conftest import SENT_SECRETS
from tests.e2e.conftest import Stack, assert_seed_objects_synced, exists
from tests.fixtures.agent_process import AgentProcess
from tests.fixtures.git_servers import GitHttpServer, SshServer, generate_ed25519_key, sshd_available
from tests.fixtures.waiting import wait_for

OPERATOR = {"operatorScope": "cluster", "operatorType": "Flux"}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def compliance(stack: Stack, name: str) -> dict:
    return stack.show(name)["properties"]["complianceStatus"]


def settles(stack: Stack, name: str, state: str, timeout: float = 90) -> dict:
    return wait_for(lambda: (s := compliance(stack, name))["complianceState"] == state and s, timeout=timeout,
                    what=f"{name} to become {state}")


def test_private_repository_over_http_with_basic_auth(stack: Stack, tmp_path: Path, agent: AgentProcess):
    password = "pw-" + secrets.token_hex(12)
    SENT_SECRETS.append(password)
    make_demo_repository(tmp_path / "repos" / "arc-k8s-demo.git")
    with GitHttpServer(project_root=tmp_path / "repos", user="flux", password=password) as server:
        stack.put("http-config", {**OPERATOR, "repositoryUrl": server.url("arc-k8s-demo.git"),
                                  "operatorInstanceName": "http-flux", "operatorNamespace": "http-ns",
                                  "configurationProtectedSettings": {"httpsUser": b64("flux"),
                                                                     "httpsKey": b64(password)}})
        settles(stack, "http-config", "Installed")

    assert_seed_objects_synced(stack)


@pytest.mark.skipif(not sshd_available(), reason="sshd (Debian openssh-server) is not installed or not root")
def test_ssh_with_the_generated_key_fails_until_authorized_and_a_wrong_host_key_fails(
        stack: Stack, tmp_path: Path, agent: AgentProcess):
    repo = tmp_path / "repos" / "arc-k8s-demo.git"
    make_demo_repository(repo)
    with SshServer(work_dir=tmp_path / "sshd", authorized_keys=[]) as server:
        params = "--git-poll-interval=1s"
        stack.put("ssh-private", {**OPERATOR, "repositoryUrl": server.url(repo), "operatorParams": params,
                                  "operatorInstanceName": "ssh-private", "operatorNamespace": "ssh-private",
                                  "sshKnownHostsContents": b64(server.known_hosts_line + "\n")})
        denied = settles(stack, "ssh-private", "Failed")
        assert "Permission denied" in denied["message"], denied

        public_key = stack.show("ssh-private")["properties"]["repositoryPublicKey"]
        assert public_key.startswith("ssh-rsa ")
        with open(tmp_path / "sshd" / "authorized_keys", "a") as keys:
            keys.write(public_key + "\n")
        installed = settles(stack, "ssh-private", "Installed")
        assert installed["messageLevel"] == "Information"
        k8s.AppsV1Api(stack.kube()).read_namespaced_deployment("arc-k8s-demo", "team-a")

        stranger = generate_ed25519_key(tmp_path / "stranger")
        wrong_hosts = f"[127.0.0.1]:{server.port} " + " ".join(stranger.split()[:2]) + "\n"
        stack.put("ssh-wrong-host", {**OPERATOR, "repositoryUrl": server.url(repo), "operatorParams": params,
                                     "operatorInstanceName": "ssh-wrong", "operatorNamespace": "ssh-wrong",
                                     "sshKnownHostsContents": b64(wrong_hosts)})
        refused = settles(stack, "ssh-wrong-host", "Failed")
        assert "Host key verification failed" in refused["message"], refused


def namespaced_configmap(namespace: str, name: str) -> dict[str, str]:
    return {
        f"{namespace}/namespace.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n",
        f"{namespace}/{name}.yaml": (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
                                     f"  namespace: {namespace}\ndata:\n  a: b\n"),
    }


def test_a_removed_manifest_is_collected_only_with_sync_garbage_collection(
        stack: Stack, tmp_path: Path, agent: AgentProcess):
    repos = tmp_path / "repos"
    make_demo_repository(repos / "collect.git", files=namespaced_configmap("gc-on", "doomed"))
    make_demo_repository(repos / "keep.git", files=namespaced_configmap("gc-off", "kept"))
    core = k8s.CoreV1Api(stack.kube())
    with GitDaemon(base_path=repos) as daemon:
        for name, repo, params in (("gc-on", "collect.git", "--sync-garbage-collection --git-poll-interval=1s"),
                                   ("gc-off", "keep.git", "--git-poll-interval=1s")):
            stack.put(name, {**OPERATOR, "repositoryUrl": daemon.url(repo), "operatorParams": params,
                             "operatorInstanceName": f"{name}-flux", "operatorNamespace": f"{name}-operator"})
            settles(stack, name, "Installed")
        assert core.read_namespaced_config_map("doomed", "gc-on")
        assert core.read_namespaced_config_map("kept", "gc-off")

        remove_files(repos / "collect.git", ["gc-on/doomed.yaml"])
        kept_commit = remove_files(repos / "keep.git", ["gc-off/kept.yaml"])
        wait_for(lambda: not exists(lambda: core.read_namespaced_config_map("doomed", "gc-on")), timeout=60,
                 what="the removed ConfigMap to be collected")
        wait_for(lambda: kept_commit in agent.log(), timeout=60,
                 what="the configuration without garbage collection to sync the removal commit")

    assert core.read_namespaced_config_map("kept", "gc-off")
