"""Listener singletons: one host instance at a time runs a timer, as the WebJobs SingletonManager does.

The real host wraps each timer listener in a SingletonListener (`TimerListener` is marked
`[Singleton(Mode = SingletonMode.Listener)]`): the listener starts only on the instance that holds a blob
lease on

    azure-webjobs-hosts/locks/{hostId}/Host.Functions.{FunctionName}.Listener

(BlobLeaseDistributedLockManager; lock id = FunctionDescriptor.FullName + ".Listener"). The lease lasts
`singleton.listenerLockPeriod` (default 60 s, Azure allows 15-60 s) and is renewed when half of it is
gone. An instance that cannot get the lease stays on standby and retries every
`singleton.listenerLockRecoveryPollingInterval` (default 1 min), so when the holder dies (SIGKILL: the
lease simply expires) another instance takes over within period + polling interval. A clean stop
releases the lease at once.

Differences from the real host (both deliberate):
- Losing the lease (renewal answered 409/412, or no successful renewal for a whole period) stops the inner
  listener and puts this instance back on standby; the real host restarts itself instead.
- `listenerLockRecoveryPollingInterval` may be as short as 1 s (the real host requires >= 15 s), so local
  tests of a takeover do not wait a minute.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob.aio import BlobLeaseClient, ContainerClient

from devhost.hostconfig import HostConfig, HostConfigError, lookup
from devhost.logs import fields
from devhost.triggering import format_timespan, parse_timespan

log = logging.getLogger("devhost.singleton")

HOSTS_CONTAINER = "azure-webjobs-hosts"
LOCKS_DIRECTORY = "locks"
MIN_LEASE_PERIOD = timedelta(seconds=15)  # Azure Storage's limits for a finite lease
MAX_LEASE_PERIOD = timedelta(seconds=60)
DEFAULT_LISTENER_LOCK_PERIOD = MAX_LEASE_PERIOD
DEFAULT_RECOVERY_POLLING_INTERVAL = timedelta(minutes=1)
MIN_RECOVERY_POLLING_INTERVAL = timedelta(seconds=1)  # devhost's floor; the real host's is 15 s
MIN_RENEWAL_INTERVAL = timedelta(seconds=1)


def function_full_name(function_name: str) -> str:
    """The host's FunctionDescriptor.FullName for a function of a script (non-.NET) app."""
    return f"Host.Functions.{function_name}"


def listener_lock_blob(host_id: str, function_name: str) -> str:
    return f"{LOCKS_DIRECTORY}/{host_id}/{function_full_name(function_name)}.Listener"


@dataclass(frozen=True)
class SingletonOptions:
    """host.json `singleton` (the listener-lock part of SingletonOptions)."""

    listener_lock_period: timedelta = DEFAULT_LISTENER_LOCK_PERIOD
    listener_lock_recovery_polling_interval: timedelta = DEFAULT_RECOVERY_POLLING_INTERVAL

    @classmethod
    def from_config(cls, config: HostConfig) -> SingletonOptions:
        section = config.get("singleton", default=None) or {}
        if not isinstance(section, Mapping):
            raise HostConfigError("host.json singleton must be an object")
        period = _timespan(section, "listenerLockPeriod") or DEFAULT_LISTENER_LOCK_PERIOD
        if not MIN_LEASE_PERIOD <= period <= MAX_LEASE_PERIOD:
            raise HostConfigError("singleton.listenerLockPeriod must be between 00:00:15 and 00:01:00 "
                                  f"(found {format_timespan(period)})")
        recovery = _timespan(section, "listenerLockRecoveryPollingInterval") or DEFAULT_RECOVERY_POLLING_INTERVAL
        if recovery < MIN_RECOVERY_POLLING_INTERVAL:
            raise HostConfigError("singleton.listenerLockRecoveryPollingInterval must be at least 00:00:01")
        if recovery < MIN_LEASE_PERIOD:
            log.info("singleton.listenerLockRecoveryPollingInterval %s is below the real host's minimum of "
                     "00:00:15; devhost accepts it", format_timespan(recovery))
        return cls(listener_lock_period=period, listener_lock_recovery_polling_interval=recovery)


def _timespan(section: Mapping[str, Any], key: str) -> timedelta | None:
    value = lookup(section, key)
    if value is None or value == "":
        return None
    try:
        return parse_timespan(str(value))
    except ValueError as exc:
        raise HostConfigError(f"singleton.{key}: {exc}") from None


class LeaseLost(Exception):
    """Someone else holds the lease now (or the blob is gone): stop doing the singleton's work."""


