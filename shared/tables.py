"""Access to the service's Azure tables, and how long text is kept in table entities.

A table string property holds at most 32K characters (64 KiB of UTF-16), so longer text (encrypted
secrets, known_hosts, chart values) is split across numbered properties `Name`, `Name_1`, `Name_2`...
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import TableClient, TableServiceClient

from shared.settings import storage_connection_string

PROPERTY_CHUNK = 30_000

CONFIGURATIONS_TABLE = "configurations"
CLUSTERS_TABLE = "clusters"
OPERATIONS_TABLE = "operations"

_lock = threading.Lock()
_service: TableServiceClient | None = None
_service_connection: str | None = None
_clients: dict[str, TableClient] = {}  # NB: azure clients are thread-safe; making one costs ~0.3 ms of CPU
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy")


def transport() -> RequestsTransport:
    """NB: with environment settings on, `requests` looks for proxies and ~/.netrc before EVERY request
    (~10% of the host's CPU on the create path, bench/README.md); they are only honoured when a proxy is set."""
    return RequestsTransport(use_env_settings=any(os.environ.get(name) for name in PROXY_VARIABLES))


def table(name: str) -> TableClient:
    """A client for `name`, creating the table once per process on first use."""
    global _service, _service_connection
    connection = storage_connection_string()
    with _lock:
        if _service is None or _service_connection != connection:
            _service = TableServiceClient.from_connection_string(connection, transport=transport())
            _service_connection = connection
            _clients.clear()
        client = _clients.get(name)
        if client is None:
            try:
                _service.create_table(name)
            except ResourceExistsError:
                pass
            client = _clients[name] = _service.get_table_client(name)
    return client


def put_long_text(entity: dict[str, Any], name: str, text: str | None) -> None:
    """Store `text` under `name` (split when long); None stores nothing, so it reads back as None."""
    if text is None:
        return
    chunks = [text[i:i + PROPERTY_CHUNK] for i in range(0, len(text), PROPERTY_CHUNK)] or [""]
    entity[name] = chunks[0]
    for index, chunk in enumerate(chunks[1:], start=1):
        entity[f"{name}_{index}"] = chunk


def get_long_text(entity: Mapping[str, Any], name: str) -> str | None:
    if name not in entity:
        return None
    parts = [entity[name]]
    index = 1
    while f"{name}_{index}" in entity:
        parts.append(entity[f"{name}_{index}"])
        index += 1
    return "".join(parts)
