"""Object storage with one global resourceVersion counter (as etcd), an event window and watch fan-out.

The store knows nothing of Kubernetes semantics beyond keys and resourceVersions; `verbs.py`
decides what a create, update or delete means. Everything runs on one asyncio loop, so no locks:
a watcher that subscribes and reads the backlog in one synchronous step misses nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, str]  # (group, plural)


def clone(obj: Any) -> Any:
    """Deep copy of JSON data (faster than copy.deepcopy for plain dicts and lists)."""
    return json.loads(json.dumps(obj))


@dataclass(frozen=True)
class Event:
    """One change: the object after it (for DELETED, its last state at the deletion's resourceVersion)."""

    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    key: Key
    namespace: str
    obj: dict[str, Any]
    old: dict[str, Any] | None = None


@dataclass(eq=False)
class Watcher:
    key: Key
    namespace: str | None  # None: every namespace
    queue: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)

    def wants(self, event: Event) -> bool:
        return event.key == self.key and (self.namespace is None or event.namespace == self.namespace)


class Store:
    def __init__(self, *, window: int = 1000) -> None:
        self.rv = 0
        # Watches from a resourceVersion older than this answer 410 Gone: its events are gone.
        self.compacted_rv = 0
        self._objects: dict[Key, dict[tuple[str, str], dict[str, Any]]] = {}
        self._history: deque[Event] = deque()
        self._window = max(1, window)
        self._watchers: set[Watcher] = set()
        self._listeners: list[Callable[[Event], None]] = []

    # --- reading -------------------------------------------------------------------------------
    def get(self, key: Key, namespace: str, name: str) -> dict[str, Any] | None:
        obj = self._objects.get(key, {}).get((namespace, name))
        return clone(obj) if obj is not None else None

    def exists(self, key: Key, namespace: str, name: str) -> bool:
        return (namespace, name) in self._objects.get(key, {})

    def list(self, key: Key, namespace: str | None = None) -> list[dict[str, Any]]:
        bucket = self._objects.get(key, {})
        # NB: filter before sorting: the controllers list one namespace per reconcile, and sorting every
        # object of the kind each time made a cluster of a thousand Deployments slow down quadratically
        keys = sorted(bucket if namespace is None else [k for k in bucket if k[0] == namespace])
        return [clone(bucket[k]) for k in keys]

    def count_in_namespace(self, namespace: str, keys: set[Key]) -> int:
        return sum(1 for key in keys for (ns, _name) in self._objects.get(key, {}) if ns == namespace)

    def iter_all(self) -> Iterator[tuple[Key, dict[str, Any]]]:
        """Every stored object, uncopied: callers must not mutate."""
        for key, bucket in self._objects.items():
            for obj in bucket.values():
                yield key, obj

    # --- writing -------------------------------------------------------------------------------
    def put(self, key: Key, obj: dict[str, Any], *, event_type: str) -> dict[str, Any]:
        """Store `obj` (ADDED or MODIFIED) under a new resourceVersion; returns a copy as stored."""
        meta = obj["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        old = self._objects.get(key, {}).get((namespace, name))
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        stored = clone(obj)
        self._objects.setdefault(key, {})[(namespace, name)] = stored
        self._record(Event(self.rv, event_type, key, namespace, stored, old))
        return clone(stored)

    def remove(self, key: Key, namespace: str, name: str) -> dict[str, Any] | None:
        old = self._objects.get(key, {}).pop((namespace, name), None)
        if old is None:
            return None
        self.rv += 1
        last = clone(old)
        last["metadata"]["resourceVersion"] = str(self.rv)
        self._record(Event(self.rv, "DELETED", key, namespace, last, old))
        return clone(last)

    def _record(self, event: Event) -> None:
        if len(self._history) >= self._window:
            self.compacted_rv = self._history.popleft().rv
        self._history.append(event)
        for watcher in list(self._watchers):
            if watcher.wants(event):
                watcher.queue.put_nowait(event)
        for listener in list(self._listeners):
            listener(event)

    def compact(self) -> None:
        """Forget every past event, as an etcd compaction: older resourceVersions now get 410."""
        self._history.clear()
        self.compacted_rv = self.rv

    # --- watching ------------------------------------------------------------------------------
    def subscribe(self, key: Key, namespace: str | None) -> Watcher:
        watcher = Watcher(key, namespace)
        self._watchers.add(watcher)
        return watcher

    def unsubscribe(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    def close_watchers(self) -> None:
        for watcher in list(self._watchers):
            watcher.queue.put_nowait(None)

    def events_since(self, rv: int, key: Key, namespace: str | None) -> list[Event]:
        return [e for e in self._history
                if e.rv > rv and e.key == key and (namespace is None or e.namespace == namespace)]

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """Called synchronously after each change; listeners must not write to the store directly."""
        self._listeners.append(listener)

    # --- persistence ---------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"resourceVersion": self.rv,
                "objects": [{"group": key[0], "plural": key[1], "object": obj}
                            for key, bucket in sorted(self._objects.items()) for obj in bucket.values()]}

    def restore(self, data: dict[str, Any]) -> None:
        """Load a snapshot; no event history survives, so watches must start at or after its resourceVersion."""
        self._objects.clear()
        self._history.clear()
        for entry in data.get("objects", []):
            obj = entry["object"]
            meta = obj["metadata"]
            self._objects.setdefault((entry["group"], entry["plural"]), {})[
                (meta.get("namespace", ""), meta["name"])] = obj
        self.rv = int(data.get("resourceVersion", 0))
        self.compacted_rv = self.rv
