"""Binding data conversion (the Python worker's job) and the host's binding extension points.

Conversion goes through `azure.functions`' own converter registry exactly as the worker does:
`meta.get_binding_registry().get(binding_type)`, falling back to the worker's "generic" binding for
types the library does not know and for parameters annotated `str` / `bytes`.

Extension points (filled by later parts of devhost, e.g. the Durable Functions support):

- `BindingExtensions.add_input(type, provider)`: where the HOST gets the data for an input binding that
  is not the trigger (e.g. `durableClient`). A provider is `async (binding, invocation) -> meta.Datum`;
  the datum is then decoded by the worker-side converter like any other input.
- `BindingExtensions.add_output(type, handler)`: what the host does with an output binding's value
  after the function returns (e.g. `queue`). A handler is `async (binding, datum, invocation) -> None`.

Output types the trigger's own transport consumes (`http` for HTTP triggers) need no handler: the
trigger service passes them as `Invocation.transport_outputs` and reads them from the result.
"""

from __future__ import annotations

import threading
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import azure.functions as func
from azure.functions import _abc as azf_abc
from azure.functions import meta

if TYPE_CHECKING:
    from devhost.indexing import Binding, IndexedFunction


class GenericBinding:
    """The Python worker's fallback converter (`azure_functions_worker.bindings.generic`)."""

    @classmethod
    def has_trigger_support(cls) -> bool:
        return False

    @classmethod
    def has_implicit_output(cls) -> bool:
        return False

    @classmethod
    def check_input_type_annotation(cls, pytype: type) -> bool:
        return issubclass(pytype, (str, bytes))

    @classmethod
    def check_output_type_annotation(cls, pytype: type) -> bool:
        return issubclass(pytype, (str, bytes, bytearray))

    @classmethod
    def encode(cls, obj: Any, *, expected_type: type | None) -> meta.Datum:
        if isinstance(obj, str):
            return meta.Datum(type="string", value=obj)
        if isinstance(obj, (bytes, bytearray)):
            return meta.Datum(type="bytes", value=bytes(obj))
        raise NotImplementedError

    @classmethod
    def decode(cls, data: meta.Datum, *, trigger_metadata: Any) -> Any:
        if data.type in ("string", "bytes", "json"):
            return data.value
        raise ValueError(f'unexpected type of data received for the "generic" binding: {data.type!r}')


def get_converter(binding_type: str) -> Any:
    """The converter class for a binding type, as the worker picks it."""
    if binding_type == "generic":
        return GenericBinding
    return meta.get_binding_registry().get(binding_type) or GenericBinding


def has_implicit_output(binding_type: str) -> bool:
    """Triggers whose return value is the output without a `$return` binding (durable triggers)."""
    return bool(getattr(get_converter(binding_type), "has_implicit_output", lambda: False)())


def decode(binding_type: str, datum: meta.Datum, *, trigger_metadata: Mapping[str, meta.Datum] | None) -> Any:
    converter = get_converter(binding_type)
    try:
        return converter.decode(datum, trigger_metadata=dict(trigger_metadata or {}))
    except NotImplementedError:
        raise TypeError(
            f"unable to decode incoming data: unsupported combination of data type {datum.type!r} "
            f"and expected binding type {binding_type!r}"
        ) from None


def encode(binding_type: str, value: Any, *, pytype: Any) -> meta.Datum:
    converter = get_converter(binding_type)
    try:
        return converter.encode(value, expected_type=pytype)
    except NotImplementedError:
        raise TypeError(
            f'unable to encode outgoing data: unsupported type "{binding_type}" '
            f'for Python type "{type(value).__name__}"'
        ) from None


class Out(func.Out):
    """`func.Out[T]` argument given to the function for each named output binding."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


class _TraceContext(azf_abc.TraceContext):
    def __init__(self, trace_parent: str = "", trace_state: str = "") -> None:
        self._parent, self._state = trace_parent, trace_state

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def trace_state(self) -> str:
        return self._state

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(azf_abc.RetryContext):
    def __init__(self, retry_count: int = 0, max_retry_count: int = 0) -> None:
        self._count, self._max = retry_count, max_retry_count

    @property
    def retry_count(self) -> int:
        return self._count

    @property
    def max_retry_count(self) -> int:
        return self._max

    @property
    def exception(self) -> None:
        return None


# NB: one thread-local object for all invocations, like the worker's; each invocation sets its id on it.
thread_local_storage = threading.local()


class InvocationContext(func.Context):
    """The `context` argument (azure.functions.Context) for functions that declare one."""

    def __init__(self, *, function_name: str, function_directory: str, invocation_id: str,
                 trace_parent: str = "", retry_count: int = 0, max_retry_count: int = 0) -> None:
        self._function_name = function_name
        self._function_directory = function_directory
        self._invocation_id = invocation_id
        self._trace_context = _TraceContext(trace_parent)
        self._retry_context = _RetryContext(retry_count, max_retry_count)

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> threading.local:
        return thread_local_storage

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> Any:
        return self._trace_context

    @property
    def retry_context(self) -> Any:
        return self._retry_context


@dataclass
class Invocation:
    """One call of one function: what the trigger service hands the invoker.

    `scope` carries transport details for input providers (the HTTP front end puts the aiohttp request
    under "http_request"; a durable client provider reads the request origin from it).
    """

    function: IndexedFunction
    invocation_id: str
    trigger_datum: meta.Datum
    trigger_metadata: Mapping[str, meta.Datum] = field(default_factory=dict)
    transport_outputs: frozenset[str] = frozenset()
    scope: dict[str, Any] = field(default_factory=dict)
    retry_count: int = 0
    max_retry_count: int = 0


InputProvider = Callable[["Binding", Invocation], Awaitable[meta.Datum]]
OutputHandler = Callable[["Binding", meta.Datum, Invocation], Awaitable[None]]


class UnsupportedBindingError(Exception):
    """The function uses a binding this host has no provider / handler for."""

    def __init__(self, function_name: str, binding_types: list[str]) -> None:
        self.function_name = function_name
        self.binding_types = binding_types
        kinds = ", ".join(repr(t) for t in binding_types)
        super().__init__(f"function {function_name!r} uses binding type(s) {kinds}, "
                         "which this local host does not support yet")


class BindingExtensions:
    """Registries of host-side input providers and output handlers, keyed by binding type."""

    def __init__(self) -> None:
        self.inputs: dict[str, InputProvider] = {}
        self.outputs: dict[str, OutputHandler] = {}

    def add_input(self, binding_type: str, provider: InputProvider) -> None:
        self.inputs[binding_type] = provider

    def add_output(self, binding_type: str, handler: OutputHandler) -> None:
        self.outputs[binding_type] = handler

    def unsupported(self, function: IndexedFunction, transport_outputs: typing.AbstractSet[str]) -> list[str]:
        """Binding types of `function` that nobody can serve (empty list = the function can run)."""
        missing = []
        for binding in function.bindings:
            if binding is function.trigger:
                continue
            if binding.direction == "in":
                served = binding.type in self.inputs
            elif binding.direction == "out":
                served = binding.type in transport_outputs or binding.type in self.outputs
            else:
                served = False
            if not served:
                missing.append(binding.type)
        return sorted(set(missing))
