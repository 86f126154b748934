"""Fixtures for the Durable Functions tests: the durable test app under a real devhost process, on Azurite.

Each host gets its own task hub (host.json override by app setting), so tests never see each other's
instances. `DurableApi` talks to the app the way a user does: the app's HTTP starter functions (which use
the durable client SDK unchanged) and the public management webhooks with the system key.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient

from tests.fixtures.devhost_process import DevHost, devhost_environment

DURABLE_APP = Path(__file__).resolve().parent / "apps" / "durable_app"
WEBHOOKS = "runtime/webhooks/durabletask"
COUNTER_TABLE = "DurableTestCounters"  # written by the app's activities
TERMINAL = {"Completed", "Failed", "Terminated", "Canceled"}


def durable_env(connection_string: str, hub: str, **extra: str) -> dict[str, str]:
    return devhost_environment(connection_string, AzureFunctionsJobHost__extensions__durableTask__hubName=hub,
                               AzureFunctionsWebHost__hostid=f"durable-{hub.lower()}", **extra)


class DurableApi:
    def __init__(self, host: DevHost, *, hub: str, connection_string: str) -> None:
        self.host = host
        self.hub = hub
        self.connection_string = connection_string
        keys = host.keys()
        self.master_key = keys["masterKey"]
        self.system_key = keys["systemKeys"]["durabletask_extension"]

    @property
    def base(self) -> str:
        return self.host.base_url

    # -- through the app (durable client SDK)

    def start(self, name: str, body: Any = None, *, instance_id: str | None = None) -> requests.Response:
        params = {"id": instance_id} if instance_id else None
        return requests.post(f"{self.base}/api/start/{name}", params=params,
                             json=body, timeout=60)

    def start_id(self, name: str, body: Any = None, *, instance_id: str | None = None) -> str:
        response = self.start(name, body, instance_id=instance_id)
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def run(self, name: str, body: Any = None, *, timeout_ms: int = 30000) -> requests.Response:
        """Start and wait (`wait_for_completion_or_create_check_status_response`)."""
        return requests.post(f"{self.base}/api/run/{name}", params={"timeout_ms": timeout_ms}, json=body,
                             timeout=timeout_ms / 1000 + 30)

    def client_status(self, instance_id: str, *, history: bool = False) -> dict[str, Any]:
        response = requests.get(f"{self.base}/api/status/{instance_id}",
                                params={"history": "1"} if history else None, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    def raise_event(self, instance_id: str, event: str, data: Any) -> requests.Response:
        return requests.post(f"{self.base}/api/raise/{instance_id}/{event}", json=data, timeout=60)

    # -- the management webhooks

    def webhook(self, method: str, path: str, *, key: str | None = "system", **kwargs: Any) -> requests.Response:
        params = dict(kwargs.pop("params", None) or {})
        if key == "system":
            params["code"] = self.system_key
        elif key == "master":
            params["code"] = self.master_key
        return requests.request(method, f"{self.base}/{WEBHOOKS}/{path}", params=params, timeout=60, **kwargs)

    def status(self, instance_id: str, **params: str) -> requests.Response:
        return self.webhook("GET", f"instances/{instance_id}", params=params)

    def wait(self, instance_id: str, *, timeout: float = 30.0, statuses: set[str] = TERMINAL,
             history: bool = False) -> dict[str, Any]:
        """Poll the public status endpoint until the instance reaches one of `statuses`."""
        deadline = time.monotonic() + timeout
        params = {"showHistory": "true", "showHistoryOutput": "true"} if history else {}
        while True:
            response = self.status(instance_id, **params)
            if response.status_code in (200, 202) and response.json()["runtimeStatus"] in statuses:
                return response.json()
            if time.monotonic() > deadline:
                raise AssertionError(f"{instance_id} did not reach {statuses}: {response.status_code} "
                                     f"{response.text[:500]}\n{self.host.stderr()[-3000:]}")
            time.sleep(0.05)

    # -- storage

    def counter(self, partition: str, row: str) -> int | None:
        with TableClient.from_connection_string(self.connection_string, COUNTER_TABLE) as table:
            try:
                return int(table.get_entity(partition, row)["Count"])
            except ResourceNotFoundError:  # row or table not there (yet)
                return None

    def counters(self, partition: str) -> dict[str, int]:
        with TableClient.from_connection_string(self.connection_string, COUNTER_TABLE) as table:
            try:
                return {e["RowKey"]: int(e["Count"])
                        for e in table.query_entities(f"PartitionKey eq '{partition}'")}
            except ResourceNotFoundError:  # table not created yet
                return {}

    def partition_rows(self, instance_id: str) -> list[dict[str, Any]]:
        with TableClient.from_connection_string(self.connection_string, f"DevhostDurable{self.hub}") as table:
            return list(table.query_entities(f"PartitionKey eq '{instance_id}'"))


def events_of(status: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in status["historyEvents"] if e["EventType"] == kind]


def new_hub() -> str:
    return f"Test{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="package")
def durable(azurite, tmp_path_factory) -> Iterator[DurableApi]:
    """One durable app host for the feature tests (its own task hub)."""
    hub = new_hub()
    connection = azurite.ports.connection_string
    host = DevHost(app_dir=DURABLE_APP, env=durable_env(connection, hub),
                   log_dir=tmp_path_factory.mktemp("durable"), name="durable")
    host.start()
    try:
        yield DurableApi(host, hub=hub, connection_string=connection)
    finally:
        assert host.stop() == 0, host.stderr()[-3000:]
