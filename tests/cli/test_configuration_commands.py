"""`azlocal k8s-configuration [flux] create|show|list|delete` against the real host."""

from __future__ import annotations

import base64
import json
import secrets
import sys
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from shared.configurations import get_configuration_by_keys
from shared.resource_ids import parse_configuration_id
from shared.secrets import SecretBox
from tests.api.conftest import ApiClient, cluster_path, configuration_path
from tests.cli.conftest import INSTALLED_AZLOCAL, Cli, secret, target
from tests.fixtures.devhost_process import PROJECT_ROOT
from tests.fixtures.terminal import run_on_a_terminal as on_a_terminal

SEED_URL = "https://github.com/Azure/arc-k8s-demo"
FLUX = ("k8s-configuration", "flux")


def seed_create(cli: Cli, name: str, cluster: str, *more: str):
    return cli.run(*FLUX, "create", *target(name, cluster), "--operator-instance-name", name,
                   "--operator-namespace", name, "--repository-url", SEED_URL, "--scope", "cluster",
                   "--cluster-type", "connectedClusters", *more)


def test_seed_create_prints_the_flattened_seed_output(cli: Cli, api: ApiClient, cluster_name: str):
    result = seed_create(cli, "cluster-config", cluster_name, "--no-wait")

    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert result.stdout == json.dumps(shown, indent=2, sort_keys=True) + "\n"
    stored = api.request("GET", configuration_path(cluster_path(cluster_name), "cluster-config")).json()
    assert shown["id"] == stored["id"]
    assert shown["resourceGroup"] == "AzureArcTest"
    assert shown["type"] == "Microsoft.KubernetesConfiguration/sourceControlConfigurations"
    assert shown["configurationProtectedSettings"] == {}
    assert shown["operatorParams"] == "--git-readonly"
    assert shown["operatorScope"] == "cluster"
    assert shown["repositoryPublicKey"] == ""
    assert shown["provisioningState"] == "Succeeded"
    assert shown["complianceStatus"]["complianceState"] == "Pending"
    assert "properties" not in shown and set(stored["properties"]) <= set(shown)


def test_create_sends_every_https_and_helm_flag(cli: Cli, api: ApiClient):
    cluster = "cli-aks-" + secrets.token_hex(3)
    path = cluster_path(cluster, kind="Microsoft.ContainerService/managedClusters")
    api.register_cluster(path)
    user, key = secret("cli user!"), secret("cli-token-" + secrets.token_hex(8))
    result = cli.run(*FLUX, "create", *target("helm-config", cluster), "--cluster-type", "managedClusters",
                     "-u", "https://example.com/org/repo.git", "--scope", "namespace",
                     "--operator-instance-name", "helm-inst", "--operator-namespace", "team-a",
                     "--operator-type", "flux", "--operator-params", "--git-branch=main --git-poll-interval=1m",
                     "--https-user", user, "--https-key", key, "--enable-helm-operator",
                     "--helm-operator-params", "--set helm.versions=v3", "--helm-operator-chart-version", "1.4.0",
                     "--no-wait", "--debug")

    assert result.returncode == 0, result.stderr
    properties = api.request("GET", configuration_path(path, "helm-config")).json()["properties"]
    assert properties["repositoryUrl"] == "https://example.com/org/repo.git"
    assert properties["operatorScope"] == "namespace"
    assert properties["operatorInstanceName"] == "helm-inst"
    assert properties["operatorNamespace"] == "team-a"
    assert properties["operatorType"] == "Flux"
    assert properties["operatorParams"] == "--git-branch=main --git-poll-interval=1m --git-readonly"
    assert properties["enableHelmOperator"] is True
    assert properties["helmOperatorProperties"] == {"chartVersion": "1.4.0", "chartValues": "--set helm.versions=v3"}
    assert properties["configurationProtectedSettings"] == {}
    # --debug names the calls, never the key or the secrets.
    assert "Request method: 'PUT'" in result.stderr and "Response status: 201" in result.stderr
    assert "/managedClusters/" + cluster in result.stderr
    for text in (api.function_key, user, key, base64.b64encode(user.encode()).decode()):
        assert text not in result.stderr + result.stdout


def test_helm_operator_flag_takes_a_value_and_defaults_its_chart_version(cli: Cli, api: ApiClient,
                                                                        cluster_name: str):
    result = cli.run(*FLUX, "create", *target("helm-default", cluster_name), "-u", SEED_URL,
                     "--enable-helm-operator", "true", "--no-wait", "--query", "helmOperatorProperties")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"chartVersion": "1.2.0", "chartValues": ""}


