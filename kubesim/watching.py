"""`?watch=true`: a chunked stream of JSON events, one per line, as the apiserver sends them.

Semantics kept: no resourceVersion (or "0") starts with ADDED for every current object; a
resourceVersion resumes after it from the store's event window, or answers one ERROR event with
a 410 Expired Status when it is older than the window; selectors turn MODIFIED into ADDED /
DELETED when an object enters or leaves them; BOOKMARKs when allowed; `timeoutSeconds` ends the stream.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from kubesim import errors
from kubesim.resources import ResourceType
from kubesim.store import Event, Store

log = logging.getLogger("kubesim.watch")

DEFAULT_TIMEOUT = 1800.0
Render = Callable[[dict[str, Any], bool], dict[str, Any]]


@dataclass(frozen=True)
class WatchRequest:
    rt: ResourceType
    namespace: str | None
    predicate: Callable[[dict[str, Any]], bool]
    resource_version: str | None
    timeout: float
    bookmarks: bool
    send_initial_events: bool | None
    render: Render  # (object, first event?) -> what goes in the event's "object"


def _transform(event: Event, predicate: Callable[[dict[str, Any]], bool]) -> str | None:
    """The event type this watcher sees once selectors are applied, or None to skip it."""
    now = predicate(event.obj)
    if event.type == "ADDED":
        return "ADDED" if now else None
    if event.type == "DELETED":
        return "DELETED" if now else None
    before = event.old is not None and predicate(event.old)
    if now and before:
        return "MODIFIED"
    if now:
        return "ADDED"
    return "DELETED" if before else None


def expired(rv: int, oldest: int) -> dict[str, Any]:
    return {"type": "ERROR", "object": errors.gone(f"too old resource version: {rv} ({oldest})").status()}


async def serve(request: web.Request, store: Store, watch: WatchRequest, *, bookmark_interval: float) -> web.StreamResponse:
    loop = asyncio.get_running_loop()
    rt = watch.rt
    # NB: subscribe and read the backlog in one synchronous step, so no event falls in between.
    watcher = store.subscribe(rt.key, watch.namespace)
    try:
        initial: list[tuple[str, dict[str, Any]]] = []
        backlog: list[Event] = []
        error: dict[str, Any] | None = None
        start_fresh = watch.resource_version in (None, "", "0")
        if watch.send_initial_events or (start_fresh and watch.send_initial_events is not False):
            initial = [("ADDED", obj) for obj in store.list(rt.key, watch.namespace) if watch.predicate(obj)]
        elif not start_fresh:
            try:
                since = int(watch.resource_version or "0")
            except ValueError:
                raise errors.bad_request(f"invalid resource version: {watch.resource_version}") from None
            if since < store.compacted_rv:
                error = expired(since, store.compacted_rv + 1)
            else:
                backlog = store.events_since(since, rt.key, watch.namespace)
        cursor = store.rv
        if backlog == [] and error is None and not start_fresh and not initial:
            cursor = max(cursor, int(watch.resource_version or "0"))  # a version from the future: wait for it
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                           "Cache-Control": "no-cache, private"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        first = True

        async def send(kind: str, obj: dict[str, Any], *, raw: bool = False) -> None:
            nonlocal first
            body = obj if raw else watch.render(obj, first)
            first = first and raw
            await response.write((json.dumps({"type": kind, "object": body}) + "\n").encode())

        def bookmark(rv: int, *, initial_end: bool = False) -> dict[str, Any]:
            meta: dict[str, Any] = {"resourceVersion": str(rv)}
            if initial_end:
                meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            return {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}

        processed = cursor  # the resourceVersion up to which every event was sent or filtered out

        def resume_rv() -> int:
            """What a BOOKMARK may promise: nothing is skipped by a client resuming from it. NB: events are
            queued as the store writes them, so an empty queue means every event up to store.rv is done;
            otherwise only what was taken off the queue is (a bookmark of store.rv then would make a client
            that resumes from it lose the queued events: the gap the agent saw under load)."""
            return store.rv if watcher.queue.empty() else processed

        try:
            if error is not None:
                await send("ERROR", error["object"], raw=True)
                return response
            for kind, obj in initial:
                await send(kind, obj)
            if watch.send_initial_events and watch.bookmarks:
                await send("BOOKMARK", bookmark(cursor, initial_end=True), raw=True)
            for event in backlog:
                kind = _transform(event, watch.predicate)
                if kind:
                    await send(kind, event.obj)
            deadline = loop.time() + watch.timeout
            next_bookmark = loop.time() + bookmark_interval
            while True:
                now = loop.time()
                if now >= deadline:
                    break
                wait = deadline - now
                if watch.bookmarks:
                    wait = max(0.0, min(wait, next_bookmark - now))
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), timeout=wait)
                except TimeoutError:
                    if watch.bookmarks and loop.time() >= next_bookmark:
                        await send("BOOKMARK", bookmark(resume_rv()), raw=True)
                        next_bookmark = loop.time() + bookmark_interval
                    continue
                if event is None:  # the server is stopping
                    break
                if event.rv <= cursor:
                    continue
                kind = _transform(event, watch.predicate)
                if kind:
                    await send(kind, event.obj)
                processed = event.rv
            if watch.bookmarks:
                await send("BOOKMARK", bookmark(resume_rv()), raw=True)
        except (ConnectionResetError, ConnectionError):
            log.debug("watch client went away resource=%s", rt.plural)
        return response
    finally:
        store.unsubscribe(watcher)
