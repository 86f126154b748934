"""Session fixtures that start real servers: Azurite on free loopback ports with a throwaway folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.azurite import Azurite

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory):
    """A running Azurite; `.ports.connection_string` is what apps and clients use."""
    data_dir = tmp_path_factory.mktemp("azurite")
    with Azurite(data_dir=data_dir, log_file=data_dir / "azurite.log") as instance:
        yield instance


@pytest.fixture(scope="session")
def storage_connection_string(azurite: Azurite) -> str:
    return azurite.ports.connection_string
