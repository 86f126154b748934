"""Queue triggers and `queue` output bindings on Azure Storage queues, with the Functions host's rules.

What a queue-triggered function gets (WebJobs storage extension v5: QueueListener + QueueProcessor):

- Polling: receive up to `batchSize` messages with a 10-minute visibility timeout (renewed halfway while
  the function runs). Once messages are in flight the next receive waits until no more than
  `newBatchThreshold` of them are still running, so at most `batchSize + newBatchThreshold` run at once.
  An empty receive backs off exponentially (randomized) from 100 ms up to `maxPollingInterval`; finding a
  message resets the backoff. A `queue` output written by this host to a queue it listens on wakes that
  listener at once (the host's SharedQueueWatcher).
- Success: the message is deleted. Failure: its visibility is set to `visibilityTimeout`, so it comes
  back then; when the failed attempt was number `maxDequeueCount` the message text is copied to
  `<queue>-poison` (created if missing) and the message deleted. A message received with a dequeue count
  already above `maxDequeueCount` (its host died mid-attempt) goes to the poison queue without running.
  Queues named `*-poison`, or too long for the suffix, have no poison queue: a failed message stays
  invisible for the rest of its 10 minutes instead (as in the host, to avoid a hot loop).
- With `messageEncoding: base64` (default) a message that is not base64 goes to the poison queue unchanged.
- Delete / update tolerate MessageNotFound, QueueNotFound and PopReceiptMismatch (someone else has it).
- The function gets the message through `azure.functions`' own `queueTrigger` converter: the body as a
  string (bytes for `dataType: binary`) and the metadata datums Id, DequeueCount, ExpirationTime,
  InsertionTime, NextVisibleTime, PopReceipt, QueueTrigger.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import random
import re
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.functions import meta
from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from devhost.bindings import Invocation
from devhost.hostconfig import HostConfig, HostConfigError, lookup
from devhost.indexing import Binding, IndexedFunction
from devhost.logs import fields
from devhost.settings import StorageAccount
from devhost.triggering import (
    BindingConfigError,
    execute,
    format_timespan,
    parse_timespan,
    resolve_setting_expressions,
    storage_for_connection,
)

if TYPE_CHECKING:
    from devhost.host import Host

log = logging.getLogger("devhost.queues")

QUEUE_TRIGGER = "queueTrigger"
QUEUE_OUTPUT = "queue"
POISON_SUFFIX = "-poison"
QUEUE_NAME = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")

DEFAULT_BATCH_SIZE = 16
MAX_BATCH_SIZE = 32  # Azure Queues returns at most 32 messages per receive
DEFAULT_MAX_DEQUEUE_COUNT = 5
MIN_POLLING_INTERVAL = timedelta(milliseconds=100)
DEFAULT_MAX_POLLING_INTERVAL = timedelta(minutes=1)
# NB: the host lowers the default to 2 s when the environment is Development (Core Tools' default).
DEVELOPMENT_MAX_POLLING_INTERVAL = timedelta(seconds=2)
ENVIRONMENT_SETTING = "AZURE_FUNCTIONS_ENVIRONMENT"
RECEIVE_VISIBILITY_TIMEOUT = timedelta(minutes=10)
VISIBILITY_RETRY_INTERVAL = timedelta(minutes=1)
MESSAGE_ENCODINGS = ("base64", "none")


# ---------------------------------------------------------------- options


@dataclass(frozen=True)
class QueueOptions:
    """host.json `extensions.queues` with the host's defaults and limits (QueuesOptions)."""

    batch_size: int = DEFAULT_BATCH_SIZE
    new_batch_threshold: int = DEFAULT_BATCH_SIZE // 2
    max_polling_interval: timedelta = DEVELOPMENT_MAX_POLLING_INTERVAL
    visibility_timeout: timedelta = timedelta(0)
    max_dequeue_count: int = DEFAULT_MAX_DEQUEUE_COUNT
    message_encoding: str = "base64"

    @classmethod
    def from_config(cls, config: HostConfig, *, processor_count: int | None = None,
                    environ: Mapping[str, str] | None = None) -> QueueOptions:
        environ = os.environ if environ is None else environ
        section = config.get("extensions", "queues", default=None) or {}
        if not isinstance(section, Mapping):
            raise HostConfigError("host.json extensions.queues must be an object")

        batch_size = _int_option(section, "batchSize", DEFAULT_BATCH_SIZE)
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise HostConfigError(f"extensions.queues.batchSize must be 1-{MAX_BATCH_SIZE} (found {batch_size})")
        threshold = _int_option(section, "newBatchThreshold", -1)
        if threshold == -1:
            # NB: the host's default scales with the cores: (batchSize / 2) * processor count.
            threshold = (batch_size // 2) * (processor_count or os.cpu_count() or 1)
        elif threshold < 0:
            raise HostConfigError("extensions.queues.newBatchThreshold must not be negative")

        development = environ.get(ENVIRONMENT_SETTING, "Development").strip().lower() == "development"
        max_polling = _timespan_option(section, "maxPollingInterval")
        if max_polling is None or (development and max_polling == DEFAULT_MAX_POLLING_INTERVAL):
            max_polling = DEVELOPMENT_MAX_POLLING_INTERVAL if development else DEFAULT_MAX_POLLING_INTERVAL
        if max_polling < MIN_POLLING_INTERVAL:
            raise HostConfigError("extensions.queues.maxPollingInterval must not be less than 00:00:00.1")
        visibility = _timespan_option(section, "visibilityTimeout") or timedelta(0)
        if visibility < timedelta(0):
            raise HostConfigError("extensions.queues.visibilityTimeout must not be negative")
        max_dequeue = _int_option(section, "maxDequeueCount", DEFAULT_MAX_DEQUEUE_COUNT)
        if max_dequeue < 1:
            raise HostConfigError("extensions.queues.maxDequeueCount must not be less than 1")
        encoding = str(lookup(section, "messageEncoding", default="base64")).strip().lower()
        if encoding not in MESSAGE_ENCODINGS:
            raise HostConfigError(f"extensions.queues.messageEncoding must be Base64 or None (found {encoding!r})")
        return cls(batch_size=batch_size, new_batch_threshold=threshold, max_polling_interval=max_polling,
                   visibility_timeout=visibility, max_dequeue_count=max_dequeue, message_encoding=encoding)

    def describe(self) -> str:
        return fields(batch_size=self.batch_size, new_batch_threshold=self.new_batch_threshold,
                      max_polling_interval=format_timespan(self.max_polling_interval),
                      visibility_timeout=format_timespan(self.visibility_timeout),
                      max_dequeue_count=self.max_dequeue_count, message_encoding=self.message_encoding)


def _int_option(section: Mapping[str, Any], key: str, default: int) -> int:
    value = lookup(section, key)
    if value is None or value == "":
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        raise HostConfigError(f"extensions.queues.{key} must be an integer (found {value!r})") from None


def _timespan_option(section: Mapping[str, Any], key: str) -> timedelta | None:
    value = lookup(section, key)
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        log.warning("host.json extensions.queues.%s is the number %s: like the host, devhost reads it as a "
                    ".NET TimeSpan (%s days); write \"hh:mm:ss\" instead", key, value, value)
    try:
        return parse_timespan(str(value))
    except ValueError as exc:
        raise HostConfigError(f"extensions.queues.{key}: {exc}") from None


# ---------------------------------------------------------------- names and message text


def queue_name_from(binding: Binding, environ: Mapping[str, str] | None = None) -> str:
    """The binding's `queueName` with `%Setting%` resolved, lowercased and checked (as the host does)."""
    raw = binding.get("queueName")
    if not raw:
        raise BindingConfigError("the binding has no queueName")
    name = resolve_setting_expressions(str(raw), environ).strip().lower()
    if "{" in name:
        raise BindingConfigError(f"queue name {name!r}: binding expressions are not supported by devhost")
    if not QUEUE_NAME.match(name):
        raise BindingConfigError(f"invalid queue name {name!r}: 3-63 lowercase letters, digits and single "
                                 "hyphens, starting and ending with a letter or digit")
    return name


def poison_queue_name(queue_name: str) -> str | None:
    """`<queue>-poison`, or None where the host has no poison queue (already poison, or too long)."""
    if queue_name.endswith(POISON_SUFFIX) or len(queue_name) + len(POISON_SUFFIX) > 63:
        return None
    return queue_name + POISON_SUFFIX


def encode_message(body: bytes | str, encoding: str) -> str:
    """The message text stored in the queue for `body` (base64 like the host's Base64 client)."""
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    if encoding == "base64":
        return base64.b64encode(data).decode("ascii")
    return data.decode("utf-8", "replace")


def decode_message(text: str | None, encoding: str) -> bytes | None:
    """The message body, or None when `text` is not valid base64 (the host poisons such messages)."""
    text = text or ""
    if encoding != "base64":
        return text.encode("utf-8")
    try:
        return base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError):
        return None


