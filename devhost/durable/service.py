"""The host service for Durable Functions: orchestration / activity triggers, the durableClient input,
the management API, the task hub lease and the engine, wired into the host.

Apps without any durable function are left alone: no table, no lease, no system key.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web
from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.functions import meta
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import BlobServiceClient

from devhost.durable.engine import Engine
from devhost.durable.leasing import HubLease
from devhost.durable.management import SYSTEM_KEY_NAME, WEBHOOK_PREFIX, ManagementApi
from devhost.durable.metrics import DurableMetrics, counting_hook
from devhost.durable.options import DurableOptions
from devhost.durable.store import TaskHubStore
from devhost.http_server import RequestLog, empty, presented_key
from devhost.keys import SECRETS_CONTAINER, generate_key
from devhost.logs import fields

if TYPE_CHECKING:
    from devhost.bindings import Invocation
    from devhost.host import Host
    from devhost.indexing import Binding, IndexedFunction

log = logging.getLogger("devhost.durable")

ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
ENTITY_TRIGGER = "entityTrigger"
DURABLE_CLIENT = "durableClient"
METRICS_PREFIX = "admin/durable/"


async def close_client_sdk_session() -> None:
    """Close the durable client SDK's shared aiohttp session (its module keeps one per process).

    NB: the SDK has no shutdown hook (the worker process just ends), so without this every clean stop
    logs "Unclosed client session", and its keep-alive connections hold up the RPC listener's shutdown.
    """
    try:
        from azure.durable_functions.models.utils import http_utils
    except ImportError:
        return
    close = getattr(http_utils, "_close_session", None)
    if close is not None:
        try:
            await close()
        except (OSError, RuntimeError):
            pass


class DurableService:
    name = "durable"
    trigger_types = frozenset({ORCHESTRATION_TRIGGER, ACTIVITY_TRIGGER, ENTITY_TRIGGER})

    def __init__(self) -> None:
        self.host: Host | None = None
        self.options: DurableOptions | None = None
        self.metrics = DurableMetrics()
        self.store: TaskHubStore | None = None
        self.lease: HubLease | None = None
        self.engine: Engine | None = None
        self.api: ManagementApi | None = None
        self._owner_task: asyncio.Task | None = None
        self._stopping = asyncio.Event()
        self.enabled = False

    # ------------------------------------------------------------ host service protocol

    def install(self, host: Host) -> None:
        self.host = host
        functions = host.index.functions
        self.enabled = any(fn.trigger_type in self.trigger_types
                           or any(b.type == DURABLE_CLIENT for b in fn.bindings) for fn in functions)
        self.options = DurableOptions.from_config(host.config)
        self.api = ManagementApi(hub_name=self.options.hub_name, engine=lambda: self.engine,
                                 keys=lambda: host.keys, public_base_url=lambda: host.base_url)
        host.extensions.add_input(DURABLE_CLIENT, self._client_binding)
        http = host.service("http")
        if http is not None:
            http.add_system_handler(WEBHOOK_PREFIX, self.api.webhook)
            http.add_system_handler(METRICS_PREFIX, self._metrics_endpoint)

    def describe(self, fn: IndexedFunction, base_url: str) -> str:
        if fn.trigger_type == ENTITY_TRIGGER:
            return "entityTrigger (not served by devhost: durable entities)"
        return fn.trigger_type

    async def start(self, host: Host) -> None:
        if not self.enabled:
            return
        assert self.options is not None and self.api is not None
        storage = host.settings.require_storage()
        await self._ensure_system_key(host)
        self.store = TaskHubStore(storage=storage, table_name=self.options.table_name, metrics=self.metrics)
        await self.store.open()
        await self.api.start_rpc_listener()
        orchestrators = {fn.name: fn for fn in host.index.functions
                         if fn.trigger_type == ORCHESTRATION_TRIGGER}
        activities = {fn.name: fn for fn in host.index.functions
                      if fn.trigger_type == ACTIVITY_TRIGGER}
        self.engine = Engine(host=host, options=self.options, store=self.store, metrics=self.metrics,
                             orchestrators=orchestrators, activities=activities)
        self.lease = HubLease(storage=storage, container=self.options.lease_container, metrics=self.metrics)
        # NB: take the hub now when it is free (or its owner died), so that "Host started" means recovered;
        # otherwise keep waiting for it in the background.
        first = asyncio.Event()
        self._owner_task = asyncio.create_task(self._own_hub(first), name="durable-owner")
        waiter = asyncio.create_task(first.wait())
        await asyncio.wait({waiter, self._owner_task}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self._owner_task.done() and self._owner_task.exception() is not None:
            raise self._owner_task.exception()  # type: ignore[misc]
        log.info("durable task hub ready %s", fields(
            hub=self.options.hub_name, table=self.options.table_name, owner=self.engine.owning,
            rpc=self.api.rpc_base_url, max_activities=self.options.max_activities,
            max_orchestrators=self.options.max_orchestrators))

    async def stop(self) -> None:
        self._stopping.set()
        await close_client_sdk_session()
        if self._owner_task is not None:
            self._owner_task.cancel()
            await asyncio.gather(self._owner_task, return_exceptions=True)
        if self.engine is not None:
            await self.engine.shutdown()
        if self.lease is not None:
            await self.lease.release()
            await self.lease.close()
        if self.api is not None:
            await self.api.stop_rpc_listener()
        if self.store is not None:
            await self.store.close()

    # ------------------------------------------------------------ owning the hub

    async def _own_hub(self, first: asyncio.Event) -> None:
        """Hold the hub: acquire the lease, recover, run until the lease is lost, start over.

        Errors before the first ownership surface from `start()`; later ones are logged and retried.
        """
        assert self.lease is not None and self.engine is not None
        while not self._stopping.is_set():
            try:
                acquiring = asyncio.create_task(self.lease.acquire(self._stopping))
                done, _ = await asyncio.wait({acquiring}, timeout=0.5)
                if not done:
                    first.set()  # NB: held by a live process: start serving HTTP, keep waiting here
                if not await acquiring:
                    return
                self.engine.owning = True
                await self.engine.recover()
                first.set()
                await self.lease.lost.wait()
                log.error("durable task hub lost; dropping in-memory state and waiting to own it again")
            except Exception:
                if not first.is_set():
                    raise
                log.exception("durable task hub: owning it failed; trying again in 2 s")
                await self.lease.release()
                await asyncio.sleep(2)
            finally:
                await self.engine.shutdown()

    # ------------------------------------------------------------ keys

    async def _ensure_system_key(self, host: Host) -> None:
        """Make sure the host secrets hold a `durabletask_extension` system key, as the real extension does."""
        keys = host.keys
        if keys is None or keys.system_keys.get(SYSTEM_KEY_NAME):
            return
        storage = host.settings.require_storage()
        path = f"{host.settings.host_id}/host.json"
        async with BlobServiceClient.from_connection_string(
                storage.connection_string, raw_request_hook=counting_hook(self.metrics, "blob")) as service:
            blob = service.get_blob_client(SECRETS_CONTAINER, path)
            for _ in range(10):
                try:
                    stream = await blob.download_blob()
                    data = await stream.readall()
                    etag = stream.properties.etag
                except ResourceNotFoundError:
                    return
                doc: dict[str, Any] = json.loads(data)
                system = doc.get("systemKeys") or []
                existing = next((k for k in system
                                 if isinstance(k, dict) and k.get("name") == SYSTEM_KEY_NAME), None)
                if existing is None:
                    existing = {"name": SYSTEM_KEY_NAME, "value": generate_key(), "encrypted": False}
                    doc["systemKeys"] = [*system, existing]
                    try:
                        await blob.upload_blob(json.dumps(doc, indent=2), overwrite=True, etag=etag,
                                               match_condition=MatchConditions.IfNotModified,
                                               content_settings=ContentSettings(content_type="application/json"))
                    except (ResourceModifiedError, ResourceExistsError):
                        continue  # NB: another host wrote the file meanwhile: read it again
                value = existing.get("value")
                if isinstance(value, str) and value:
                    host.keys = dataclasses.replace(keys, system_keys={**keys.system_keys, SYSTEM_KEY_NAME: value})
                return

    # ------------------------------------------------------------ bindings and endpoints

    async def _client_binding(self, binding: Binding, invocation: Invocation) -> meta.Datum:
        assert self.api is not None and self.options is not None
        hub = binding.get("taskHub")
        if hub and str(hub).lower() != self.options.hub_name.lower():
            raise ValueError(f"devhost serves the task hub '{self.options.hub_name}' only; the durableClient "
                             f"binding of '{invocation.function.name}' asks for '{hub}'")
        if self.engine is None:
            raise RuntimeError("the durable task hub is not running (no durable functions were indexed)")
        return meta.Datum(type="string", value=json.dumps(self.api.client_binding()))

    async def _metrics_endpoint(self, request: web.BaseRequest, entry: RequestLog) -> web.StreamResponse:
        """`GET /admin/durable/metrics` (master key): storage requests and engine counters."""
        assert self.host is not None
        entry.route = request.path.lstrip("/")[:64]
        if request.path.strip("/").lower() != "admin/durable/metrics" or request.method != "GET":
            return empty(404)
        keys = self.host.keys
        if keys is None or keys.level_of(presented_key(request), "") != "admin":
            return empty(401)
        body = {"hub": self.options.hub_name if self.options else None, **self.metrics.snapshot(),
                **(self.engine.gauges() if self.engine is not None else {})}
        return web.json_response(body)

