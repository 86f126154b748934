"""The security suite's own host of the app: one test per attack, each asserting the attack is refused and
nothing changed.

NB: like tests/reliability, this folder runs its own isolated host (task hub, host id, status queue and
pending-work table of its own), so what an attack leaves behind cannot leak into another suite.
"""

from __future__ import annotations

import pytest

from tests.api.conftest import ApiClient, client_of
from tests.fixtures.devhost_process import DevHost, serve_isolated_host


@pytest.fixture(scope="session")
def app_host(storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory):
    yield from serve_isolated_host(storage_connection_string, tmp_path_factory.mktemp("security-host"))


@pytest.fixture(scope="session")
def api(app_host: DevHost) -> ApiClient:
    return client_of(app_host)