def output_messages(datum: meta.Datum) -> list[bytes | str]:
    """Messages for one `queue` output value: a JSON array is one message per item, as in the host."""
    if datum.type == "string":
        return [datum.value]
    if datum.type == "bytes":
        return [bytes(datum.value)]
    if datum.type == "json":
        value = json.loads(datum.value)
        if isinstance(value, list):
            return [item if isinstance(item, str) else json.dumps(item) for item in value]
        return [datum.value]
    if datum.type in ("int", "double"):
        return [str(datum.value)]
    if datum.type in ("collection_string", "collection_bytes"):
        return list(datum.value)
    raise TypeError(f"queue output: unsupported data type {datum.type!r}")


def _when(value: datetime | None) -> meta.Datum | None:
    # NB: the host sends DateTimeOffset metadata JSON-serialized; the converter json.loads then parses it.
    return None if value is None else meta.Datum(type="json", value=json.dumps(value.isoformat()))


def trigger_metadata(message: QueueMessage, body_text: str) -> dict[str, meta.Datum]:
    """The queue trigger's binding data, as the host sends it to the worker."""
    metadata = {
        "QueueTrigger": meta.Datum(type="string", value=body_text),
        "Id": meta.Datum(type="string", value=message.id),
        "PopReceipt": meta.Datum(type="string", value=message.pop_receipt),
        "DequeueCount": meta.Datum(type="int", value=int(message.dequeue_count or 0)),
        "ExpirationTime": _when(message.expires_on),
        "InsertionTime": _when(message.inserted_on),
        "NextVisibleTime": _when(message.next_visible_on),
    }
    return {k: v for k, v in metadata.items() if v is not None}


