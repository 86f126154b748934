"""Call one function the way the Python worker does.

Inputs are decoded by the `azure.functions` converters (trigger datum from the trigger service, other
inputs from the host's input providers), `func.Out` objects are passed for named outputs, `context` is
passed when the function declares it. Async functions run on the host's one event loop; sync functions
run in a thread pool (size `PYTHON_THREADPOOL_THREAD_COUNT`, else Python's default), as in the worker.
Outputs are encoded back to datums; outputs the trigger's transport does not consume go to the host's
output handlers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from azure.functions import meta

from devhost import bindings as conv
from devhost.bindings import BindingExtensions, Invocation, InvocationContext, Out, UnsupportedBindingError
from devhost.logs import InvocationScope, current_invocation

THREAD_COUNT_SETTING = "PYTHON_THREADPOOL_THREAD_COUNT"


@dataclass
class InvocationResult:
    return_value: meta.Datum | None = None
    # Encoded values of named output bindings that were set, by binding name.
    outputs: dict[str, meta.Datum] = field(default_factory=dict)


_HOST_DIR = str(Path(__file__).resolve().parent)
_FUTURES_DIR = str(Path(concurrent.futures.__file__).resolve().parent)


def user_exc_info(exc: BaseException) -> tuple[type[BaseException], BaseException, TracebackType | None]:
    """exc_info for logging with devhost's own frames (and the thread pool's) cut off the front."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None and (
        tb.tb_frame.f_code.co_filename.startswith((_HOST_DIR, _FUTURES_DIR))
    ):
        tb = tb.tb_next
    return type(exc), exc, tb


def _thread_count() -> int | None:
    value = os.environ.get(THREAD_COUNT_SETTING, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def _call_sync(fn: Any, args: dict[str, Any], invocation_id: str) -> Any:
    conv.thread_local_storage.invocation_id = invocation_id
    try:
        return fn(**args)
    finally:
        conv.thread_local_storage.invocation_id = None


class Invoker:
    def __init__(self, *, extensions: BindingExtensions, max_workers: int | None = None) -> None:
        self.extensions = extensions
        self.executor = ThreadPoolExecutor(max_workers=max_workers or _thread_count(),
                                           thread_name_prefix="devhost-sync")

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def invoke(self, invocation: Invocation) -> InvocationResult:
        """Run the function; exceptions from user code (or from conversion) propagate to the caller."""
        fn = invocation.function
        missing = self.extensions.unsupported(fn, invocation.transport_outputs)
        if missing:
            raise UnsupportedBindingError(fn.name, missing)

        token = current_invocation.set(InvocationScope(fn.name, invocation.invocation_id))
        try:
            args: dict[str, Any] = {}
            for param in fn.inputs:
                if param.binding is fn.trigger:
                    datum, metadata = invocation.trigger_datum, invocation.trigger_metadata
                else:
                    provider = self.extensions.inputs[param.binding.type]
                    datum, metadata = await provider(param.binding, invocation), None
                args[param.name] = conv.decode(param.converter, datum, trigger_metadata=metadata)
            if fn.requires_context:
                args["context"] = InvocationContext(
                    function_name=fn.name, function_directory=fn.directory,
                    invocation_id=invocation.invocation_id,
                    retry_count=invocation.retry_count, max_retry_count=invocation.max_retry_count,
                )
            outs = {param.name: Out() for param in fn.outputs}
            args.update(outs)

            if fn.is_async:
                result = await fn.func(**args)
            else:
                loop = asyncio.get_running_loop()
                ctx = contextvars.copy_context()
                result = await loop.run_in_executor(
                    self.executor, functools.partial(ctx.run, _call_sync, fn.func, args, invocation.invocation_id)
                )
        finally:
            current_invocation.reset(token)

        if result is not None and fn.return_param is None:
            raise RuntimeError(f"function {fn.name!r} without a $return binding returned a non-None value")

        outcome = InvocationResult()
        for param in fn.outputs:
            value = outs[param.name].get()
            if value is None:
                continue
            outcome.outputs[param.name] = conv.encode(param.converter, value, pytype=param.pytype)
        if fn.return_param is not None:
            outcome.return_value = conv.encode(fn.return_param.converter, result, pytype=fn.return_param.pytype)

        await self._dispatch_outputs(invocation, outcome)
        return outcome

    async def _dispatch_outputs(self, invocation: Invocation, outcome: InvocationResult) -> None:
        fn = invocation.function
        pending = list(outcome.outputs.items())
        if outcome.return_value is not None and fn.return_param is not None \
                and fn.return_param.binding is not fn.trigger:
            pending.append(("$return", outcome.return_value))
        for name, datum in pending:
            binding = fn.binding(name)
            if binding is None or binding.type in invocation.transport_outputs:
                continue
            await self.extensions.outputs[binding.type](binding, datum, invocation)
