"""Polling until a long-running operation reaches a terminal state, bounded by `--timeout`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from cli.errors import CliError
from cli.progress import Progress

T = TypeVar("T")
POLL_INTERVAL = 1.0


def wait_for(fetch: Callable[[], T], *, settled: Callable[[T], bool], describe: Callable[[T], str],
             timeout: float, progress: Progress, what: str, interval: float = POLL_INTERVAL) -> T:
    """`fetch()` until `settled`; past `timeout` seconds a CliError naming the last state (exit 1)."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            current = fetch()
            if settled(current):
                return current
            if time.monotonic() >= deadline:
                raise CliError(f"Timed out after {timeout:g} seconds waiting for {what}; last state: "
                               f"{describe(current)}. It goes on in the background.")
            progress.update(describe(current))
            time.sleep(interval)
    finally:
        progress.done()
