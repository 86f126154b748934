"""The CLI run as a real subprocess against a real local host.

NB: the api suite's `app_host` cannot be shared from here: a fixture imported into this conftest is a second
definition, so a combined run would start a second host on the same task hub, queues and tables with another
encryption key, and each would pick up the other's durable work. Until `app_host`/`api` move to
tests/conftest.py, this folder runs its own host, isolated by its own task hub, host id (keys), status queue
and pending-work table, with the cleanup timer off.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.api.conftest import SENT_SECRETS, ApiClient, client_of, cluster_path
from tests.fixtures.devhost_process import PROJECT_ROOT, DevHost, serve_isolated_host

INSTALLED_AZLOCAL = Path(sys.executable).parent / "azlocal"
CLI_TIMEOUT = 180


def secret(value: str) -> str:
    """`value`, recorded (raw and base64) for the final scan of storage."""
    for text in (value, base64.b64encode(value.encode()).decode()):
        if text not in SENT_SECRETS:
            SENT_SECRETS.append(text)
    return value


@dataclass
class Cli:
    """`python -m cli` (or the installed `azlocal`) with a chosen environment; stdin is never a terminal."""

    env: dict[str, str]

    def run(self, *args: str, executable: list[str] | None = None, env: dict[str, str] | None = None,
            timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess:
        command = (executable or [sys.executable, "-m", "cli"]) + list(args)
        return subprocess.run(command, env=env or self.env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout, check=False)


def cli_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZLOCAL_")}
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def app_host(storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory):
    yield from serve_isolated_host(storage_connection_string, tmp_path_factory.mktemp("cli-host"))


@pytest.fixture(scope="session")
def api(app_host: DevHost) -> ApiClient:
    return client_of(app_host)


@pytest.fixture(scope="session")
def cli(app_host: DevHost, api: ApiClient) -> Cli:
    """The CLI pointed at the session host, the key given through AZLOCAL_FUNCTION_KEY."""
    return Cli(cli_environment(AZLOCAL_ENDPOINT=app_host.base_url, AZLOCAL_FUNCTION_KEY=api.function_key))


@pytest.fixture
def cluster_name(api: ApiClient) -> str:
    """A freshly registered connected cluster (unreachable: its configurations end Failed)."""
    name = "cli-" + secrets.token_hex(4)
    api.register_cluster(cluster_path(name))
    return name


def target(name: str, cluster: str, *more: str) -> list[str]:
    return ["--name", name, "--cluster-name", cluster, "--resource-group", "AzureArcTest", *more]