def _error_code(exc: BaseException) -> str:
    return str(getattr(exc, "error_code", "") or "")


def _message_gone(exc: BaseException) -> bool:
    """Errors the host ignores on delete / update: the message is someone else's now, or gone."""
    if isinstance(exc, ResourceNotFoundError):
        return True
    if isinstance(exc, HttpResponseError):
        code = _error_code(exc)
        return code in ("PopReceiptMismatch", "MessageNotFound", "QueueNotFound", "QueueBeingDeleted",
                        "QueueDisabled") or exc.status_code == 404
    return False


class Backoff:
    """The host's RandomizedExponentialBackoffStrategy: minimum, then minimum + ~minimum * 2^n, capped."""

    def __init__(self, minimum: timedelta, maximum: timedelta, rng: Callable[[], float] = random.random) -> None:
        self.minimum = minimum.total_seconds()
        self.maximum = max(maximum.total_seconds(), self.minimum)
        self._rng = rng
        self._exponent = 0
        self._current = self.minimum

    def next_delay(self, *, succeeded: bool) -> float:
        if succeeded:
            self._exponent = 0
            self._current = self.minimum
        elif self._current < self.maximum:
            increment = self.minimum * (0.8 + 0.4 * self._rng()) * (2 ** self._exponent)
            self._current = min(self.minimum + increment, self.maximum)
            self._exponent += 1
        return self._current


