"""Attacks on devhost's loopback RPC listener (the durable client SDK's and the host-to-host endpoint).

Each request goes to the listener directly, as another local program or a DNS-rebinding page would send it;
each must be refused with nothing changed (no instance created, no event raised). The same request with the
secret and a loopback Host succeeds, so the refusals are the door's, not a broken route's.
"""

from __future__ import annotations

import http.client
import re
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from devhost.durable.rpc_auth import BODY_LIMIT, SECRET_ENV, USER
from tests.api.conftest import SENT_SECRETS
from tests.devhost.durable.conftest import DURABLE_APP, DurableApi, durable_env, events_of, new_hub
from tests.fixtures.devhost_process import DevHost
from tests.fixtures.waiting import wait_for

SECRET = secrets.token_urlsafe(32)
SENT_SECRETS.append(SECRET)


@pytest.fixture(scope="module")
def durable(azurite, tmp_path_factory) -> Iterator[DurableApi]:
    hub = new_hub()
    connection = azurite.ports.connection_string
    host = DevHost(app_dir=DURABLE_APP, env=durable_env(connection, hub, **{SECRET_ENV: SECRET}),
                   log_dir=tmp_path_factory.mktemp("host-rpc"), name="host-rpc")
    host.start()
    try:
        yield DurableApi(host, hub=hub, connection_string=connection)
    finally:
        assert host.stop() == 0, host.stderr()[-3000:]


@pytest.fixture(scope="module")
def rpc(durable: DurableApi) -> str:
    """The listener's base URL, from the host's start-up line (it never carries the secret)."""
    found = wait_for(lambda: re.search(r"rpc=(http://127\.0\.0\.1:\d+/durabletask/)", durable.host.stderr()),
                     timeout=30, what="the durable start-up line")
    assert SECRET not in durable.host.stderr()
    return found.group(1)


def start(rpc: str, instance_id: str, **kwargs: Any) -> requests.Response:
    return requests.post(f"{rpc}orchestrators/wait_for_go/{instance_id}", json='"x"', timeout=30, **kwargs)


def assert_unknown(durable: DurableApi, instance_id: str) -> None:
    assert durable.status(instance_id).status_code == 404
    assert durable.partition_rows(instance_id) == []


@pytest.mark.parametrize("auth", [None, (USER, "wrong-" + SECRET[:20]), (USER, "")], ids=["none", "wrong", "empty"])
def test_a_start_without_the_secret_is_refused_and_starts_nothing(durable, rpc, auth):
    instance_id = f"rpc-{uuid.uuid4().hex}"
    response = start(rpc, instance_id, auth=auth)
    assert response.status_code == 401
    assert_unknown(durable, instance_id)
    # the same request with the secret starts it
    assert start(rpc, instance_id, auth=(USER, SECRET)).status_code == 202
    assert durable.wait(instance_id, statuses={"Running"})["runtimeStatus"] == "Running"


def test_an_event_without_the_secret_is_not_raised(durable, rpc):
    instance_id = durable.start_id("wait_for_go")
    durable.wait(instance_id, statuses={"Running"})
    url = f"{rpc}instances/{instance_id}/raiseEvent/go"
    assert requests.post(url, json={"by": "attacker"}, timeout=30).status_code == 401
    assert requests.post(url, json={"by": "attacker"}, auth=(USER, "x" * 43), timeout=30).status_code == 401
    internal = requests.post(f"{rpc}devhost/results", json={"instanceId": instance_id, "executionId": "x",
                                                              "event": {}}, timeout=30)
    assert internal.status_code == 401
    status = durable.wait(instance_id, statuses={"Running"}, history=True)
    assert events_of(status, "EventRaised") == []
    assert [row for row in durable.partition_rows(instance_id) if row["RowKey"].startswith("I")] == []


def test_a_dns_rebinding_request_is_refused(durable, rpc):
    """A page on evil.example rebound to 127.0.0.1: its requests say `Host: evil.example:PORT`. Even with the
    secret (a page could not know it) the foreign Host alone is refused."""
    instance_id = f"rebind-{uuid.uuid4().hex}"
    port = rpc.split(":")[2].split("/")[0]
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
        response = start(rpc, instance_id, auth=(USER, SECRET), headers={"Host": host})
        assert response.status_code == 403, host
    assert_unknown(durable, instance_id)
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        assert start(rpc, f"{instance_id}-{host[:3]}", auth=(USER, SECRET), headers={"Host": host}).status_code == 202


def test_an_oversized_body_is_413_and_starts_nothing(durable, rpc):
    instance_id = f"big-{uuid.uuid4().hex}"
    body = b'"' + b"a" * (BODY_LIMIT + 1) + b'"'
    response = requests.post(f"{rpc}orchestrators/wait_for_go/{instance_id}", data=body, auth=(USER, SECRET),
                             headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code == 413
    assert "limit" in response.json()["Message"]
    assert_unknown(durable, instance_id)


def test_an_oversized_chunked_body_is_413_and_starts_nothing(durable, rpc):
    """No Content-Length to refuse it by: the listener counts what it reads."""
    instance_id = f"chunked-{uuid.uuid4().hex}"
    chunk = b"a" * (1024 * 1024)

    def chunks() -> Iterator[bytes]:
        yield b'"'
        for _ in range(BODY_LIMIT // len(chunk) + 1):
            yield chunk
        yield b'"'

    try:
        response = requests.post(f"{rpc}orchestrators/wait_for_go/{instance_id}", data=chunks(),
                                 auth=(USER, SECRET), headers={"Content-Type": "application/json"}, timeout=60)
        assert response.status_code == 413
    except (requests.ConnectionError, http.client.HTTPException):
        pass  # NB: the listener may close the connection while the client is still sending; refused either way
    assert_unknown(durable, instance_id)


def test_the_client_sdk_still_works_through_the_listener(durable):
    """The app's own client (rpcBaseUrl with the secret as URL credentials) starts, raises and reads."""
    instance_id = durable.start_id("wait_for_go")
    durable.wait(instance_id, statuses={"Running"})
    assert durable.raise_event(instance_id, "go", {"n": 1}).status_code < 300
    assert durable.wait(instance_id)["runtimeStatus"] == "Completed"
