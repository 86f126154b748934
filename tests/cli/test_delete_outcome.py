"""A delete whose cluster cleanup fails: `flux delete` waits on the operation and reports its error.

The session host keeps a cleanup going for up to an hour, so this module runs its own (isolated) host with
a 2-second delete window.
"""

from __future__ import annotations

import json
import secrets

import pytest

from tests.api.conftest import client_of, cluster_path
from tests.cli.conftest import Cli, cli_environment, target
from tests.fixtures.devhost_process import isolated_host

FLUX = ("k8s-configuration", "flux")


@pytest.fixture(scope="module")
def short_window_cli(storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory):
    host = isolated_host(storage_connection_string, tmp_path_factory.mktemp("cli-short-window"),
                         DELETE_WINDOW="00:00:02", DELETE_WINDOW_FAILED="00:00:02")
    api = client_of(host)
    yield Cli(cli_environment(AZLOCAL_ENDPOINT=host.base_url, AZLOCAL_FUNCTION_KEY=api.function_key)), api
    assert host.stop() == 0, host.stderr()


def test_a_failed_cleanup_is_an_error_with_the_operation_message(short_window_cli):
    cli, api = short_window_cli
    cluster = "cli-fail-" + secrets.token_hex(3)
    api.register_cluster(cluster_path(cluster))
    created = cli.run(*FLUX, "create", *target("doomed", cluster), "-u", "https://github.com/Azure/arc-k8s-demo")
    assert json.loads(created.stdout)["complianceStatus"]["complianceState"] == "Failed", created.stderr

    result = cli.run(*FLUX, "delete", *target("doomed", cluster), "--yes", "--timeout", "120")

    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert "ERROR: (DeleteIncomplete) Objects still present after the 0:00:02 delete window" in result.stderr
    assert "\nCode: DeleteIncomplete\nMessage: Objects still present" in result.stderr
    assert "Traceback" not in result.stderr
