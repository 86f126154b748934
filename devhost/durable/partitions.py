"""Partitioned ownership of a task hub: several devhost processes share it, each working some partitions.

As the Azure Storage backend shares its control queues: an instance's partition is FNV-1a (32-bit, over the
UTF-8 instance id) mod `partitionCount` (host.json `extensions.durableTask.storageProvider.partitionCount`,
default 4), and a process works exactly the instances of the partitions whose blob lease it holds:

    {hub}-leases/partition-00 .. partition-NN   one lease per partition; metadata: holder, worker id, url
    {hub}-leases/workers/{worker id}            one lease per live process (its heartbeat); metadata the same

Every balance tick (host setting, default 2 s) a process lists the worker blobs: live = leased by a process
that still runs (a lease of a gone pid on this machine is broken at once; expired ones are deleted). The
assignment follows from the sorted live list alone: partition k -> workers[k % W], so every process computes
the same one. A process releases what is no longer its own (its steps in progress finish first) and
acquires what is, once free. One process alone owns every partition. Leases are renewed every 5 s by a
separate task, so a long recovery never lets them lapse.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.blob.aio import BlobLeaseClient, BlobServiceClient, ContainerClient

from devhost.durable.leasing import RENEW_SECONDS, ProcessLease, holder_is_gone, holder_metadata
from devhost.durable.metrics import DurableMetrics, counting_hook
from devhost.logs import WORKER_ENV, fields  # WORKER_ENV: the supervisor's number for a worker
from devhost.settings import StorageAccount

log = logging.getLogger("devhost.durable.partitions")

WORKERS_PREFIX = "workers/"

PartitionsCallback = Callable[[set[int]], Awaitable[None]]


def fnv1a_32(text: str) -> int:
    """FNV-1a, 32 bits, over the UTF-8 bytes (the Azure Storage backend's partition hash)."""
    value = 0x811C9DC5
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def partition_of(instance_id: str, count: int) -> int:
    return fnv1a_32(instance_id) % count


def partition_blob(index: int) -> str:
    return f"partition-{index:02d}"


def assignment(workers: list[str], count: int) -> dict[int, str]:
    """Partition k -> the k-th worker of the sorted live list, round robin (the same in every process)."""
    ordered = sorted(workers)
    return {k: ordered[k % len(ordered)] for k in range(count)} if ordered else {}


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class WorkerInfo:
    worker_id: str
    url: str  # its internal (RPC) base URL
    pid: int | None
    number: str | None  # the supervisor's worker number, if any


class PartitionManager:
    def __init__(self, *, storage: StorageAccount, container: str, partition_count: int, url: str,
                 metrics: DurableMetrics, on_acquired: PartitionsCallback, on_released: PartitionsCallback,
                 tick_seconds: float) -> None:
        self.partition_count = partition_count
        self.worker_id = new_worker_id()
        self.number = os.environ.get(WORKER_ENV) or None
        self.url = url
        self.tick_seconds = tick_seconds
        self.owned: set[int] = set()
        self._on_acquired = on_acquired
        self._on_released = on_released
        self._service = BlobServiceClient.from_connection_string(
            storage.connection_string, raw_request_hook=counting_hook(metrics, "blob"))
        self.container: ContainerClient = self._service.get_container_client(container)
        self.metadata = {**holder_metadata(), "workerid": self.worker_id, "url": url,
                         "worker": self.number or ""}
        self._worker = ProcessLease(self.container, WORKERS_PREFIX + self.worker_id, self.metadata)
        self._partitions = [ProcessLease(self.container, partition_blob(k), self.metadata)
                            for k in range(partition_count)]
        self._lock = asyncio.Lock()  # NB: owned changes (balance, renewal losses) one at a time
        self._tasks: list[asyncio.Task] = []
        self._waiting_logged = False
        self.workers: list[WorkerInfo] = []  # the live workers seen by the last balance round

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Register this worker (a leased blob of its own), then take our share of the partitions."""
        try:
            await self.container.create_container()
        except ResourceExistsError:
            pass
        if not await self._worker.try_acquire():
            raise RuntimeError(f"cannot lease the worker blob {self.worker_id}")
        await self.balance()
        self._tasks = [asyncio.create_task(self._balance_loop(), name="durable-balance"),
                       asyncio.create_task(self._renew_loop(), name="durable-lease-renew")]

    async def close(self) -> None:
        """Clean stop: drop and release every partition at once, then our worker blob."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        async with self._lock:
            if self.owned:
                await self._release(set(self.owned))
        await self._worker.release()
        try:
            await self._worker.blob.delete_blob()
        except AzureError:
            pass
        await self._service.close()

    # ------------------------------------------------------------ the live workers

    async def live_workers(self) -> list[WorkerInfo]:
        """Workers whose blob is leased by a running process (this one always included); clears dead ones."""
        live = [WorkerInfo(self.worker_id, self.url, os.getpid(), self.number)]
        async for blob in self.container.list_blobs(name_starts_with=WORKERS_PREFIX, include=["metadata"]):
            worker_id = blob.name[len(WORKERS_PREFIX):]
            if worker_id == self.worker_id:
                continue
            metadata = dict(blob.metadata or {})
            leased = blob.lease.state == "leased"
            if leased and not holder_is_gone(metadata):
                pid = metadata.get("holderpid", "")
                live.append(WorkerInfo(worker_id, metadata.get("url", ""), int(pid) if pid.isdigit() else None,
                                       metadata.get("worker") or None))
                continue
            # NB: a dead worker's blob: anyone may clear it (its lease broken first if its pid is gone)
            client = self.container.get_blob_client(blob.name)
            try:
                if leased:
                    log.warning("worker process is gone; breaking its lease %s", fields(worker_id=worker_id))
                    await BlobLeaseClient(client).break_lease(lease_break_period=0)
                await client.delete_blob()
            except AzureError:
                pass
        return sorted(live, key=lambda w: w.worker_id)

    # ------------------------------------------------------------ balancing

    async def balance(self) -> None:
        """One round: release what is no longer ours, acquire what is (when free), recover it."""
        workers = await self.live_workers()
        self.workers = workers
        plan = assignment([w.worker_id for w in workers], self.partition_count)
        mine = {k for k, owner in plan.items() if owner == self.worker_id}
        acquired: set[int] = set()
        async with self._lock:
            surplus = self.owned - mine
            if surplus:
                log.info("releasing partitions %s", fields(partitions=partition_list(surplus), workers=len(workers)))
                await self._release(surplus)
            for k in sorted(mine - self.owned):
                if await self._partitions[k].try_acquire():
                    acquired.add(k)
            self.owned |= acquired
        if acquired:
            log.info("partitions acquired %s", fields(partitions=partition_list(acquired),
                                                     owned=partition_list(self.owned),
                                                     workers=len(workers), worker_id=self.worker_id))
            try:
                await self._on_acquired(acquired)
            except BaseException:
                # NB: not recovered = not worked: give them back, so a later round (or another process) retries
                async with self._lock:
                    if acquired & self.owned:
                        await self._release(acquired & self.owned)
                raise
        missing = mine - self.owned
        if missing and not self._waiting_logged:
            log.info("waiting for partitions held by another process %s", fields(partitions=partition_list(missing)))
        self._waiting_logged = bool(missing)

    async def _release(self, partitions: set[int]) -> None:
        """Stop working the partitions (steps in progress finish), then free their leases. Under the lock."""
        self.owned -= partitions
        await self._on_released(partitions)
        await asyncio.gather(*(self._partitions[k].release() for k in partitions))

    async def _balance_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                await self.balance()
            except (AzureError, OSError) as exc:
                log.warning("partition balancing failed; trying again %s", fields(reason=type(exc).__name__))
            except Exception:
                log.exception("partition balancing failed; trying again")

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            started = time.monotonic()
            try:
                if not await self._worker.keep():
                    log.warning("worker lease lost; registering again %s", fields(worker_id=self.worker_id))
                    await self._worker.try_acquire()
                async with self._lock:
                    owned = sorted(self.owned)
                    kept = await asyncio.gather(*(self._partitions[k].keep() for k in owned))
                    lost = {k for k, ok in zip(owned, kept, strict=True) if not ok}
                    if lost:
                        log.error("partition leases lost to another process %s",
                                  fields(partitions=partition_list(lost)))
                        self.owned -= lost
                        await self._on_released(lost)
            except Exception:
                log.exception("lease renewal failed %s", fields(seconds=round(time.monotonic() - started, 3)))

    def describe(self) -> dict[str, Any]:
        """This worker, as the durable metrics name it."""
        return {"workerId": self.worker_id, "worker": self.number, "pid": os.getpid()}


def partition_list(partitions: set[int]) -> str:
    """`0,2` for logs (`-` for none)."""
    return ",".join(str(k) for k in sorted(partitions)) or "-"
