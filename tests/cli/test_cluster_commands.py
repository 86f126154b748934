"""`azlocal connectedk8s connect|show|list|delete`."""

from __future__ import annotations

import json
import secrets

from tests.api.conftest import ApiClient, cluster_path, make_kubeconfig
from tests.cli.conftest import Cli, secret

GROUP = ("--resource-group", "AzureArcTest")


def test_connect_show_and_delete_a_cluster(cli: Cli, api: ApiClient, tmp_path):
    name = "cli-conn-" + secrets.token_hex(3)
    kubeconfig = tmp_path / "config"
    token = secret("kubetoken-" + secrets.token_hex(12))
    kubeconfig.write_text(make_kubeconfig(token))

    connect = cli.run("connectedk8s", "connect", "--name", name, *GROUP, "--kube-config", str(kubeconfig))
    show = cli.run("connectedk8s", "show", "-n", name, *GROUP, "-o", "tsv",
                   "--query", "{n: name, p: provisioningState, g: resourceGroup}")

    assert connect.returncode == 0, connect.stderr
    shown = json.loads(connect.stdout)
    assert shown["id"] == cluster_path(name) and shown["provisioningState"] == "Succeeded"
    assert token not in connect.stdout
    assert show.stdout == f"{name}\tSucceeded\tAzureArcTest\n"

    refused = cli.run("connectedk8s", "delete", "-n", name, *GROUP)
    deleted = cli.run("connectedk8s", "delete", "-n", name, *GROUP, "--yes")

    assert refused.returncode == 1 and "Use --yes" in refused.stderr
    assert deleted.returncode == 0, deleted.stderr
    assert api.request("GET", cluster_path(name)).status_code == 404
    assert cli.run("connectedk8s", "show", "-n", name, *GROUP).returncode == 3


def test_connect_uses_kubeconfig_from_the_environment(cli: Cli, tmp_path):
    name = "cli-env-" + secrets.token_hex(3)
    kubeconfig = tmp_path / "env-config"
    kubeconfig.write_text(make_kubeconfig(secret("kubetoken-" + secrets.token_hex(12))))

    result = cli.run("connectedk8s", "connect", "-n", name, *GROUP, "-o", "none",
                     env={**cli.env, "KUBECONFIG": str(kubeconfig)})

    assert (result.returncode, result.stdout) == (0, ""), result.stderr


def test_connect_with_a_missing_kubeconfig_file(cli: Cli, tmp_path):
    result = cli.run("connectedk8s", "connect", "-n", "nofile", *GROUP, "--kube-config", str(tmp_path / "none"))

    assert result.returncode == 1
    assert "ERROR: (FileOperationError) Problem loading the kubeconfig file" in result.stderr


def test_list_by_resource_group_and_by_subscription(cli: Cli, tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(make_kubeconfig(secret("kubetoken-" + secrets.token_hex(12))))
    group = "ListGroup-" + secrets.token_hex(3)
    names = sorted(f"listed-{i}-{secrets.token_hex(2)}" for i in range(3))
    for name in names:
        connected = cli.run("connectedk8s", "connect", "-n", name, "-g", group, "--kube-config", str(kubeconfig))
        assert connected.returncode == 0, connected.stderr
    other = "elsewhere-" + secrets.token_hex(3)
    assert cli.run("connectedk8s", "connect", "-n", other, *GROUP, "--kube-config", str(kubeconfig)).returncode == 0

    in_group = cli.run("connectedk8s", "list", "-g", group, "--query", "[].name", "-o", "tsv")
    everywhere = json.loads(cli.run("connectedk8s", "list").stdout)

    assert in_group.stdout.split() == names, in_group.stderr
    assert {*names, other} <= {item["name"] for item in everywhere}
    assert all("kubeconfig" not in json.dumps(item) for item in everywhere)
    assert json.loads(cli.run("connectedk8s", "list", "-g", "NoSuchGroup").stdout) == []
    bad = cli.run("connectedk8s", "list", "-g", "bad/group")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
