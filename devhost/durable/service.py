"""The host service for Durable Functions: orchestration / activity triggers, the durableClient input,
the management API, the task hub's partitions (leases, balancing, forwarding) and the engine, wired into
the host.

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
from devhost.durable.forwarding import INTERNAL_PREFIX, Forwarder, RemoteEngine
from devhost.durable.management import SYSTEM_KEY_NAME, WEBHOOK_PREFIX, ManagementApi
from devhost.durable.metrics import DurableMetrics, counting_hook, merge_snapshots
from devhost.durable.options import DurableOptions
from devhost.durable.partitions import PartitionManager, partition_list
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
        self.partitions: PartitionManager | None = None
        self.forwarder: Forwarder | None = None
        self.engine: Engine | None = None
        self.api: ManagementApi | None = None
        self.enabled = False

    # ------------------------------------------------------------ host service protocol

    def install(self, host: Host) -> None:
        self.host = host
        functions = host.index.functions
        self.enabled = any(fn.trigger_type in self.trigger_types
                           or any(b.type == DURABLE_CLIENT for b in fn.bindings) for fn in functions)
        self.options = DurableOptions.from_config(host.config)
        self.api = ManagementApi(hub_name=self.options.hub_name, engine=lambda: self.engine,
                                 keys=lambda: host.keys, public_base_url=lambda: host.base_url,
                                 bind_host=host.bind_host)
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
        self.partitions = PartitionManager(
            storage=storage, container=self.options.lease_container, partition_count=self.options.partition_count,
            url=self.api.rpc_base_url, metrics=self.metrics, on_acquired=self.engine.adopt_partitions,
            on_released=self.engine.drop_partitions, tick_seconds=self.options.balance_seconds)
        self.forwarder = Forwarder(container=self.partitions.container, partition_count=self.options.partition_count,
                                   hub_name=self.options.hub_name, owns=self.engine.owns,
                                   secret=self.api.rpc_secret or "",
                                   own_url=self.api.rpc_base_url)
        self.engine.remote = RemoteEngine(self.forwarder, self.engine)
        self.api.forwarder = self.forwarder
        self.api.local_metrics = self._local_metrics
        # NB: register and take our share of the partitions now (free ones, or a dead owner's), so that "Host
        # started" means recovered; partitions still held by a live process come later, from the balance loop.
        await self.partitions.open()
        log.info("durable task hub ready %s", fields(
            hub=self.options.hub_name, table=self.options.table_name, owner=self.engine.owning,
            partitions=partition_list(self.partitions.owned),
            partition_count=self.options.partition_count, worker_id=self.partitions.worker_id,
            rpc=self.api.rpc_base_url, max_activities=self.options.max_activities,
            max_orchestrators=self.options.max_orchestrators))

    async def stop(self) -> None:
        await close_client_sdk_session()
        if self.partitions is not None:
            try:
                await self.partitions.close()  # NB: steps in progress finish, leases go at once
            except Exception:
                log.exception("releasing the task hub partitions failed")
        if self.engine is not None:
            await self.engine.shutdown()
        if self.forwarder is not None:
            await self.forwarder.close()
        if self.api is not None:
            await self.api.stop_rpc_listener()
        if self.store is not None:
            await self.store.close()

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
        snapshots = [self._local_metrics()]
        if self.partitions is not None and self.forwarder is not None:
            others = [w for w in self.partitions.workers if w.worker_id != self.partitions.worker_id and w.url]
            fetched = await asyncio.gather(*(self.forwarder.get_json(w.url, INTERNAL_PREFIX + "metrics")
                                             for w in others), return_exceptions=True)
            for worker, answer in zip(others, fetched, strict=True):
                if isinstance(answer, BaseException):
                    log.warning("durable metrics of a worker unavailable %s",
                                fields(worker_id=worker.worker_id, reason=type(answer).__name__))
                else:
                    snapshots.append(answer)
        return web.json_response(merge_snapshots(snapshots))

    def _local_metrics(self) -> dict[str, Any]:
        """This process's own figures (also served to the other workers of the hub for their totals)."""
        body: dict[str, Any] = {"hub": self.options.hub_name if self.options else None, **self.metrics.snapshot(),
                                **(self.engine.gauges() if self.engine is not None else {})}
        if self.partitions is not None:
            body["partitionCount"] = self.partitions.partition_count
            body["worker"] = self.partitions.describe()
            body["partitions"] = sorted(self.partitions.owned)
        return body

