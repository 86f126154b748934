"""Host log: one event per line on stderr, `key=value` fields, the invocation's ids on every line.

Function code logs through the standard `logging` module; while a function runs, a context variable
holds its name and invocation id, and every record logged in that context (on the event loop for async
functions, in the worker thread for sync ones) carries them as fields.

NB: never pass header values, request bodies or query strings to these loggers: query strings may carry
`code=<function key>`.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import time
from dataclasses import dataclass

HOST_LOGGER = "devhost"
# Chatty libraries whose INFO lines are per-request noise (and would slow benchmarks down).
QUIET_LOGGERS = ("azure.core.pipeline.policies.http_logging_policy", "azure.storage", "aiohttp.access")


@dataclass(frozen=True)
class InvocationScope:
    function_name: str
    invocation_id: str


current_invocation: contextvars.ContextVar[InvocationScope | None] = contextvars.ContextVar(
    "devhost_invocation", default=None
)


def fields(**values: object) -> str:
    """`a=1 b="two words"` in the order given; None becomes `-`."""
    out = []
    for key, value in values.items():
        text = "-" if value is None else str(value)
        if not text or any(c in text for c in ' "=\n\t'):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        out.append(f"{key}={text}")
    return " ".join(out)


WORKER_ENV = "DEVHOST_WORKER"  # set by the `--processes` supervisor: each line says which worker wrote it


class HostLogFormatter(logging.Formatter):
    """`2026-11-25T14:00:00.123Z INFO logger message [function=... invocation_id=...] [worker=N]`."""

    converter = time.gmtime

    def __init__(self, worker: str | None = None) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created))
        line = f"{stamp}.{int(record.msecs):03d}Z {record.levelname} {record.name} {record.getMessage()}"
        scope = getattr(record, "devhost_scope", None)
        if scope is not None:
            line += " " + fields(function=scope.function_name, invocation_id=scope.invocation_id)
        if self.worker:
            line += " " + fields(worker=self.worker)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class InvocationScopeFilter(logging.Filter):
    """Attach the running invocation (if any) to each record, so the formatter can print its ids."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "devhost_scope"):
            record.devhost_scope = current_invocation.get()
        return True


def configure_logging(*, level: int = logging.INFO, function_level: int | None = None,
                      worker: str | None = None) -> None:
    """Route every logger (host and function code) to stderr in the host format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(HostLogFormatter(worker or os.environ.get(WORKER_ENV) or None))
    handler.addFilter(InvocationScopeFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(min(level, function_level if function_level is not None else level))
    logging.getLogger(HOST_LOGGER).setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.captureWarnings(True)
