"""Errors as az shows them: the API's own message, `ERROR: (Code) Message`, exit codes 1/2/3, no traceback."""

from __future__ import annotations

import pytest

from stack.azurite import free_port
from tests.api.conftest import ApiClient, cluster_path, configuration_path
from tests.cli.conftest import Cli, cli_environment, secret, target

FLUX = ("k8s-configuration", "flux")
HTTPS_URL = "https://github.com/Azure/arc-k8s-demo"

# (name, CLI flags, the same request as a PUT body's properties)
INVALID = [
    ("Bad_Name", ["-u", HTTPS_URL], {"repositoryUrl": HTTPS_URL}),
    ("bad-url", ["-u", "ftp://example.com/repo"], {"repositoryUrl": "ftp://example.com/repo"}),
    ("ns", ["-u", HTTPS_URL, "--operator-namespace", "a-namespace-much-too-long-for-flux"],
     {"repositoryUrl": HTTPS_URL, "operatorNamespace": "a-namespace-much-too-long-for-flux"}),
    ("hyphen", ["-u", HTTPS_URL, "--operator-instance-name=-inst"],  # az too needs `=` before a leading -
     {"repositoryUrl": HTTPS_URL, "operatorInstanceName": "-inst"}),
    ("user-only", ["-u", HTTPS_URL, "--https-user", "dXNlcg=="],
     {"repositoryUrl": HTTPS_URL, "configurationProtectedSettings": {"httpsUser": "dXNlcg=="}}),
    ("https-on-ssh", ["-u", "git@example.com:org/repo", "--https-user", "dXNlcg==", "--https-key", "a2V5"],
     {"repositoryUrl": "git@example.com:org/repo",
      "configurationProtectedSettings": {"httpsUser": "dXNlcg==", "httpsKey": "a2V5"}}),
    ("ssh-on-https", ["-u", HTTPS_URL, "--ssh-private-key", "bm90LWEta2V5"],
     {"repositoryUrl": HTTPS_URL, "configurationProtectedSettings": {"sshPrivateKey": "bm90LWEta2V5"}}),
    ("bad-key", ["-u", "git@example.com:org/repo", "--ssh-private-key", "bm90LWEta2V5"],
     {"repositoryUrl": "git@example.com:org/repo", "configurationProtectedSettings": {"sshPrivateKey": "bm90LWEta2V5"}}),
    ("bad-params", ["-u", HTTPS_URL, "--operator-params", "--no-such-flag"],
     {"repositoryUrl": HTTPS_URL, "operatorParams": "--no-such-flag"}),
    ("old-chart", ["-u", HTTPS_URL, "--enable-helm-operator", "--helm-operator-chart-version", "1.1.0"],
     {"repositoryUrl": HTTPS_URL, "enableHelmOperator": True, "helmOperatorProperties": {"chartVersion": "1.1.0"}}),
    ("bad-hosts", ["-u", "git@example.com:org/repo", "--ssh-known-hosts", "bm90IGtub3duIGhvc3Rz"],
     {"repositoryUrl": "git@example.com:org/repo", "sshKnownHostsContents": "bm90IGtub3duIGhvc3Rz"}),
]


@pytest.mark.parametrize(("name", "flags", "properties"), INVALID, ids=[case[0] for case in INVALID])
def test_invalid_input_gives_the_api_message(cli: Cli, api: ApiClient, cluster_name: str, name: str,
                                             flags: list[str], properties: dict):
    secret("bm90LWEta2V5")
    path = configuration_path(cluster_path(cluster_name), name)
    answer = api.request("PUT", path, body={"properties": properties})
    assert answer.status_code == 400
    error = answer.json()["error"]

    result = cli.run(*FLUX, "create", *target(name, cluster_name), *flags, "--debug")

    assert result.returncode == 1
    assert result.stdout == ""
    assert f"ERROR: ({error['code']}) {error['message']}\n" in result.stderr
    assert f"Message: {error['message']}\n" in result.stderr
    assert "Request method" not in result.stderr  # refused before anything was sent
    assert "Traceback" not in result.stderr
    assert api.request("GET", path).status_code == 404


def test_missing_configuration_exits_3_with_the_api_error(cli: Cli, api: ApiClient, cluster_name: str):
    path = configuration_path(cluster_path(cluster_name), "absent")
    message = api.request("GET", path).json()["error"]["message"]

    result = cli.run(*FLUX, "show", *target("absent", cluster_name))

    assert result.returncode == 3
    assert result.stderr.startswith(f"ERROR: (ResourceNotFound) {message}\nCode: ResourceNotFound\n")


def test_unregistered_cluster_names_the_cluster(cli: Cli):
    result = cli.run(*FLUX, "list", "-c", "nowhere", "-g", "AzureArcTest")

    assert result.returncode == 3
    assert "The cluster '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/AzureArcTest" \
           "/providers/Microsoft.Kubernetes/connectedClusters/nowhere' is not registered" in result.stderr


def test_a_stopped_service_is_named(cli: Cli):
    endpoint = f"http://127.0.0.1:{free_port()}"
    for env in (cli_environment(AZLOCAL_ENDPOINT=endpoint, AZLOCAL_FUNCTION_KEY="k"),
                cli_environment(AZLOCAL_ENDPOINT=endpoint)):
        result = cli.run(*FLUX, "show", *target("x", "y"), env=env, timeout=30)

        assert result.returncode == 1
        assert result.stderr == (f"ERROR: The local GitOps service is not running at {endpoint}. "
                                 "Start it with 'make up'.\n")


def test_a_wrong_key_is_explained(cli: Cli, app_host):
    env = cli_environment(AZLOCAL_ENDPOINT=app_host.base_url, AZLOCAL_FUNCTION_KEY="not-the-key")

    result = cli.run(*FLUX, "show", *target("x", "y"), env=env)

    assert result.returncode == 1
    assert "ERROR: The service refused the function key (401)" in result.stderr


@pytest.mark.parametrize("args", [
    [*FLUX, "create", "--name", "x"],
    [*FLUX, "show", "-n", "x", "-c", "y", "-g", "z", "--cluster-type", "provisionedClusters"],
    [*FLUX, "show", "-n", "x", "-c", "y", "-g", "z", "-o", "xml"],
    ["k8s-configuration", "flux", "explode"],
])
def test_argument_errors_exit_2(cli: Cli, args: list[str]):
    result = cli.run(*args)

    assert result.returncode == 2
    assert result.stderr.startswith("ERROR: azlocal ")
    assert "Traceback" not in result.stderr


def test_help_works_at_every_level(cli: Cli):
    for args in ([], ["k8s-configuration"], [*FLUX], [*FLUX, "create"], ["k8s-configuration", "delete"],
                 ["connectedk8s"], ["connectedk8s", "connect"]):
        result = cli.run(*args, "-h")
        assert result.returncode == 0, args
        assert result.stdout.startswith("usage: azlocal")


def test_a_bad_query_is_an_error(cli: Cli, cluster_name: str):
    result = cli.run(*FLUX, "list", "-c", cluster_name, "-g", "AzureArcTest", "--query", "[?")

    assert result.returncode == 1
    assert result.stderr.startswith("ERROR: argument --query: invalid jmespath query")
