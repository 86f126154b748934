"""Blob leases held by a devhost process: 15 s, renewed every 5 s, released at once on a clean stop.

The Azure calls are the timer singleton's (`devhost.singleton.BlobLease`); what this adds is the holder.

`partitions.py` holds one per task hub partition and one per live worker process with them. A holder writes
its host name, pid and process start time in the blob's metadata, so a lease left by a process of THIS
machine that no longer exists (SIGKILL; or whose pid now belongs to another process) is broken at once
instead of waited for: a restart or a surviving worker does not wait out the 15 s.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from contextlib import suppress
from datetime import timedelta
from pathlib import Path

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.storage.blob.aio import BlobLeaseClient, ContainerClient

from devhost.logs import fields
from devhost.singleton import BlobLease as LockLease
from devhost.singleton import LeaseLost

log = logging.getLogger("devhost.durable.lease")

LEASE_SECONDS = 15  # NB: the shortest finite lease Azure Storage (and Azurite) accepts
RENEW_SECONDS = 5.0


def process_start_ticks(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); None where unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def holder_metadata() -> dict[str, str]:
    """Who holds a lease: what `holder_is_gone` checks."""
    return {"holderhost": socket.gethostname(), "holderpid": str(os.getpid()),
            "holderstart": process_start_ticks(os.getpid()) or ""}


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


class ProcessLease(LockLease):
    """A lock blob lease that names its holding process, so a lease of a gone process is broken at once.

    Acquiring also writes `metadata` (holder_metadata and more) on the blob; renewing rides out storage
    hiccups until the lease would lapse, and releasing never fails a stop.
    """

    def __init__(self, container: ContainerClient, blob_name: str, metadata: dict[str, str]) -> None:
        super().__init__(container=container, blob_name=blob_name, period=timedelta(seconds=LEASE_SECONDS))
        self.metadata = metadata
        self.renewed_at = 0.0

    async def try_acquire(self) -> bool:
        """One attempt: True when we hold the lease now (a lease of a gone process is broken first)."""
        for _ in range(3):
            if await super().try_acquire():
                await self.blob.set_blob_metadata(self.metadata, lease=self._lease)
                self.renewed_at = time.monotonic()
                return True
            try:
                props = await self.blob.get_blob_properties()
            except ResourceNotFoundError:
                continue
            if props.lease.state == "leased" and not holder_is_gone(dict(props.metadata or {})):
                return False
            if props.lease.state == "leased":
                log.warning("lease held by a process that is gone; breaking it %s",
                            fields(blob=self.blob.blob_name, pid=(props.metadata or {}).get("holderpid")))
                await BlobLeaseClient(self.blob).break_lease(lease_break_period=0)
        return False

    async def keep(self) -> bool:
        """Renew; False once the lease is lost (taken, or not renewed for most of its period)."""
        try:
            await super().renew()
        except LeaseLost:
            return False
        except (AzureError, OSError) as exc:  # NB: storage hiccup: keep it until the lease would expire
            log.warning("lease renewal failed %s", fields(blob=self.blob.blob_name, reason=type(exc).__name__))
            return time.monotonic() - self.renewed_at < LEASE_SECONDS - RENEW_SECONDS
        self.renewed_at = time.monotonic()
        return True

    async def release(self) -> None:
        with suppress(AzureError, OSError):
            await super().release()
