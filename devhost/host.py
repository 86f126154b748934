"""The host: settings + host.json + indexed app + keys + invoker + trigger services, on one event loop.

Trigger services are the growth point. A service is an object with
    name: str
    trigger_types: frozenset[str]          # e.g. {"queueTrigger"}
    install(host) -> None                  # register binding providers / system HTTP handlers
    describe(function, base_url) -> str    # the listing text after "name: "
    async start(host) -> None
    async stop() -> None
`default_services()` lists the ones this version ships (HTTP, queues, timers, durable); functions whose trigger no
service handles are listed as not served. Services may reach each other through `host.service(name)`
(e.g. a durable service calls `host.service("http").add_system_handler(...)`), and add input providers
/ output handlers through `host.extensions`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any, Protocol

from devhost.bindings import BindingExtensions
from devhost.durable import DurableService
from devhost.hostconfig import HostConfig
from devhost.http_server import HttpFrontend
from devhost.indexing import AppIndex, IndexedFunction
from devhost.invoking import Invoker
from devhost.keys import KeySet, KeyStore
from devhost.queues import QueueTriggers
from devhost.settings import HostSettings
from devhost.timers import TimerTriggers

log = logging.getLogger("devhost.host")


class HostService(Protocol):
    name: str
    trigger_types: frozenset[str]

    def install(self, host: Host) -> None: ...

    def describe(self, fn: IndexedFunction, base_url: str) -> str: ...

    async def start(self, host: Host) -> None: ...

    async def stop(self) -> None: ...


def default_services() -> list[HostService]:
    return [HttpFrontend(), QueueTriggers(), TimerTriggers(), DurableService()]


def display_host(bind_host: str) -> str:
    return "localhost" if bind_host in ("0.0.0.0", "::", "") else bind_host


class Host:
    def __init__(self, *, settings: HostSettings, config: HostConfig, index: AppIndex,
                 bind_host: str = "127.0.0.1", port: int = 7071,
                 services: list[HostService] | None = None, reuse_port: bool = False) -> None:
        self.settings = settings
        self.config = config
        self.index = index
        self.bind_host = bind_host
        self.port = port
        self.reuse_port = reuse_port  # NB: SO_REUSEPORT, for several worker processes on one port
        self.extensions = BindingExtensions()
        self.invoker = Invoker(extensions=self.extensions)
        self.services: list[HostService] = default_services() if services is None else services
        self.keys: KeySet | None = None  # type: ignore[assignment]
        self.key_store: KeyStore | None = None
        self._stopping = asyncio.Event()
        self._ready = asyncio.Event()  # every service started: functions may be invoked

    @property
    def base_url(self) -> str:
        return f"http://{display_host(self.bind_host)}:{self.port}"

    def service(self, name: str) -> Any:
        return next((s for s in self.services if s.name == name), None)

    def service_for(self, fn: IndexedFunction) -> HostService | None:
        return next((s for s in self.services if fn.trigger_type in s.trigger_types), None)

    def listing(self) -> str:
        """Core Tools style: `name: [GET,POST] http://host:port/api/route`, `name: queueTrigger`."""
        lines = ["", "Functions:", ""]
        for fn in self.index.functions:
            service = self.service_for(fn)
            if service is None:
                text = f"{fn.trigger_type} (not served by devhost yet)"
            else:
                text = service.describe(fn, self.base_url)
            if fn.disabled:
                text += " (disabled)"
            lines.append(f"        {fn.name}: {text}")
            lines.append("")
        for err in self.index.errors:
            lines.append(f"        {err.name}: [ERROR] {err.message}")
            lines.append("")
        if not self.index.functions and not self.index.errors:
            lines.append("        (no functions found)")
            lines.append("")
        return "\n".join(lines)

    def request_stop(self) -> None:
        self._stopping.set()

    async def wait_ready(self, timeout: float) -> bool:
        """Whether every service has started (waiting up to `timeout` seconds for it)."""
        if self._ready.is_set():
            return True
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def load_keys(self) -> KeySet:
        storage = self.settings.require_storage()
        self.key_store = KeyStore(storage=storage, host_id=self.settings.host_id,
                                  host_name=f"{display_host(self.bind_host)}:{self.port}")
        names = [fn.name for fn in self.index.functions if fn.http is not None]
        self.keys = await self.key_store.load(names)
        return self.keys

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        started: list[HostService] = []
        try:
            await self.load_keys()
            for service in self.services:
                service.install(self)
            for service in self.services:
                await service.start(self)
                started.append(service)
            self._ready.set()
            print(self.listing(), flush=True)
            print(f"Host started on {self.base_url}", flush=True)
            log.info("host started %s", f"host_id={self.settings.host_id} port={self.port}")
            await self._stopping.wait()
            log.info("host stopping")
        finally:
            for service in reversed(started):
                try:
                    await service.stop()
                except Exception:
                    log.exception("stopping service %s failed", service.name)
            self.invoker.shutdown()
            if self.key_store is not None:
                await self.key_store.close()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        sys.stdout.flush()