# ---------------------------------------------------------------- one function's listener


class QueueListener:
    """Polls one queue for one function and owns its in-flight messages."""

    def __init__(self, *, host: Host, function: IndexedFunction, queue: QueueClient,
                 poison: QueueClient | None, options: QueueOptions, shutdown_timeout: float,
                 on_poisoned: Callable[[QueueClient], None]) -> None:
        self.host = host
        self.function = function
        self.queue = queue
        self.poison = poison
        self.options = options
        self.shutdown_timeout = shutdown_timeout
        self._on_poisoned = on_poisoned
        self._as_bytes = function.trigger.data_type == "binary"
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._storage_failing = False

    @property
    def queue_name(self) -> str:
        return self.queue.queue_name

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll(), name=f"queue-listener:{self.function.name}")

    def notify(self) -> None:
        """A message was just added to this queue by this host: poll now instead of after the backoff."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop polling, give in-flight messages `shutdown_timeout` seconds, then cancel (and release) them."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._in_flight:
            _done, pending = await asyncio.wait(set(self._in_flight), timeout=self.shutdown_timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _poll(self) -> None:
        backoff = Backoff(MIN_POLLING_INTERVAL, self.options.max_polling_interval)
        found_since_delay = False
        while True:
            self._wake.clear()
            await self._wait_for_new_batch_threshold()
            batch = await self._receive()
            if batch:
                found_since_delay = True
                for message in batch:
                    task = asyncio.create_task(self._process(message), name=f"queue-message:{message.id}")
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
                continue
            delay = backoff.next_delay(succeeded=found_since_delay)
            found_since_delay = False
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def _wait_for_new_batch_threshold(self) -> None:
        while len(self._in_flight) > self.options.new_batch_threshold:
            await asyncio.wait(set(self._in_flight), return_when=asyncio.FIRST_COMPLETED)

    async def _receive(self) -> list[QueueMessage]:
        size = self.options.batch_size
        try:
            pages = self.queue.receive_messages(
                messages_per_page=size, max_messages=size,
                visibility_timeout=int(RECEIVE_VISIBILITY_TIMEOUT.total_seconds()),
            ).by_page()
            try:
                page = await pages.__anext__()
            except StopAsyncIteration:
                batch: list[QueueMessage] = []
            else:
                batch = [message async for message in page]
        except (AzureError, OSError) as exc:
            # NB: the host backs off on a missing queue and on server errors alike; log once per outage.
            if not self._storage_failing:
                log.warning("queue poll failed, backing off %s", fields(
                    queue=self.queue_name, function=self.function.name, error=type(exc).__name__,
                    code=_error_code(exc) or None))
            self._storage_failing = True
            return []
        if self._storage_failing:
            log.info("queue poll works again %s", fields(queue=self.queue_name, function=self.function.name))
            self._storage_failing = False
        return batch

    async def _process(self, message: QueueMessage) -> None:
        try:
            await self._process_message(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            # NB: storage trouble after the function ran: the message reappears when its visibility
            # timeout ends, so it is retried, never lost.
            log.exception("queue message handling failed %s", fields(
                queue=self.queue_name, function=self.function.name, message_id=message.id))

    async def _process_message(self, message: QueueMessage) -> None:
        options = self.options
        dequeue_count = int(message.dequeue_count or 1)
        if dequeue_count > options.max_dequeue_count:
            # NB: as BeginProcessingMessageAsync: never run it again; without a poison queue it just waits.
            if self.poison is not None:
                await self._move_to_poison(message)
            return
        body = decode_message(message.content, options.message_encoding)
        if body is None:
            log.warning("queue message is not valid base64 %s", fields(
                queue=self.queue_name, function=self.function.name, message_id=message.id))
            if self.poison is not None:
                await self._move_to_poison(message)
            return

        body_text = body.decode("utf-8", "replace")
        invocation = Invocation(
            function=self.function,
            invocation_id=str(uuid.uuid4()),
            trigger_datum=meta.Datum(type="bytes", value=body) if self._as_bytes
            else meta.Datum(type="string", value=body_text),
            trigger_metadata=trigger_metadata(message, body_text),
        )
        done = asyncio.Event()
        renewal = asyncio.create_task(self._keep_invisible(message, done))
        try:
            succeeded = await execute(self.host.invoker, invocation, logger=log,
                                      reason=f"New queue message detected on '{self.queue_name}'.",
                                      queue=self.queue_name, message_id=message.id, dequeue_count=dequeue_count)
        except asyncio.CancelledError:
            # NB: host shutdown outran the function: let the message come back at once.
            log.warning("shutdown: function still running after %.0f s; message released %s",
                        self.shutdown_timeout, fields(function=self.function.name, message_id=message.id))
            await asyncio.wait_for(self._release(message, timedelta(0)), timeout=5)
            raise
        finally:
            # NB: let a renewal in flight finish (not cancel it), or its new pop receipt would be lost
            # and the delete below would fail with PopReceiptMismatch, leaving the message to run again.
            done.set()
            await renewal

        if succeeded:
            await self._delete(message)
        elif self.poison is not None:
            if dequeue_count >= options.max_dequeue_count:
                await self._move_to_poison(message)
            else:
                await self._release(message, options.visibility_timeout)
        # NB: no poison queue: leave the message invisible (the host does this to avoid a hot loop).

    async def _keep_invisible(self, message: QueueMessage, done: asyncio.Event) -> None:
        """Until `done`, push the message's visibility timeout out again whenever it is half gone."""
        interval = RECEIVE_VISIBILITY_TIMEOUT / 2
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=interval.total_seconds())
                return
            try:
                updated = await self.queue.update_message(
                    message.id, pop_receipt=message.pop_receipt,
                    visibility_timeout=int(RECEIVE_VISIBILITY_TIMEOUT.total_seconds()))
            except (AzureError, OSError) as exc:
                if _message_gone(exc):
                    return
                log.warning("queue message visibility renewal failed %s", fields(
                    queue=self.queue_name, message_id=message.id, error=type(exc).__name__))
                interval = VISIBILITY_RETRY_INTERVAL
                continue
            message.pop_receipt = updated.pop_receipt
            message.next_visible_on = updated.next_visible_on
            interval = RECEIVE_VISIBILITY_TIMEOUT / 2

    async def _delete(self, message: QueueMessage) -> None:
        try:
            await self.queue.delete_message(message.id, pop_receipt=message.pop_receipt)
        except AzureError as exc:
            if not _message_gone(exc):
                raise
            log.debug("queue message already gone on delete %s", fields(
                queue=self.queue_name, message_id=message.id, code=_error_code(exc) or None))

    async def _release(self, message: QueueMessage, visibility_timeout: timedelta) -> None:
        """Make a failed message visible again after `visibility_timeout` (the host's ReleaseMessageAsync)."""
        try:
            await self.queue.update_message(message.id, pop_receipt=message.pop_receipt,
                                            visibility_timeout=int(visibility_timeout.total_seconds()))
        except AzureError as exc:
            if not _message_gone(exc):
                raise

    async def _move_to_poison(self, message: QueueMessage) -> None:
        """Copy the message text, exactly as stored, to the poison queue; then delete the original."""
        assert self.poison is not None
        log.warning("Message has reached MaxDequeueCount of %d. Moving message to queue '%s'. %s",
                    self.options.max_dequeue_count, self.poison.queue_name,
                    fields(function=self.function.name, message_id=message.id, dequeue_count=message.dequeue_count))
        await send_creating_queue(self.poison, message.content or "")
        self._on_poisoned(self.poison)
        await self._delete(message)