class BlobLease:
    """One lock blob and this instance's lease on it, with the host's error handling (durable.leasing builds on it)."""

    def __init__(self, *, container: ContainerClient, blob_name: str, period: timedelta) -> None:
        self.container = container
        self.blob = container.get_blob_client(blob_name)
        self.period = period
        self._lease: BlobLeaseClient | None = None

    @property
    def name(self) -> str:
        return f"{self.container.container_name}/{self.blob.blob_name}"

    async def try_acquire(self) -> bool:
        """True when this instance now holds the lease; False when another one does (409)."""
        lease = BlobLeaseClient(self.blob)
        seconds = int(self.period.total_seconds())
        try:
            await lease.acquire(lease_duration=seconds)
        except ResourceNotFoundError:
            await self._create_blob()
            try:
                await lease.acquire(lease_duration=seconds)
            except HttpResponseError as exc:
                if exc.status_code == 409:
                    return False
                raise
        except HttpResponseError as exc:
            if exc.status_code == 409:
                return False
            raise
        self._lease = lease
        return True

    async def _create_blob(self) -> None:
        """An empty lock blob (and its container), tolerating a concurrent creator as the host does."""
        for _attempt in range(2):
            try:
                await self.blob.upload_blob(b"", overwrite=False)
                return
            except ResourceExistsError:
                return
            except ResourceNotFoundError:
                with suppress(ResourceExistsError):
                    await self.container.create_container()
            except HttpResponseError as exc:
                if exc.status_code == 412:  # leased by someone else meanwhile
                    return
                raise

    async def renew(self) -> None:
        if self._lease is None:
            raise LeaseLost("no lease held")
        try:
            await self._lease.renew()
        except HttpResponseError as exc:
            if exc.status_code in (404, 409, 412):
                self._lease = None
                raise LeaseLost(f"{exc.status_code} {getattr(exc, 'error_code', '') or ''}".strip()) from None
            raise

    async def release(self) -> None:
        lease, self._lease = self._lease, None
        if lease is None:
            return
        try:
            await lease.release()
        except HttpResponseError as exc:
            if exc.status_code not in (404, 409, 412):
                raise


class InnerListener(Protocol):
    async def run(self) -> None:
        """Do the work until `stop()` (returning early means the listener broke)."""

    async def stop(self) -> None:
        """Stop gracefully: let an invocation in progress finish (bounded by the listener's own timeout)."""


class SingletonListener:
    """Runs a fresh inner listener whenever this instance holds the lock, and none otherwise."""

    def __init__(self, *, lock: BlobLease, options: SingletonOptions, make_listener: Callable[[], InnerListener],
                 function_name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.lock = lock
        self.options = options
        self.make_listener = make_listener
        self.function_name = function_name
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.holding = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"singleton:{self.function_name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        recovery = self.options.listener_lock_recovery_polling_interval.total_seconds()
        on_standby = False
        while True:
            try:
                acquired = await self.lock.try_acquire()
            except (AzureError, OSError) as exc:
                log.warning("singleton lock acquisition failed %s", fields(
                    lock=self.lock.name, function=self.function_name, error=type(exc).__name__))
                acquired = False
            if not acquired:
                if not on_standby:
                    log.info("Unable to acquire Singleton lock; standing by %s", fields(
                        lock=self.lock.name, function=self.function_name,
                        retry_every=format_timespan(self.options.listener_lock_recovery_polling_interval)))
                    on_standby = True
                await asyncio.sleep(recovery)
                continue
            on_standby = False
            log.info("Singleton lock acquired %s", fields(lock=self.lock.name, function=self.function_name))
            outcome = await self._hold()
            if outcome == "inner-ended":
                await asyncio.sleep(recovery)

    async def _hold(self) -> str:
        """Run the inner listener while renewing the lease; returns why it stopped."""
        inner = self.make_listener()
        inner_task = asyncio.create_task(inner.run(), name=f"listener:{self.function_name}")
        self.holding = True
        outcome = "stopped"
        try:
            outcome = await self._renew_until_lost(inner_task)
        finally:
            self.holding = False
            await inner.stop()
            if not inner_task.done():
                inner_task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await inner_task
            if outcome != "lost":
                with suppress(AzureError, OSError):
                    await asyncio.shield(self.lock.release())
                log.info("Singleton lock released %s", fields(lock=self.lock.name, function=self.function_name))
        return outcome

    async def _renew_until_lost(self, inner_task: asyncio.Task[None]) -> str:
        period = self.lock.period.total_seconds()
        normal = period / 2
        last_renewal = self._clock()
        delay = normal
        while True:
            done, _pending = await asyncio.wait({inner_task}, timeout=delay)
            if done:
                error = inner_task.exception() if not inner_task.cancelled() else None
                log.error("timer listener ended unexpectedly %s", fields(
                    function=self.function_name, error=type(error).__name__ if error else None))
                return "inner-ended"
            try:
                await self.lock.renew()
            except LeaseLost as exc:
                log.error("Singleton lock renewal failed: the lease is lost; standing by %s", fields(
                    lock=self.lock.name, function=self.function_name, error=str(exc)))
                return "lost"
            except (AzureError, OSError) as exc:
                remaining = period - (self._clock() - last_renewal)
                if remaining <= 0:
                    log.error("Singleton lock renewal failed for a whole lease period; standing by %s", fields(
                        lock=self.lock.name, function=self.function_name, error=type(exc).__name__))
                    return "lost"
                log.warning("Singleton lock renewal failed; retrying %s", fields(
                    lock=self.lock.name, function=self.function_name, error=type(exc).__name__))
                delay = max(MIN_RENEWAL_INTERVAL.total_seconds(), remaining / 3)
                continue
            last_renewal = self._clock()
            delay = normal
