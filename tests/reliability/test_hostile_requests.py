"""Hostile requests on every route: each gets a clear 4xx (an ARM error, or an empty 404 where no route
matches), stores nothing and starts no workflow.

Why: SPEC section 2 promises "never a 500 for anything a client sent" and "bad input persists nothing and
starts nothing"; attackers and broken clients send exactly these shapes (traversal, encodings, control
characters, oversized or ambiguous JSON, other media types).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from urllib.parse import unquote

import pytest
import requests

from tests.api.conftest import API_VERSION, SENT_SECRETS, SUBSCRIPTION, ApiClient, cluster_path
from tests.reliability.conftest import Cluster, assert_arm_error, nothing_changes, sent_kubeconfig

SEED = {"repositoryUrl": "https://github.com/Azure/arc-k8s-demo", "operatorNamespace": "cluster-config"}
CONFIGURATIONS = "/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations"
JSON = {"content-type": "application/json"}
HTTPS_KEY = base64.b64encode(b"hostile-https-key-0f3a9c").decode()
SENT_SECRETS.append(HTTPS_KEY)
SENT_SECRETS.append(base64.b64decode(HTTPS_KEY).decode())


@dataclass(frozen=True)
class Hostile:
    """One request; `{cluster}` in the path is the registered cluster's path, `{config}` a configuration's."""

    id: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    status: int = 400
    arm_error: bool = True


def configuration_body(**properties) -> bytes:
    return json.dumps({"properties": {**SEED, **properties}}).encode()


def nested(depth: int) -> bytes:
    return b'{"properties": ' + b"[" * depth + b"]" * depth + b"}"


CONFIG = "{cluster}" + CONFIGURATIONS + "/hostile-config"
NAMES = {  # a configuration, cluster, resource group or operation name as it appears in the raw URL
    "encoded-slash-traversal": "..%2F..%2Fclusters",
    "encoded-dot-traversal": "%2e%2e",
    "backslash-traversal": "..%5C..%5Cclusters",
    "nul-byte": "name%00",
    "newline": "name%0A",
    "carriage-return-injection": "name%0D%0AX-Injected:%201",
    "right-to-left-override": "name%E2%80%AEevil",
    "cyrillic-lookalike": "n%D0%B0me",
    "lone-surrogate-bytes": "name%ED%A0%80",
}

CASES: list[Hostile] = []
for key, name in NAMES.items():
    CASES += [
        Hostile(f"configuration-name-put-{key}", "PUT", "{cluster}" + CONFIGURATIONS + f"/{name}",
                configuration_body()),
        # NB: a printable name no PUT accepts cannot exist: GET answers 404 (the CLI relies on it), DELETE
        # refuses it; control and formatting characters are refused (400) on every route.
        Hostile(f"configuration-name-get-{key}", "GET", "{cluster}" + CONFIGURATIONS + f"/{name}",
                status=404 if unquote(name).isprintable() else 400),
        Hostile(f"configuration-name-delete-{key}", "DELETE", "{cluster}" + CONFIGURATIONS + f"/{name}"),
        Hostile(f"cluster-name-put-{key}", "PUT", cluster_path(name), json.dumps(
            {"properties": {"kubeconfig": "{kubeconfig}"}}).encode()),
        Hostile(f"cluster-name-get-{key}", "GET", cluster_path(name)),
        Hostile(f"cluster-name-list-{key}", "GET", cluster_path(name) + CONFIGURATIONS),
        # NB: ARM resource group names may hold Unicode letters, so a lookalike is a (different) valid group.
        *([] if key == "cyrillic-lookalike" else [Hostile(f"resource-group-list-{key}", "GET", f"/subscriptions/"
           f"{SUBSCRIPTION}/resourceGroups/{name}/providers/Microsoft.Kubernetes/connectedClusters")]),
        Hostile(f"subscription-list-{key}", "GET", f"/subscriptions/{name}/providers/Microsoft.Kubernetes/connectedClusters"),
        Hostile(f"operation-id-{key}", "GET", f"/operations/{name}", status=404),
    ]
CASES += [
    # NB: the client removes dot segments (RFC 3986), so this reaches the cluster route as clusterRp
    # "Microsoft.Kubernetes", clusterResourceName "operations".
    Hostile("literal-dot-segments", "GET", "{cluster}/../../operations/x"),
    Hostile("path-matching-no-route", "GET", "/subscriptions/..%2F../x", status=404, arm_error=False),
    Hostile("encoded-slash-in-operation-route-matches-no-route", "GET", "/operations/a%2F..%2F..%2Fx", status=404),
    # bodies
    Hostile("body-over-one-mebibyte", "PUT", CONFIG, configuration_body(operatorParams="x" * (1024 * 1024 + 1))),
    Hostile("cluster-body-over-one-mebibyte", "PUT", "{cluster}", b'{"properties": {"kubeconfig": "'
            + b"A" * (1024 * 1024 + 4) + b'"}}'),
    Hostile("huge-operator-params", "PUT", CONFIG, configuration_body(operatorParams="--git-readonly " * 20000)),
    Hostile("invalid-base64-ssh-private-key", "PUT", CONFIG, configuration_body(
        repositoryUrl="git@github.com:Azure/arc-k8s-demo.git",
        configurationProtectedSettings={"sshPrivateKey": "-----BEGIN not base64 !!!"})),
    Hostile("invalid-base64-https-user", "PUT", CONFIG, configuration_body(
        configurationProtectedSettings={"httpsUser": "us%er", "httpsKey": HTTPS_KEY})),
    Hostile("invalid-base64-https-key", "PUT", CONFIG, configuration_body(
        configurationProtectedSettings={"httpsUser": "dXNlcg==", "httpsKey": "ke\u0000y"})),
    Hostile("invalid-base64-known-hosts", "PUT", CONFIG, configuration_body(
        repositoryUrl="git@github.com:Azure/arc-k8s-demo.git", sshKnownHostsContents="@@@")),
    Hostile("invalid-base64-kubeconfig", "PUT", "{cluster}", b'{"properties": {"kubeconfig": "not base64 !"}}'),
    Hostile("kubeconfig-base64-of-binary", "PUT", "{cluster}", json.dumps(
        {"properties": {"kubeconfig": base64.b64encode(b"\xff\xfe\x00garbage").decode()}}).encode()),
    Hostile("nul-byte-in-operator-params", "PUT", CONFIG, configuration_body(operatorParams="--git-user=a\u0000b")),
    Hostile("lone-surrogate-in-operator-params", "PUT", CONFIG, configuration_body(operatorParams="--git-user=\ud800")),
    Hostile("bidi-override-in-operator-params", "PUT", CONFIG,
            configuration_body(operatorParams="--git-label=flux\u202esync")),
    Hostile("escape-sequence-in-chart-values", "PUT", CONFIG, configuration_body(
        enableHelmOperator=True, helmOperatorProperties={"chartValues": "a=\u001b[31mb"})),
    Hostile("nul-byte-in-json-key", "PUT", CONFIG, b'{"properties": {"repositoryUrl\\u0000": "x"}}'),
    Hostile("nul-byte-in-repository-url", "PUT", CONFIG, configuration_body(
        repositoryUrl="https://github.com/Azure/arc-k8s-demo\u0000.git")),
    Hostile("malformed-json", "PUT", CONFIG, b'{"properties": {"repositoryUrl": '),
    Hostile("json-not-utf8", "PUT", CONFIG, b'{"properties": {"repositoryUrl": "\xff"}}'),
    Hostile("json-array", "PUT", CONFIG, b"[]"),
    Hostile("json-string", "PUT", CONFIG, b'"properties"'),
    Hostile("json-null", "PUT", CONFIG, b"null"),
    Hostile("cluster-json-array", "PUT", "{cluster}", b"[1]"),
    Hostile("deeply-nested-json", "PUT", CONFIG, nested(100000)),
    Hostile("moderately-nested-json", "PUT", CONFIG, nested(500)),
    Hostile("cluster-deeply-nested-json", "PUT", "{cluster}", b'{"properties": {"kubeconfig": '
            + b"[" * 100000 + b"]" * 100000 + b"}}"),
    Hostile("duplicate-keys-smuggle-a-second-url", "PUT", CONFIG, b'{"properties": {"repositoryUrl": '
            b'"https://github.com/Azure/arc-k8s-demo", "repositoryUrl": "https://evil.example/repo"}}'),
    Hostile("duplicate-properties-objects", "PUT", CONFIG, b'{"properties": {"repositoryUrl": '
            b'"https://github.com/Azure/arc-k8s-demo"}, "properties": {"repositoryUrl": "https://x.example/r"}}'),
    Hostile("cluster-duplicate-keys", "PUT", "{cluster}", b'{"properties": {"kubeconfig": "a", "kubeconfig": "b"}}'),
    Hostile("nan-in-json", "PUT", CONFIG, b'{"properties": {"repositoryUrl": NaN}}'),
    # media types
    Hostile("text-plain", "PUT", CONFIG, configuration_body(), {"content-type": "text/plain"}, status=415),
    Hostile("form-data", "PUT", CONFIG, b"properties=x", {"content-type": "application/x-www-form-urlencoded"},
            status=415),
    Hostile("multipart", "PUT", CONFIG, b"--b\r\n\r\n--b--", {"content-type": "multipart/form-data; boundary=b"},
            status=415),
    Hostile("xml", "PUT", CONFIG, b"<properties><repositoryUrl>x</repositoryUrl></properties>",
            {"content-type": "application/xml"}, status=415),
    Hostile("no-content-type", "PUT", CONFIG, configuration_body(), {}, status=415),
    Hostile("cluster-text-plain", "PUT", "{cluster}", b'{"properties": {"kubeconfig": "{kubeconfig}"}}',
            {"content-type": "text/plain"}, status=415),
    # query strings
    Hostile("skip-token-garbage", "GET", "{cluster}" + CONFIGURATIONS + "?$skipToken=%00%2F..", status=400),
    Hostile("skip-token-forged-partition", "GET", "{cluster}" + CONFIGURATIONS + "?$skipToken="
            + base64.urlsafe_b64encode(json.dumps({"NextPartitionKey": "other", "NextRowKey": "x"}).encode()).decode(),
            status=400),
    Hostile("top-not-a-number", "GET", "{cluster}" + CONFIGURATIONS + "?$top=1e3"),
    Hostile("api-version-with-nul", "GET", "{cluster}?api-version=2021-03-01%00"),
]


def send(api: ApiClient, case: Hostile, cluster: Cluster) -> requests.Response:
    separator = "&" if "?" in case.path else "?"
    path = case.path.replace("{cluster}", cluster.path)
    url = f"{api.base_url}/api{path}"
    if "api-version=" not in path:
        url += f"{separator}api-version={API_VERSION}"
    body = case.body
    if body is not None and b"{kubeconfig}" in body:
        body = body.replace(b"{kubeconfig}", sent_kubeconfig().encode())
    return requests.request(case.method, url, data=body, timeout=60,
                            headers={"x-functions-key": api.function_key, **case.headers})


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_hostile_request_gets_a_clear_client_error_and_changes_nothing(
        api: ApiClient, cluster: Cluster, storage_connection_string: str, case: Hostile):
    with nothing_changes(storage_connection_string, cluster.storage_key):
        response = send(api, case, cluster)

    if case.arm_error:
        assert_arm_error(response, case.status)
    else:
        assert response.status_code == case.status, response.text[:300]