async def send_creating_queue(queue: QueueClient, text: str) -> None:
    """Send one message, creating the queue first if it does not exist (AddMessageAndCreateIfNotExists)."""
    try:
        await queue.send_message(text)
        return
    except ResourceNotFoundError:
        pass
    with suppress(ResourceExistsError):
        await queue.create_queue()
    await queue.send_message(text)


# ---------------------------------------------------------------- the host service


class QueueTriggers:
    """Host service for `queueTrigger` functions and the `queue` output binding."""

    name = "queues"
    trigger_types = frozenset({QUEUE_TRIGGER})

    def __init__(self, *, shutdown_timeout: float = 10.0, environ: Mapping[str, str] | None = None) -> None:
        self.shutdown_timeout = shutdown_timeout
        self._environ = environ
        self._host: Host | None = None
        self.options = QueueOptions()
        self.errors: dict[str, str] = {}
        self._targets: dict[str, tuple[StorageAccount, str]] = {}
        self._services: dict[str, QueueServiceClient] = {}
        self._queues: dict[tuple[str, str], QueueClient] = {}
        self._listeners: list[QueueListener] = []

    # -- host service protocol

    def install(self, host: Host) -> None:
        self._host = host
        self.options = QueueOptions.from_config(host.config, environ=self._environ)
        host.extensions.add_output(QUEUE_OUTPUT, self.write_output)
        for fn in host.index.functions:
            if fn.trigger_type != QUEUE_TRIGGER:
                continue
            try:
                account = storage_for_connection(fn.trigger.get("connection"), self._environ)
                self._targets[fn.name] = (account, queue_name_from(fn.trigger, self._environ))
            except BindingConfigError as exc:
                self.errors[fn.name] = str(exc)

    def describe(self, fn: IndexedFunction, base_url: str) -> str:
        if fn.name in self.errors:
            return f"[ERROR] {self.errors[fn.name]}"
        return QUEUE_TRIGGER

    async def start(self, host: Host) -> None:
        for name, message in self.errors.items():
            log.error("The '%s' function is in error: %s", name, message)
        if not self._targets:
            return
        log.info("queues options %s", self.options.describe())
        for fn in host.index.functions:
            if fn.name not in self._targets or fn.disabled:
                continue
            missing = host.extensions.unsupported(fn, frozenset())
            if missing:
                self.errors[fn.name] = f"binding type(s) {', '.join(missing)} not supported by devhost"
                log.error("The '%s' function is in error: %s", fn.name, self.errors[fn.name])
                continue
            account, queue_name = self._targets[fn.name]
            queue = self._queue(account, queue_name)
            with suppress(ResourceExistsError):
                await queue.create_queue()
            poison_name = poison_queue_name(queue_name)
            listener = QueueListener(
                host=host, function=fn, queue=queue,
                poison=self._queue(account, poison_name) if poison_name else None,
                options=self.options, shutdown_timeout=self.shutdown_timeout, on_poisoned=self._notify,
            )
            self._listeners.append(listener)
        for listener in self._listeners:
            listener.start()

    async def stop(self) -> None:
        await asyncio.gather(*(listener.stop() for listener in self._listeners), return_exceptions=True)
        self._listeners.clear()
        for service in self._services.values():
            await service.close()
        self._services.clear()
        self._queues.clear()

    # -- the `queue` output binding

    async def write_output(self, binding: Binding, datum: meta.Datum, invocation: Invocation) -> None:
        account = storage_for_connection(binding.get("connection"), self._environ)
        queue_name = queue_name_from(binding, self._environ)
        queue = self._queue(account, queue_name)
        for body in output_messages(datum):
            await send_creating_queue(queue, encode_message(body, self.options.message_encoding))
        self._notify(queue)

    # -- clients

    def _queue(self, account: StorageAccount, queue_name: str) -> QueueClient:
        key = (account.queue_endpoint, queue_name)
        queue = self._queues.get(key)
        if queue is None:
            service = self._services.get(account.connection_string)
            if service is None:
                service = QueueServiceClient.from_connection_string(account.connection_string)
                self._services[account.connection_string] = service
            queue = self._queues[key] = service.get_queue_client(queue_name)
        return queue

    def _notify(self, queue: QueueClient) -> None:
        # NB: clients are cached per (account, queue), so "same queue" is "same client object".
        for listener in self._listeners:
            if listener.queue is queue:
                listener.notify()
