"""An attack through re-registration (issue 17 point 2): pointing a cluster's registration at another API server
while configurations exist would push their deploy keys and https credentials to that server. Refused."""

from __future__ import annotations

import base64
import uuid

from stack.azurite import free_port
from tests.api.conftest import SENT_SECRETS, ApiClient, cluster_path, configuration_path, make_kubeconfig


def register(api: ApiClient, path: str, server: str):
    token = "kubetoken-" + uuid.uuid4().hex
    SENT_SECRETS.append(token)
    kubeconfig = base64.b64encode(make_kubeconfig(token, server).encode()).decode()
    return api.request("PUT", path, body={"properties": {"kubeconfig": kubeconfig}})


def test_re_registering_a_cluster_with_another_server_while_configurations_exist_is_refused(api: ApiClient):
    path = cluster_path(f"sec-{uuid.uuid4().hex[:10]}")
    server = f"https://127.0.0.1:{free_port()}"
    assert register(api, path, server).status_code == 201
    body = {"properties": {"repositoryUrl": "https://example.com/org/repo", "operatorScope": "cluster"}}
    assert api.request("PUT", configuration_path(path, "keys-here"), body=body).status_code == 201

    moved = register(api, path, "https://attacker.example.net:6443")
    assert moved.status_code == 409, moved.text
    error = moved.json()["error"]
    assert error["code"] == "ClusterHasConfigurations" and "'keys-here'" in error["message"], error
    assert error["target"] == "properties.kubeconfig"

    assert register(api, path, server).status_code == 200  # the same server with a new token is a replacement
