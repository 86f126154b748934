"""Visible progress of a wait on stderr: az's spinner on a terminal, plain lines otherwise.

Plain lines are written when the state changes and at most every `PLAIN_INTERVAL` seconds otherwise, so
a log stays short; `--only-show-errors` silences both.
"""

from __future__ import annotations

import itertools
import sys
import time
from typing import TextIO

SPINNER = "|/-\\"
PLAIN_INTERVAL = 10.0


class Progress:
    def __init__(self, *, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._frames = itertools.cycle(SPINNER)
        self._last_state: str | None = None
        self._last_line = 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def update(self, state: str) -> None:
        """Show that the wait goes on, `state` naming what is awaited (e.g. `complianceState=Pending`)."""
        if self.quiet:
            return
        if self.tty:
            self.stream.write(f"\r{next(self._frames)} Running .. {state} ({self.elapsed():.0f}s)\x1b[K")
            self.stream.flush()
            return
        now = time.monotonic()
        if state != self._last_state or now - self._last_line >= PLAIN_INTERVAL:
            self.stream.write(f"waiting: {state} ({self.elapsed():.0f}s)\n")
            self.stream.flush()
            self._last_state, self._last_line = state, now

    def done(self) -> None:
        """Clear the spinner line so the result starts on a clean line."""
        if self.tty and not self.quiet:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
