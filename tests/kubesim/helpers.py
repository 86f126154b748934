"""Small helpers shared by the kubesim tests: polling (no timing asserts) and object builders."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def eventually(probe: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.05) -> T:
    """Call `probe` until it returns something truthy; fail with its last value after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        time.sleep(interval)


def deployment(name: str, *, image: str = "docker.io/fluxcd/flux:1.16.0", replicas: int = 1,
               labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels or {"name": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": name, "image": image,
                                                       "ports": [{"containerPort": 3030}]}]}}},
    }


def condition(obj: Any, kind: str) -> Any:
    """The condition of type `kind` from a client model's status, or None."""
    for item in (obj.status.conditions or []):
        if item.type == kind:
            return item
    return None
