"""Counters for what the durable engine does, and an azure-core request hook counting its storage requests.

The hook runs in azure-core's CustomHookPolicy, which sits after the retry policy of the engine's table
and blob clients, so it counts every HTTP request that reaches storage (retries included), by kind:
`table.batch`, `table.query`, `table.insert`, `blob.lease.renew`... `GET /admin/durable/metrics` (master
key) returns a snapshot; the benchmark divides the request count by the number of activities it ran.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit


class DurableMetrics:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.requests: Counter[str] = Counter()
        self.events: Counter[str] = Counter()

    def count_request(self, kind: str) -> None:
        self.requests[kind] += 1

    def count(self, name: str, amount: int = 1) -> None:
        self.events[name] += amount

    def snapshot(self) -> dict[str, Any]:
        return {
            "uptimeSeconds": round(time.monotonic() - self.started, 3),
            "storageRequests": sum(self.requests.values()),
            "storageRequestsByKind": dict(sorted(self.requests.items())),
            **{name: value for name, value in sorted(self.events.items())},
        }


def request_kind(service: str, method: str, url: str, headers: Any) -> str:
    """A short name for a storage request: `table.batch`, `table.query`, `blob.lease.renew`, ..."""
    parts = urlsplit(url)
    path, query = parts.path, parts.query
    if service == "table":
        if "/$batch" in path:
            return "table.batch"
        if path.rstrip("/").endswith("/Tables") or "/Tables(" in path:
            return f"table.tables.{method.lower()}"
        if method == "GET":
            return "table.get" if "(PartitionKey=" in path else "table.query"
        return {"POST": "table.insert", "PUT": "table.update", "MERGE": "table.update", "PATCH": "table.update",
                "DELETE": "table.delete"}.get(method, f"table.{method.lower()}")
    if "comp=lease" in query:
        return f"blob.lease.{(headers.get('x-ms-lease-action') or 'lease').lower()}"
    if "restype=container" in query:
        return f"blob.container.{method.lower()}"
    if "comp=metadata" in query:
        return "blob.metadata"
    return {"GET": "blob.get", "HEAD": "blob.properties", "PUT": "blob.put", "DELETE": "blob.delete"}.get(
        method, f"blob.{method.lower()}")


def counting_hook(metrics: DurableMetrics, service: str) -> Callable[[Any], None]:
    """An azure-core `raw_request_hook` (CustomHookPolicy, which sits after the retry policy) counting requests."""

    def on_request(request: Any) -> None:
        http = request.http_request
        metrics.count_request(request_kind(service, http.method, http.url, http.headers))

    return on_request


WORKER_FIGURES = ("instancesInMemory", "activitiesInFlight", "activitiesCompleted", "steps", "orchestratorEpisodes",
                  "storageRequests")


def merge_snapshots(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """The hub-wide picture from each live worker's own metrics: counters summed, one entry per worker.

    The first snapshot is this process's; with one worker the top-level figures are exactly its own.
    """
    merged: dict[str, Any] = {}
    for snap in snapshots:
        for key, value in snap.items():
            if key in ("worker", "partitions"):
                continue
            if key == "storageRequestsByKind":
                kinds = merged.setdefault(key, {})
                for kind, count in value.items():
                    kinds[kind] = kinds.get(kind, 0) + count
            elif key == "owner":
                merged[key] = bool(merged.get(key)) or bool(value)
            elif key in ("uptimeSeconds", "partitionCount"):
                merged.setdefault(key, value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                merged[key] = merged.get(key, 0) + value
            else:
                merged.setdefault(key, value)
    if "storageRequestsByKind" in merged:
        merged["storageRequestsByKind"] = dict(sorted(merged["storageRequestsByKind"].items()))
    merged["workers"] = [{**(snap.get("worker") or {}), "partitions": snap.get("partitions", []),
                          **{name: snap.get(name, 0) for name in WORKER_FIGURES}} for snap in snapshots]
    return merged
