"""The seam through which the Git sync tells the reporter when a configuration was last applied."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Protocol


class SyncHook(Protocol):
    def last_config_applied(self, configuration_id: str) -> datetime | None:
        """The time of the last synced commit for the configuration, or None when unknown."""


class NoSync:
    """The default: nothing is synced, so `lastConfigApplied` is the time the state was observed."""

    def last_config_applied(self, configuration_id: str) -> datetime | None:
        return None


class RecordedSync:
    """A thread-safe record a Git sync loop can write to (`record(id, commit_time)`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._applied: dict[str, datetime] = {}

    def record(self, configuration_id: str, applied_at: datetime) -> None:
        with self._lock:
            self._applied[configuration_id.lower()] = applied_at

    def last_config_applied(self, configuration_id: str) -> datetime | None:
        with self._lock:
            return self._applied.get(configuration_id.lower())
