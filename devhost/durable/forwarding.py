"""Requests for instances of partitions this process does not own go to the process that owns them.

The owner of partition k is the holder of the lease on `{hub}-leases/partition-kk`; its internal base URL
(the loopback RPC listener of its management API) is in that blob's metadata. Owners are cached and
looked up again after a failure. While a partition has no owner (a takeover in progress) requests are
retried with backoff for up to 30 s, then answered 503 with a message saying so.

Forwarded requests carry the hub's RPC secret (basic auth, rpc_auth.py), `x-devhost-forwarded: 1` and the
original client's Host in `x-devhost-forwarded-host` (their own Host names the owner's loopback address, the
only kind its listener accepts); a process
that gets a forwarded request for a partition it no longer owns answers 503 with `x-devhost-not-owner`
instead of forwarding again, so a request never travels in circles.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from azure.core.exceptions import AzureError
from azure.storage.blob.aio import ContainerClient

from devhost.durable import rpc_auth
from devhost.durable.engine import Engine, NotOwner
from devhost.durable.partitions import partition_blob, partition_of
from devhost.logs import fields

log = logging.getLogger("devhost.durable.forward")

FORWARDED_HEADER = "x-devhost-forwarded"
NOT_OWNER_HEADER = "x-devhost-not-owner"
INTERNAL_PREFIX = "devhost/"  # internal routes under the RPC base: key required
PATIENCE_ENV = "DEVHOST_DURABLE_FORWARD_PATIENCE"
DEFAULT_PATIENCE = 30.0
PASSED_HEADERS = ("content-type", "location", "retry-after", "x-ms-continuation-token")


class NoOwner(Exception):
    """No process owned the partition for the whole patience period."""


@dataclass
class Forwarded:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Forwarder:
    def __init__(self, *, container: ContainerClient, partition_count: int, hub_name: str,
                 owns: Callable[[str], bool], secret: str, own_url: str) -> None:
        self.container = container
        self.partition_count = partition_count
        self.hub_name = hub_name
        self.owns = owns
        self.auth = rpc_auth.client_auth(secret)
        self.own_url = own_url
        self.patience = float(os.environ.get(PATIENCE_ENV) or DEFAULT_PATIENCE)
        self._owners: dict[int, str] = {}
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))
        return self._session

    async def owner_url(self, partition: int, *, refresh: bool = False) -> str | None:
        """The owner's internal base URL from its lease blob (cached); None while nobody holds the lease."""
        if not refresh and partition in self._owners:
            return self._owners[partition]
        self._owners.pop(partition, None)
        try:
            props = await self.container.get_blob_client(partition_blob(partition)).get_blob_properties()
        except AzureError:
            return None
        url = (props.metadata or {}).get("url")
        if props.lease.state != "leased" or not url:
            return None
        self._owners[partition] = url
        return url

    async def send(self, instance_id: str, method: str, path: str, *, query: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None, body: bytes | None = None,
                   timeout: float | None = None) -> Forwarded | None:
        """Send `path` (relative to the owner's internal base) to the owner of `instance_id`'s partition.

        None: this process owns the partition now (the caller handles it). NoOwner after the patience period.
        """
        partition = partition_of(instance_id, self.partition_count)
        deadline = time.monotonic() + self.patience
        delay = 0.05
        refresh = False
        sent_headers = {**(headers or {}), FORWARDED_HEADER: "1"}
        while True:
            if self.owns(instance_id):
                return None
            url = await self.owner_url(partition, refresh=refresh)
            if url and url != self.own_url:
                try:
                    async with self.session.request(
                            method, url + path, params=query, headers=sent_headers, data=body, auth=self.auth,
                            timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                        data = await response.read()
                        if response.status != 503 or NOT_OWNER_HEADER not in response.headers:
                            passed = {k: v for k, v in response.headers.items() if k.lower() in PASSED_HEADERS}
                            return Forwarded(response.status, passed, data)
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    log.info("owner unreachable; looking it up again %s",
                             fields(partition=partition, reason=type(exc).__name__))
            if time.monotonic() + delay > deadline:
                raise NoOwner(f"no devhost process owns partition {partition} of task hub {self.hub_name} "
                              f"(instance {instance_id!r}) right now; tried for {self.patience:.0f} s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
            refresh = True

    async def get_json(self, url: str, path: str) -> Any:
        """GET an internal route of a given worker (e.g. its metrics)."""
        async with self.session.get(url + path, headers={FORWARDED_HEADER: "1"}, auth=self.auth,
                                    timeout=aiohttp.ClientTimeout(total=5)) as response:
            response.raise_for_status()
            return await response.json()


class RemoteEngine:
    """The engine's cross-partition traffic (engine.RemotePartitions) through the owners' internal routes."""

    def __init__(self, forwarder: Forwarder, engine: Engine) -> None:
        self.forwarder = forwarder
        self.engine = engine

    async def create_child(self, *, name: str, instance_id: str, input_text: str | None,
                           parent: tuple[str, str, int]) -> str:
        body = json.dumps({"name": name, "instanceId": instance_id, "input": input_text, "parent": list(parent)})
        answer = await self.forwarder.send(instance_id, "POST", INTERNAL_PREFIX + "children", body=body.encode(),
                                           headers={"Content-Type": "application/json"})
        if answer is None:
            return await self.engine.create_child(name=name, instance_id=instance_id, input_text=input_text,
                                                  parent=parent)
        if answer.status == 200:
            return str(answer.json()["outcome"])
        if answer.status == 400:
            raise ValueError(str(answer.json()["error"]))
        raise RuntimeError(f"the owner of {instance_id!r} answered {answer.status} to creating it")

    async def deliver(self, instance_id: str, execution_id: str, event: dict[str, Any]) -> None:
        """Until some owner of the parent's partition accepts the result (or this process stops)."""
        body = json.dumps({"instanceId": instance_id, "executionId": execution_id, "event": event}).encode()
        delay = 0.5
        while True:
            try:
                answer = await self.forwarder.send(instance_id, "POST", INTERNAL_PREFIX + "results", body=body,
                                                   headers={"Content-Type": "application/json"})
                if answer is None:
                    await self.engine.accept_result(instance_id, execution_id, event)
                    return
                if answer.status < 300:
                    return
                reason = f"HTTP {answer.status}"
            except (NotOwner, NoOwner) as exc:
                reason = str(exc)
            log.warning("sub-orchestration result not delivered yet; retrying %s",
                        fields(parent=instance_id, retry_in_s=delay, reason=reason))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
