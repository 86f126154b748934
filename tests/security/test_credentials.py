"""An attack on stored credentials (issue 17 point 2): a PUT that only moves the repository URL to another host
must not hand the https credentials (or private key) given for the old host to the new one."""

from __future__ import annotations

import base64
import secrets
import uuid

from tests.api.conftest import SENT_SECRETS, ApiClient, cluster_path, configuration_path


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_moving_the_url_to_another_host_does_not_carry_the_https_credentials_over(api: ApiClient):
    cluster = cluster_path(f"sec-{uuid.uuid4().hex[:10]}")
    api.register_cluster(cluster)
    path = configuration_path(cluster, "bound")
    key = "pat-" + secrets.token_hex(16)
    SENT_SECRETS.append(key)
    created = api.request("PUT", path, body={"properties": {
        "repositoryUrl": "https://git.example.com/org/repo",
        "configurationProtectedSettings": {"httpsUser": b64("deploy"), "httpsKey": b64(key)}}})
    assert created.status_code == 201, created.text

    for elsewhere in ("https://attacker.example.net/org/repo", "http://git.example.com/org/repo",
                      "https://git.example.com:8443/org/repo"):
        moved = api.request("PUT", path, body={"properties": {"repositoryUrl": elsewhere}})
        assert moved.status_code == 400, moved.text
        error = moved.json()["error"]
        assert error["target"] == "properties.configurationProtectedSettings"
        assert "httpsKey, httpsUser" in error["message"], error
        assert api.request("GET", path).json()["properties"]["repositoryUrl"] == "https://git.example.com/org/repo"

    same_host = api.request("PUT", path, body={"properties": {"repositoryUrl": "https://git.example.com/org/other"}})
    assert same_host.status_code == 200, same_host.text  # another path on the same server keeps them
    cleared = api.request("PUT", path, body={"properties": {
        "repositoryUrl": "https://attacker.example.net/org/repo",
        "configurationProtectedSettings": {"httpsUser": "", "httpsKey": ""}}})
    assert cleared.status_code == 200, cleared.text  # cleared explicitly: the move is accepted without them