def ssh_material(tmp_path) -> tuple[str, str]:
    """An OpenSSH private key file and a known_hosts file; returns their paths."""
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
    key_file, hosts_file = tmp_path / "id_ed25519", tmp_path / "known_hosts"
    key_file.write_text(secret(pem))
    hosts_file.write_text(f"git.example.com {public}\n")
    return str(key_file), str(hosts_file)


def test_create_reads_ssh_key_and_known_hosts_files(cli: Cli, api: ApiClient, cluster_name: str, tmp_path):
    key_file, hosts_file = ssh_material(tmp_path)
    result = cli.run(*FLUX, "create", *target("ssh-config", cluster_name), "-u", "git@git.example.com:org/repo",
                     "--ssh-private-key-file", key_file, "--ssh-known-hosts-file", hosts_file, "--no-wait")

    assert result.returncode == 0, result.stderr
    properties = api.request("GET", configuration_path(cluster_path(cluster_name), "ssh-config")).json()["properties"]
    with open(hosts_file, "rb") as hosts:
        assert properties["sshKnownHostsContents"] == base64.b64encode(hosts.read()).decode()
    assert properties["configurationProtectedSettings"] == {}


def test_ssh_private_key_and_its_file_together_are_refused(cli: Cli, cluster_name: str, tmp_path):
    key_file, _ = ssh_material(tmp_path)
    result = cli.run(*FLUX, "create", *target("both", cluster_name), "-u", "git@git.example.com:org/repo",
                     "--ssh-private-key", "c2VjcmV0", "--ssh-private-key-file", key_file, "--no-wait")

    assert result.returncode == 1
    assert "Both textual key and key filepath cannot be provided" in result.stderr


def test_create_waits_until_failed_and_shows_why(cli: Cli, cluster_name: str):
    result = seed_create(cli, "waited", cluster_name, "--timeout", "120")

    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["complianceStatus"]["complianceState"] == "Failed"
    assert shown["complianceStatus"]["message"].startswith("Cluster unreachable")
    assert "WARNING: The configuration 'waited' failed: Cluster unreachable" in result.stderr
    assert "Traceback" not in result.stderr


def test_create_timeout_names_the_last_state(cli: Cli, cluster_name: str):
    result = seed_create(cli, "impatient", cluster_name, "--timeout", "0")

    assert result.returncode == 1
    assert "ERROR: Timed out after 0 seconds waiting for the source control configuration 'impatient'" in result.stderr
    assert "complianceState=Pending" in result.stderr


def test_show_list_and_delete_round_trip_through_both_groups(cli: Cli, api: ApiClient, cluster_name: str):
    assert seed_create(cli, "round-trip", cluster_name, "--no-wait").returncode == 0
    path = configuration_path(cluster_path(cluster_name), "round-trip")

    show = cli.run(*FLUX, "show", *target("round-trip", cluster_name))
    old_show = cli.run("k8s-configuration", "show", *target("round-trip", cluster_name))
    listing = cli.run("k8s-configuration", "list", "-c", cluster_name, "-g", "AzureArcTest")

    assert show.returncode == old_show.returncode == listing.returncode == 0, show.stderr + listing.stderr
    stored = api.request("GET", path).json()
    assert json.loads(show.stdout)["systemData"] == stored["systemData"]
    assert json.loads(old_show.stdout)["id"] == stored["id"]
    assert [item["name"] for item in json.loads(listing.stdout)] == ["round-trip"]

    delete = cli.run(*FLUX, "delete", *target("round-trip", cluster_name), "--yes", "--no-wait")

    assert delete.returncode == 0, delete.stderr
    assert delete.stdout == ""
    assert api.request("GET", path).status_code == 404
    assert json.loads(cli.run(*FLUX, "list", "-c", cluster_name, "-g", "AzureArcTest").stdout) == []


def test_delete_waits_on_the_operation_with_progress(cli: Cli, cluster_name: str):
    """The unreachable cluster keeps the cleanup running past a short --timeout: progress, then a clear stop."""
    assert seed_create(cli, "slow-delete", cluster_name, "--no-wait").returncode == 0

    result = cli.run(*FLUX, "delete", *target("slow-delete", cluster_name), "-y", "--timeout", "2")

    assert result.returncode == 1
    assert "waiting: status=InProgress" in result.stderr
    assert "ERROR: Timed out after 2 seconds waiting for the deletion of 'slow-delete'; last state: " \
           "status=InProgress" in result.stderr


