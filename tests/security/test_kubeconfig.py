"""Attacks through a kubeconfig (issue 17 point 1): nothing a user registers may run a command, read a file of
the service's machine or reach another host, at registration or when a stored kubeconfig is loaded later."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest

from shared.clusters import put_cluster
from shared.resource_ids import ClusterId
from shared.secrets import SecretBox
from tests.api.conftest import ApiClient, cluster_path, configuration_path
from tests.fixtures.devhost_process import DevHost
from tests.fixtures.waiting import wait_for

SERVER = "https://127.0.0.1:1"


def kubeconfig(user: str, cluster: str = f"    server: {SERVER}\n") -> str:
    return ("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n" + cluster +
            "contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n"
            "users:\n- name: u\n  user:\n" + user)


def exec_user(marker: Path) -> str:
    return ("    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: sh\n"
            f"      args: ['-c', 'id > {marker}; echo {{}}']\n")


def register(api: ApiClient, text: str, name: str | None = None):
    path = cluster_path(name or f"sec-{uuid.uuid4().hex[:10]}")
    encoded = base64.b64encode(text.encode()).decode()
    return path, api.request("PUT", path, body={"properties": {"kubeconfig": encoded}})


def assert_refused(api: ApiClient, path: str, response, field: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert field in error["message"] and error["target"] == "properties.kubeconfig", error
    assert api.request("GET", path).status_code == 404  # nothing was stored


def test_an_exec_kubeconfig_is_refused_at_registration_and_its_command_never_runs(api: ApiClient, tmp_path: Path):
    marker = tmp_path / "exec-ran"
    path, response = register(api, kubeconfig(exec_user(marker)))
    assert_refused(api, path, response, "exec")
    assert not marker.exists()


def test_a_stored_exec_kubeconfig_is_never_loaded_and_the_workflow_fails_naming_it(
        api: ApiClient, app_host: DevHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A row stored before the allow-list existed: the workflow refuses to load it."""
    marker = tmp_path / "exec-ran-later"
    name = f"sec-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("AzureWebJobsStorage", app_host.env["AzureWebJobsStorage"])
    sealed = SecretBox([app_host.env["SECRETS_ENCRYPTION_KEY"]]).seal(kubeconfig(exec_user(marker)))
    cluster = ClusterId(subscription="00000000-0000-0000-0000-000000000000", resource_group="AzureArcTest",
                        provider="Microsoft.Kubernetes", resource_type="connectedClusters", name=name)
    put_cluster(cluster=cluster, sealed_kubeconfig=sealed, now="2026-01-01T00:00:00Z")
    configuration = configuration_path(cluster_path(name), "planted")
    body = {"properties": {"repositoryUrl": "https://example.com/org/repo", "operatorScope": "cluster"}}
    assert api.request("PUT", configuration, body=body).status_code == 201

    status = wait_for(lambda: (s := api.request("GET", configuration).json()["properties"]["complianceStatus"])
                      ["complianceState"] == "Failed" and s, timeout=60, what="the workflow failed")
    assert "exec" in status["message"] and "refused" in status["message"], status
    assert not marker.exists()


@pytest.mark.parametrize(("user", "cluster", "field"), [
    ("    tokenFile: /etc/passwd\n", None, "tokenFile"),
    ("    auth-provider:\n      name: gcp\n      config:\n        cmd-path: /bin/sh\n", None, "auth-provider"),
    ("    client-certificate: /etc/ssl/private/host.crt\n    client-key: /etc/ssl/private/host.key\n", None,
     "client-certificate"),
    ("    token: t\n", f"    server: {SERVER}\n    certificate-authority: /etc/ssl/certs/ca.pem\n",
     "certificate-authority"),
    ("    token: t\n", f"    server: {SERVER}\n    proxy-url: http://169.254.169.254:80\n", "proxy-url"),
    ("    token: t\n", "    server: http://127.0.0.1:10000\n", "https"),
], ids=["tokenFile", "auth-provider", "client-cert-path", "ca-path", "proxy-url", "plain-http"])
def test_a_kubeconfig_that_reads_files_or_reaches_elsewhere_is_refused(
        api: ApiClient, user: str, cluster: str | None, field: str):
    path, response = register(api, kubeconfig(user, cluster or f"    server: {SERVER}\n"))
    assert_refused(api, path, response, field)


def test_an_alias_bomb_is_refused_at_once(api: ApiClient):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
              f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]" for i in range(8)]
    path, response = register(api, kubeconfig("    token: t\n") + "\n".join(lines) + "\n")
    assert_refused(api, path, response, "alias")


def test_a_deeply_nested_kubeconfig_is_refused(api: ApiClient):
    path, response = register(api, kubeconfig("    token: t\n") + "preferences: " + "[" * 5000 + "]" * 5000 + "\n")
    assert response.status_code == 400, response.text
    assert api.request("GET", path).status_code == 404
