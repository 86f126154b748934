"""One devhost process works a task hub at a time: a renewed blob lease on `{hub}-leases/devhost-owner`.

The owner renews every 5 s (lease duration 15 s). Another process waits and takes over when the lease
expires, i.e. at most ~15 s after the owner stopped renewing. A clean stop releases the lease at once.

A crashed owner on the SAME machine does not make its successor wait: the owner writes its host name,
pid and process start time in the blob's metadata; a newcomer that finds the lease held by a process of
this machine that no longer exists (or whose pid now belongs to another process) breaks the lease.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from pathlib import Path

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob.aio import BlobClient, BlobLeaseClient, BlobServiceClient

from devhost.durable.metrics import DurableMetrics, counting_hook
from devhost.settings import StorageAccount

log = logging.getLogger("devhost.durable.lease")

LEASE_BLOB = "devhost-owner"
LEASE_SECONDS = 15
RENEW_SECONDS = 5.0
RETRY_SECONDS = 1.0


def process_start_ticks(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); None where unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def holder_is_gone(metadata: dict[str, str]) -> bool:
    """True when the metadata names a process on this machine that is no longer running."""
    if metadata.get("holderhost") != socket.gethostname():
        return False
    try:
        pid = int(metadata.get("holderpid", ""))
    except ValueError:
        return False
    if pid == os.getpid():
        return True  # our own old lease (e.g. after losing and re-acquiring): take it back
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    started = metadata.get("holderstart")
    current = process_start_ticks(pid)
    return bool(started and current and started != current)


class HubLease:
    def __init__(self, *, storage: StorageAccount, container: str, metrics: DurableMetrics) -> None:
        self.container = container
        self.lease_id = str(uuid.uuid4())
        self._service = BlobServiceClient.from_connection_string(
            storage.connection_string, raw_request_hook=counting_hook(metrics, "blob"))
        self._blob: BlobClient = self._service.get_blob_client(container, LEASE_BLOB)
        self.lost = asyncio.Event()
        self._renewer: asyncio.Task | None = None
        self._lease: BlobLeaseClient | None = None
        self.held = False

    async def close(self) -> None:
        await self._service.close()

    async def _ensure_blob(self) -> None:
        try:
            await self._service.create_container(self.container)
        except ResourceExistsError:
            pass
        try:
            await self._blob.upload_blob(b"", overwrite=False)
        except ResourceExistsError:
            pass

    async def acquire(self, stopping: asyncio.Event) -> bool:
        """Wait until we hold the lease (True), or until `stopping` is set (False)."""
        await self._ensure_blob()
        waited_logged = False
        while not stopping.is_set():
            try:
                self._lease = await self._blob.acquire_lease(lease_duration=LEASE_SECONDS, lease_id=self.lease_id)
                await self._blob.set_blob_metadata(
                    {"holderhost": socket.gethostname(), "holderpid": str(os.getpid()),
                     "holderstart": process_start_ticks(os.getpid()) or ""}, lease=self.lease_id)
                self.held = True
                self.lost.clear()
                self._renewer = asyncio.create_task(self._renew_loop(), name="durable-lease-renew")
                return True
            except ResourceExistsError:
                pass
            except ResourceNotFoundError:
                await self._ensure_blob()
                continue
            except HttpResponseError as exc:
                if exc.status_code != 409:
                    raise
            try:
                props = await self._blob.get_blob_properties()
                if holder_is_gone(dict(props.metadata or {})):
                    log.warning("task hub lease held by a process that is gone (pid %s); breaking it",
                                (props.metadata or {}).get("holderpid"))
                    await BlobLeaseClient(self._blob).break_lease(lease_break_period=0)
                    continue
            except ResourceNotFoundError:
                continue
            if not waited_logged:
                log.warning("task hub is owned by another devhost process; waiting for its lease "
                            "(up to %ss after it stops)", LEASE_SECONDS)
                waited_logged = True
            try:
                await asyncio.wait_for(stopping.wait(), RETRY_SECONDS)
            except TimeoutError:
                pass
        return False

    async def _renew_loop(self) -> None:
        failures = 0
        while self.held:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                assert self._lease is not None
                await self._lease.renew()
                failures = 0
            except (ResourceExistsError, ResourceNotFoundError):
                log.error("task hub lease lost to another process")
                self._lose()
                return
            except (AzureError, OSError) as exc:  # NB: storage hiccup: retry until the lease would expire
                failures += 1
                log.warning("task hub lease renewal failed (%s)", type(exc).__name__)
                if failures * RENEW_SECONDS >= LEASE_SECONDS - RENEW_SECONDS:
                    self._lose()
                    return

    def _lose(self) -> None:
        self.held = False
        self.lost.set()

    async def release(self) -> None:
        self.held = False
        if self._renewer is not None:
            self._renewer.cancel()
            self._renewer = None
        if self._lease is not None:
            try:
                await self._lease.release()
            except HttpResponseError:
                pass
            self._lease = None
