"""Fixtures that run `python -m devhost` as a real subprocess against the session Azurite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.devhost_process import PROJECT_ROOT, DevHost, devhost_environment, run_keys

HTTP_APP = Path(__file__).resolve().parent / "apps" / "http_app"
__all__ = ["HTTP_APP", "PROJECT_ROOT", "DevHost", "devhost_environment", "run_keys"]


@pytest.fixture(scope="module")
def http_host_env(azurite) -> dict[str, str]:
    return devhost_environment(azurite.ports.connection_string, **{"AzureWebJobs.disabled_fn.Disabled": "true"})


@pytest.fixture(scope="module")
def http_host(http_host_env, tmp_path_factory):
    """The sample app under devhost (route prefix `custom` from its host.json)."""
    host = DevHost(app_dir=HTTP_APP, env=http_host_env, log_dir=tmp_path_factory.mktemp("devhost"))
    host.start()
    yield host
    assert host.stop() == 0, host.stderr()


@pytest.fixture(scope="module")
def http_keys(http_host) -> dict:
    return http_host.keys()
