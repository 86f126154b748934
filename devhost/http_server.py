"""HTTP triggers: an aiohttp low-level server doing what the Functions host's HTTP pipeline does.

Per request: system handlers (`/admin/host/...`, and whatever later parts register, e.g. the Durable
webhooks) -> route match (precedence, methods) -> key check (401, empty body) -> body read (413 over
100 MB) -> the request Datum the host sends the worker -> invoke -> the `http` output converted back.

Decisions where the real host is the model:
- A method the function does not accept is 404 (the real host's routing treats methods as a route
  constraint; see Azure/azure-functions-host#10098), not 405.
- No http output set -> 200 with an empty body (the host's `OkResult`).
- A function exception -> 500 with an ARM-shaped error body and no detail; the trace goes to the log.
- A disabled function (`AzureWebJobs.<name>.Disabled`) -> 404 unless called with the master key.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from azure.functions import meta
from multidict import CIMultiDict

from devhost.bindings import Invocation, UnsupportedBindingError
from devhost.indexing import HTTP_TRIGGER, IndexedFunction
from devhost.invoking import user_exc_info
from devhost.logs import fields
from devhost.routing import RouteTable, RouteTemplate, join_route, split_path

if TYPE_CHECKING:
    from devhost.host import Host

log = logging.getLogger("devhost.http")

MAX_REQUEST_BODY_BYTES = 104_857_600  # the real host's maxRequestBodySize (100 MB)
MAX_URL_BYTES = 4096  # the real host's URL length limit
KEY_HEADER = "x-functions-key"
KEY_QUERY = "code"
HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive"}
ERROR_BODY = json.dumps({"error": {"code": "InternalServerError", "message": "An internal error occurred."}})

SystemHandler = Callable[[web.BaseRequest, "RequestLog"], Awaitable[web.StreamResponse]]


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True)
class HttpRoute:
    function: IndexedFunction
    template: RouteTemplate  # full template, route prefix included
    auth_level: str


class RequestLog:
    """What the one per-request log line says; handlers fill it in as they learn more."""

    __slots__ = ("function", "invocation_id", "method", "route", "started", "status")

    def __init__(self, method: str, path: str) -> None:
        self.method = method
        # NB: path only, never the query string (it may hold `code=`); capped for absurd URLs.
        self.route = path if len(path) <= 256 else path[:256] + "..."
        self.status = 500
        self.function: str | None = None
        self.invocation_id: str | None = None
        self.started = time.perf_counter()

    def emit(self) -> None:
        duration = (time.perf_counter() - self.started) * 1000
        log.info("request %s", fields(method=self.method, route=self.route, status=self.status,
                                      duration_ms=f"{duration:.1f}", function=self.function,
                                      invocation_id=self.invocation_id))


# NB: the listener serves before the other services (durable, queues) have started; a function invoked then
# would find its bindings missing, so requests wait this long for the start and otherwise get a 503.
STARTUP_WAIT_SECONDS = 30.0
HOST_STARTING = json.dumps({"error": {"code": "ServiceUnavailable", "message": "The Functions host is starting."}})


def empty(status: int) -> web.Response:
    return web.Response(status=status)


def error_response(message: str | None = None, *, code: str = "InternalServerError") -> web.Response:
    body = ERROR_BODY if message is None else json.dumps({"error": {"code": code, "message": message}})
    return web.Response(status=500, text=body, content_type="application/json")


def presented_key(request: web.BaseRequest) -> str | None:
    """`x-functions-key` header first, else the `code` query parameter (the real host's order)."""
    return request.headers.get(KEY_HEADER) or request.rel_url.query.get(KEY_QUERY) or None


async def read_body(request: web.BaseRequest, limit: int = MAX_REQUEST_BODY_BYTES) -> bytes:
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge
    if request.version >= (1, 1) and request.headers.get("Expect", "").lower() == "100-continue":
        # NB: the low-level server does not answer this itself; curl would stall 1 s per large upload.
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def request_datum(request: web.BaseRequest, route_values: dict[str, str], body: bytes) -> meta.Datum:
    """The `http` TypedData the host sends the Python worker (capabilities RawHttpBodyBytes, BodyOnly).

    Header names are lowercased and repeated headers joined with ","; query parameters with an empty
    value are left out, repeated ones joined with "," (as the host's RpcHttp conversion does).
    """
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    query: dict[str, str] = {}
    for name, value in request.rel_url.query.items():
        if value == "":
            continue
        query[name] = f"{query[name]},{value}" if name in query else value
    url = f"{request.scheme}://{request.host}{request.raw_path}"
    return meta.Datum(type="http", value={
        "method": meta.Datum(type="string", value=request.method),
        "url": meta.Datum(type="string", value=url),
        "headers": {k: meta.Datum(type="string", value=v) for k, v in headers.items()},
        "query": {k: meta.Datum(type="string", value=v) for k, v in query.items()},
        "params": {k: meta.Datum(type="string", value=v) for k, v in route_values.items()},
        "body": meta.Datum(type="bytes", value=body),
    })


def response_from_datum(datum: meta.Datum | None) -> web.Response:
    """Turn the function's encoded http output into the response the real host would send."""
    if datum is None or datum.type is None or datum.value is None:
        return web.Response(status=200)
    if datum.type == "http":
        value = datum.value
        status_datum = value.get("status_code")
        status = int(status_datum.value) if status_datum is not None and status_datum.value else 200
        headers: CIMultiDict[str] = CIMultiDict()
        for name, header in (value.get("headers") or {}).items():
            if name.lower() not in HOP_BY_HOP:
                headers.add(name, str(header.value))
        for cookie in value.get("cookies") or ():
            for morsel in cookie.values():
                headers.add("Set-Cookie", morsel.OutputString())
        body_datum = value.get("body")
        body = body_datum.value if body_datum is not None and body_datum.value is not None else b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        return web.Response(status=status, body=bytes(body), headers=headers)
    if datum.type == "string":
        return web.Response(status=200, body=datum.value.encode("utf-8"),
                            headers={"Content-Type": "text/plain; charset=utf-8"})
    if datum.type == "bytes":
        return web.Response(status=200, body=datum.value, headers={"Content-Type": "application/octet-stream"})
    if datum.type == "json":
        return web.Response(status=200, body=str(datum.value).encode("utf-8"),
                            headers={"Content-Type": "application/json; charset=utf-8"})
    return web.Response(status=200, body=str(datum.value).encode("utf-8"),
                        headers={"Content-Type": "text/plain; charset=utf-8"})


class HttpFrontend:
    """The host service for `httpTrigger` functions."""

    name = "http"
    trigger_types = frozenset({HTTP_TRIGGER})

    def __init__(self, *, shutdown_timeout: float = 10.0) -> None:
        self.routes: RouteTable[HttpRoute] = RouteTable()
        self.route_prefix = "api"
        self.system_handlers: list[tuple[str, SystemHandler]] = []
        self.shutdown_timeout = shutdown_timeout
        self._host: Host | None = None
        self._runner: web.ServerRunner | None = None
        self._started = time.monotonic()

    # -- host service protocol

    def install(self, host: Host) -> None:
        self._host = host
        self.route_prefix = host.config.route_prefix
        for fn in host.index.functions:
            if fn.http is not None:
                template = RouteTemplate.parse(join_route(self.route_prefix, fn.http.route))
                self.routes.add(template, fn.http.methods, HttpRoute(fn, template, fn.http.auth_level))
        self.add_system_handler("admin/host/", self._admin_host)

    def describe(self, fn: IndexedFunction, base_url: str) -> str:
        assert fn.http is not None
        url = f"{base_url}/{join_route(self.route_prefix, fn.http.route)}"
        methods = f"[{','.join(sorted(fn.http.methods))}] " if fn.http.methods else ""
        return f"{methods}{url}"

    async def start(self, host: Host) -> None:
        server = web.Server(self.handle, access_log=None)
        self._runner = web.ServerRunner(server, shutdown_timeout=self.shutdown_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host.bind_host, host.port, reuse_address=True,
                           reuse_port=getattr(host, "reuse_port", False) or None)
        await site.start()
        self._started = time.monotonic()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- extension point

    def add_system_handler(self, path_prefix: str, handler: SystemHandler) -> None:
        """Serve paths starting with `path_prefix` (case-insensitive, no leading `/`) before function routes.

        The handler sets `RequestLog.route` / `.status` is filled from its response.
        """
        self.system_handlers.append((path_prefix.lower().lstrip("/"), handler))

    # -- request pipeline

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        entry = RequestLog(request.method, request.path)
        try:
            response = await self._dispatch(request, entry)
        except Exception:
            log.exception("unhandled host error %s", fields(method=request.method, route=entry.route))
            response = error_response()
        entry.status = response.status
        entry.emit()
        return response

    async def _dispatch(self, request: web.BaseRequest, entry: RequestLog) -> web.StreamResponse:
        assert self._host is not None
        if len(request.raw_path.encode("utf-8", "replace")) > MAX_URL_BYTES:
            return empty(414)
        lowered = request.path.lstrip("/").lower()
        for prefix, handler in self.system_handlers:
            if lowered.startswith(prefix):
                return await handler(request, entry)

        segments = split_path(request.raw_path)
        match = self.routes.match(request.method, segments)
        if match is None:
            if not segments and request.method in ("GET", "HEAD"):
                return web.Response(status=200, text="Your Functions app is up and running (devhost).\n")
            return empty(404)
        route_entry, values = match
        route = route_entry.target
        fn = route.function
        entry.route = route.template.text
        entry.function = fn.name

        keys = self._host.keys
        key = presented_key(request)
        if not keys.allows(required=route.auth_level, key=key, function_name=fn.name):
            return empty(401)
        if fn.disabled and keys.level_of(key, fn.name) != "admin":
            return empty(404)

        try:
            body = await read_body(request)
        except BodyTooLarge:
            response = empty(413)
            response.force_close()
            return response
        if not await self._host.wait_ready(STARTUP_WAIT_SECONDS):
            # NB: as the real host answers while it is still starting: 503, try again shortly.
            return web.Response(status=503, headers={"Retry-After": "1"}, text=HOST_STARTING,
                                content_type="application/json")

        invocation = Invocation(
            function=fn,
            invocation_id=str(uuid.uuid4()),
            trigger_datum=request_datum(request, values, body),
            trigger_metadata={k: meta.Datum(type="string", value=v) for k, v in values.items()},
            transport_outputs=frozenset({"http"}),
            scope={"http_request": request},
        )
        entry.invocation_id = invocation.invocation_id
        try:
            result = await self._host.invoker.invoke(invocation)
        except UnsupportedBindingError as exc:
            log.error("%s %s", exc, fields(function=fn.name, invocation_id=invocation.invocation_id))
            return error_response(str(exc))
        except Exception as exc:
            log.error("Executed '%s' (Failed) %s", fn.name,
                      fields(function=fn.name, invocation_id=invocation.invocation_id), exc_info=user_exc_info(exc))
            return error_response()
        try:
            return response_from_datum(self._http_output(fn, result))
        except Exception as exc:
            log.error("invalid http response from '%s' %s", fn.name,
                      fields(function=fn.name, invocation_id=invocation.invocation_id), exc_info=exc)
            return error_response()

    @staticmethod
    def _http_output(fn: IndexedFunction, result: Any) -> meta.Datum | None:
        if fn.return_param is not None and fn.return_param.binding.type == "http":
            return result.return_value
        for param in fn.outputs:
            if param.binding.type == "http" and param.name in result.outputs:
                return result.outputs[param.name]
        return None

    async def _admin_host(self, request: web.BaseRequest, entry: RequestLog) -> web.StreamResponse:
        """`/admin/host/ping` (anonymous) and `/admin/host/status` (master key), like the real host."""
        assert self._host is not None
        action = request.path.lstrip("/").lower()[len("admin/host/"):].rstrip("/")
        entry.route = f"admin/host/{action}"
        if action == "ping" and request.method in ("GET", "POST"):
            return empty(200)
        if action == "status" and request.method == "GET":
            if self._host.keys.level_of(presented_key(request), "") != "admin":
                return empty(401)
            return web.json_response({
                "id": self._host.keys.host_id,
                "state": "Running",
                "version": "devhost",
                "processUptime": int((time.monotonic() - self._started) * 1000),
            })
        return empty(404)


def http_functions(functions: Sequence[IndexedFunction]) -> list[IndexedFunction]:
    return [f for f in functions if f.http is not None]
