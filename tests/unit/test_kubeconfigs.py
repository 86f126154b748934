"""The kubeconfig allow-list (shared/kubeconfigs.py) and the bounded YAML loader (shared/safe_yaml.py)."""

from __future__ import annotations

import copy

import pytest
import yaml

from shared import safe_yaml
from shared.kube import ClusterUnreachableError, api_client
from shared.kubeconfigs import KubeconfigRefused, server_identity, vet_kubeconfig

BASE = {
    "apiVersion": "v1", "kind": "Config", "preferences": {},
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "users": [{"name": "u", "user": {"token": "t0ken"}}],
    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "default"}}],
    "current-context": "x",
}


def kubeconfig(change=None) -> str:
    document = copy.deepcopy(BASE)
    if change:
        change(document)
    return yaml.safe_dump(document)


def test_an_inline_kubeconfig_is_vetted_to_its_credentials():
    credentials = vet_kubeconfig(kubeconfig())
    assert (credentials.server, credentials.token, credentials.insecure) == ("https://127.0.0.1:6443", "t0ken", False)
    assert "t0ken" not in repr(credentials)


@pytest.mark.parametrize(("section", "key", "value", "field"), [
    ("users", "exec", {"command": "sh", "args": ["-c", "id"]}, "users[0].user.exec"),
    ("users", "auth-provider", {"name": "gcp"}, "users[0].user.auth-provider"),
    ("users", "tokenFile", "/etc/passwd", "users[0].user.tokenFile"),
    ("users", "client-certificate", "/etc/cert", "users[0].user.client-certificate"),
    ("users", "client-key", "/etc/key", "users[0].user.client-key"),
    ("clusters", "certificate-authority", "/etc/ca", "clusters[0].cluster.certificate-authority"),
    ("clusters", "proxy-url", "http://evil:3128", "clusters[0].cluster.proxy-url"),
    ("clusters", "tls-server-name", "x", "clusters[0].cluster.tls-server-name"),
])
def test_anything_that_runs_reads_or_reaches_is_refused_by_name(section, key, value, field):
    def add(document):
        document[section][0][section[:-1]][key] = value
    with pytest.raises(KubeconfigRefused, match=field.replace("[", r"\[").replace("]", r"\]")):
        vet_kubeconfig(kubeconfig(add))


def test_an_unused_user_with_exec_is_refused_too():
    def add(document):
        document["users"].append({"name": "other", "user": {"exec": {"command": "id"}}})
    with pytest.raises(KubeconfigRefused, match=r"users\[1\]\.user\.exec"):
        vet_kubeconfig(kubeconfig(add))


def test_an_http_server_is_refused():
    def plain(document):
        document["clusters"][0]["cluster"]["server"] = "http://127.0.0.1:8080"
    with pytest.raises(KubeconfigRefused, match=r"clusters\[0\]\.cluster\.server must be an https URL"):
        vet_kubeconfig(kubeconfig(plain))


def test_a_refused_kubeconfig_never_becomes_a_client():
    def add(document):
        document["users"][0]["user"]["exec"] = {"command": "id"}
    with pytest.raises(ClusterUnreachableError, match=r"refused: users\[0\]\.user\.exec"):
        api_client(kubeconfig(add))


def test_the_client_is_built_from_the_vetted_fields_without_urllib3_retries():
    client = api_client(kubeconfig())
    assert client.configuration.host == "https://127.0.0.1:6443"
    assert client.configuration.api_key == {"authorization": "Bearer t0ken"}
    assert client.configuration.retries is False


def test_server_identity_ignores_the_credentials():
    def new_token(document):
        document["users"][0]["user"]["token"] = "other"

    def new_server(document):
        document["clusters"][0]["cluster"]["server"] = "https://10.0.0.1"
    assert server_identity(kubeconfig()) == server_identity(kubeconfig(new_token))
    assert server_identity(kubeconfig()) != server_identity(kubeconfig(new_server))


@pytest.mark.parametrize("text", [
    "a: &x [1, 2]\nb: *x\n",
    "a: &x {k: 1}\nb:\n  <<: *x\n",
    "[" * 5000 + "]" * 5000,
    "x: " + "a" * 2000,
])
def test_the_loader_refuses_aliases_depth_and_size(text):
    with pytest.raises(yaml.YAMLError):
        safe_yaml.load(text, max_chars=1000)


def test_the_loader_reads_plain_documents():
    assert safe_yaml.load_all("a: &anchor 1\n---\nb: [2]\n", max_chars=100) == [{"a": 1}, {"b": [2]}]


def test_the_agent_fails_a_sync_on_an_alias_bomb_with_a_clear_message(tmp_path):
    from agent.syncing import ManifestError, read_manifests
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}] " for i in range(8)]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError, match=r"invalid YAML in bomb.yaml line 2: YAML aliases"):
        read_manifests(tmp_path, [])