def test_delete_without_yes_on_a_non_terminal_refuses(cli: Cli, api: ApiClient, cluster_name: str):
    assert seed_create(cli, "kept", cluster_name, "--no-wait").returncode == 0

    result = cli.run(*FLUX, "delete", *target("kept", cluster_name))

    assert result.returncode == 1
    assert result.stderr == "ERROR: Unable to prompt for confirmation as no tty available. Use --yes.\n"
    assert api.request("GET", configuration_path(cluster_path(cluster_name), "kept")).status_code == 200


def test_delete_of_a_missing_configuration_prints_nothing(cli: Cli, cluster_name: str):
    result = cli.run(*FLUX, "delete", *target("never-was", cluster_name), "--yes")

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_installed_script_finds_the_key_in_the_key_store(cli: Cli, app_host, cluster_name: str):
    assert seed_create(cli, "by-store", cluster_name, "--no-wait").returncode == 0
    env = {k: v for k, v in app_host.env.items() if k != "AZLOCAL_FUNCTION_KEY"}
    env["AZLOCAL_ENDPOINT"] = app_host.base_url

    result = cli.run(*FLUX, "show", *target("by-store", cluster_name), "--query", "name", "-o", "tsv",
                     executable=[str(INSTALLED_AZLOCAL)], env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "by-store\n"


def test_output_formats(cli: Cli, cluster_name: str):
    assert seed_create(cli, "formats", cluster_name, "--no-wait").returncode == 0
    show = [*FLUX, "show", *target("formats", cluster_name)]
    resource = json.loads(cli.run(*show).stdout)

    query = cli.run(*show, "--query", "repositoryPublicKey")
    table = cli.run(*show, "-o", "table")
    tsv = cli.run(*show, "-o", "tsv")
    as_yaml = cli.run(*show, "-o", "yaml")
    none = cli.run(*show, "-o", "none")
    jsonc = cli.run(*show, "-o", "jsonc")
    listing = cli.run(*FLUX, "list", "-c", cluster_name, "-g", "AzureArcTest", "-o", "table",
                      "--query", "[].{Name:name, Scope:operatorScope}")

    assert query.stdout == '""\n'
    header, rule, row = table.stdout.splitlines()
    assert header.split() == ["EnableHelmOperator", "Name", "OperatorInstanceName", "OperatorNamespace",
                              "OperatorParams", "OperatorScope", "OperatorType", "ProvisioningState",
                              "RepositoryPublicKey", "RepositoryUrl", "ResourceGroup", "SshKnownHostsContents"]
    assert set(rule) == {"-", " "}
    assert row.split() == ["False", "formats", "formats", "formats", "--git-readonly", "cluster", "Flux",
                           "Succeeded", SEED_URL, "AzureArcTest"]
    fields = tsv.stdout.rstrip("\n").split("\t")
    assert fields == ["" if isinstance(v, dict) else str(v) for _, v in sorted(resource.items())]
    assert yaml.safe_load(as_yaml.stdout) == resource
    assert none.stdout == ""
    assert json.loads(jsonc.stdout) == resource  # not a terminal: plain JSON
    assert listing.stdout.splitlines()[0].split() == ["Name", "Scope"]
    assert listing.stdout.splitlines()[2].split() == ["formats", "cluster"]


def run_on_a_terminal(cli: Cli, args: list[str], answer: str) -> tuple[int, str]:
    """The CLI with a pseudo-terminal as stdin (so it may prompt), answering `answer`; (exit code, stderr)."""
    result = on_a_terminal([sys.executable, "-m", "cli", *args], answer=answer, env=cli.env, cwd=PROJECT_ROOT,
                           timeout=60)
    return result.returncode, result.stderr


def test_delete_asks_on_a_terminal_and_no_keeps_the_resource(cli: Cli, api: ApiClient, cluster_name: str):
    assert seed_create(cli, "asked", cluster_name, "--no-wait").returncode == 0
    path = configuration_path(cluster_path(cluster_name), "asked")

    code, _ = run_on_a_terminal(cli, [*FLUX, "delete", *target("asked", cluster_name)], "n\n")
    assert code == 0
    assert api.request("GET", path).status_code == 200

    code, stderr = run_on_a_terminal(cli, [*FLUX, "delete", *target("asked", cluster_name), "--no-wait"], "y\n")
    assert code == 0, stderr
    assert api.request("GET", path).status_code == 404


def test_only_show_errors_silences_progress_and_warnings(cli: Cli, cluster_name: str):
    result = seed_create(cli, "quiet", cluster_name, "--only-show-errors")

    assert result.returncode == 0
    assert json.loads(result.stdout)["complianceStatus"]["complianceState"] == "Failed"
    assert result.stderr == ""


def test_wait_until_a_custom_condition_holds_then_until_deleted(cli: Cli, cluster_name: str):
    assert seed_create(cli, "awaited", cluster_name, "--no-wait").returncode == 0

    failed = cli.run("k8s-configuration", "wait", *target("awaited", cluster_name), "--interval", "0.2",
                     "--custom", "complianceStatus.complianceState=='Failed'")
    assert failed.returncode == 0, failed.stderr
    assert failed.stdout == ""
    never = cli.run(*FLUX, "wait", *target("awaited", cluster_name), "--interval", "0.2", "--timeout", "1",
                    "--custom", "complianceStatus.complianceState=='Installed'")
    assert never.returncode == 1
    assert "Timed out after 1 seconds" in never.stderr and "complianceState=Failed" in never.stderr

    assert cli.run(*FLUX, "delete", *target("awaited", cluster_name), "--yes", "--no-wait").returncode == 0
    gone = cli.run("k8s-configuration", "wait", *target("awaited", cluster_name), "--deleted", "--interval", "0.2")
    assert gone.returncode == 0, gone.stderr


def test_wait_needs_exactly_one_condition_and_a_valid_query(cli: Cli, cluster_name: str):
    none = cli.run("k8s-configuration", "wait", *target("x", cluster_name))
    assert none.returncode == 2 and "one of the arguments --custom --created --exists --deleted" in none.stderr
    bad = cli.run("k8s-configuration", "wait", *target("x", cluster_name), "--custom", "a[?")
    assert bad.returncode == 1
    assert "invalid jmespath query supplied for '--custom'" in bad.stderr and "Traceback" not in bad.stderr


def stored_protected_settings(app_host, cluster: str, name: str) -> dict:
    """What the service stored, sealed, for the configuration's protected settings, opened with its key
    (the caller points AzureWebJobsStorage at the host's storage)."""
    owner, _ = parse_configuration_id(configuration_path(cluster, name))
    record = get_configuration_by_keys(owner.storage_key, name)
    return SecretBox((app_host.env["SECRETS_ENCRYPTION_KEY"],)).open(record.sealed_protected_settings)


def test_protected_flags_reach_the_service_sealed(cli: Cli, api: ApiClient, app_host, tmp_path,
                                                  monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AzureWebJobsStorage", app_host.env["AzureWebJobsStorage"])
    subscription = "11111111-2222-3333-4444-555555555555"
    cluster = f"/subscriptions/{subscription}/resourceGroups/AzureArcTest/providers/Microsoft.Kubernetes/" \
              f"connectedClusters/cli-sub-{secrets.token_hex(3)}"
    api.register_cluster(cluster)
    name = cluster.rsplit("/", 1)[1]
    key_file, hosts_file = ssh_material(tmp_path)
    key_b64 = base64.b64encode(Path(key_file).read_bytes()).decode()
    hosts_b64 = base64.b64encode(Path(hosts_file).read_bytes()).decode()
    direct = cli.run(*FLUX, "create", "-n", "ssh-direct", "-c", name, "-g", "AzureArcTest",
                     "--subscription", subscription, "-u", "ssh://git@git.example.com/org/repo.git",
                     "--ssh-private-key", key_b64, "--ssh-known-hosts", hosts_b64, "--no-wait")
    user, key = secret("raw user"), secret("raw-key-" + secrets.token_hex(6))
    https = cli.run(*FLUX, "create", "-n", "https-raw", "-c", name, "-g", "AzureArcTest",
                    "--subscription", subscription, "-u", "https://example.com/org/repo",
                    "--https-user", user, "--https-key", key, "--no-wait")

    assert direct.returncode == 0 and https.returncode == 0, direct.stderr + https.stderr
    assert stored_protected_settings(app_host, cluster, "ssh-direct") == {"sshPrivateKey": key_b64}
    shown = json.loads(cli.run(*FLUX, "show", "-n", "ssh-direct", "-c", name, "-g", "AzureArcTest",
                               "--subscription", subscription).stdout)
    assert shown["sshKnownHostsContents"] == hosts_b64 and shown["id"].startswith(f"/subscriptions/{subscription}/")
    assert stored_protected_settings(app_host, cluster, "https-raw") == {
        "httpsUser": base64.b64encode(user.encode()).decode(), "httpsKey": base64.b64encode(key.encode()).decode()}
