"""The seam through which the Git sync tells the reporter when a configuration was last applied."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Protocol


class SyncHook(Protocol):
    def last_config_applied(self, configuration_id: str) -> datetime | None:
        """The time of the last synced commit for the configuration, or None when unknown."""

    def sync_failure(self, configuration_id: str) -> str | None:
        """Why the last sync failed, or None when it did not (or nothing syncs here)."""

    def holds_installed(self, configuration_id: str) -> bool:
        """True while Installed must wait for a first successful sync."""


class NoSync:
    """The default: nothing is synced, so `lastConfigApplied` is the time the state was observed."""

    def last_config_applied(self, configuration_id: str) -> datetime | None:
        return None

    def sync_failure(self, configuration_id: str) -> str | None:
        return None

    def holds_installed(self, configuration_id: str) -> bool:
        return False


class RecordedSync:
    """A thread-safe record a Git sync loop writes to (`record(id, commit_time)`, `record_failure(id, why)`).

    With `hold_installed`, a configuration is reported Installed only after its first successful sync.
    """

    def __init__(self, *, hold_installed: bool = False) -> None:
        self._lock = threading.Lock()
        self._applied: dict[str, datetime] = {}
        self._failures: dict[str, str] = {}
        self._hold_installed = hold_installed

    def record(self, configuration_id: str, applied_at: datetime) -> None:
        with self._lock:
            self._applied[configuration_id.lower()] = applied_at
            self._failures.pop(configuration_id.lower(), None)

    def record_failure(self, configuration_id: str, message: str) -> None:
        with self._lock:
            self._failures[configuration_id.lower()] = message

    def sync_failure(self, configuration_id: str) -> str | None:
        with self._lock:
            return self._failures.get(configuration_id.lower())

    def holds_installed(self, configuration_id: str) -> bool:
        with self._lock:
            return self._hold_installed and configuration_id.lower() not in self._applied

    def last_config_applied(self, configuration_id: str) -> datetime | None:
        with self._lock:
            return self._applied.get(configuration_id.lower())
