"""The Durable Functions HTTP management API, with the real extension's routes, shapes and status codes.

Served twice, by the same handler (as the real HttpApiHandler):
- public webhooks on the host's HTTP port: `/runtime/webhooks/durabletask/...`; they need the master key
  or the `durabletask_extension` system key (`code=` or `x-functions-key`), else 401 with an empty body;
- the RPC endpoint the Python client SDK calls (`rpcBaseUrl`): `http://127.0.0.1:{port}/durabletask/` on a
  separate listener bound to 127.0.0.1 only, like the real extension's local RPC listener (which takes port
  17071 or a random one; devhost always takes a free ephemeral port). Unlike the real one it checks the
  `Host` header and requires the hub's RPC secret (rpc_auth.py), and caps bodies at 16 MiB (413).

Routes (relative to either base; literal segments case-insensitive):
    POST   orchestrators/{functionName}[/{instanceId}]     start; 202 + check-status payload
    GET    instances/{instanceId}                          status: 200 done, 202 running, 404 unknown
    DELETE instances/{instanceId}                          purge: 200 {"instancesDeleted": 1}, 404
    GET    instances/                                      list (filters, top, x-ms-continuation-token)
    DELETE instances/                                      purge by filters (createdTimeFrom required)
    POST   instances/{instanceId}/raiseEvent/{eventName}   202, 404 unknown, 410 finished, 400 not JSON
    POST   instances/{instanceId}/terminate|suspend|resume 202, 404, 410
    POST   instances/{instanceId}/restart                  202 + check-status payload of the new instance
    POST   instances/{instanceId}/rewind                   501 (not supported by devhost)

A `taskHub` query parameter naming another hub gets 400: one devhost serves one task hub.

Several processes may share the hub (partitions.py). A request that changes an instance of a partition
this process does not own (start, raise event, terminate, suspend, resume, restart, purge) is forwarded to
the owner's RPC listener (forwarding.py) with the original Host header, so the answer (and the URLs in it)
is the one the owner would give directly; reads go straight to the table. A start without an instance id
gets an id in a partition this process owns, so it needs no forwarding. The RPC listener also serves the
engine's internal routes (`devhost/children`, `devhost/results`, `devhost/metrics`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from aiohttp import web
from multidict import MultiMapping

from devhost.durable import rpc_auth
from devhost.durable.engine import Engine, InstanceAlreadyExists, NotOwner
from devhost.durable.forwarding import (
    FORWARDED_HEADER,
    INTERNAL_PREFIX,
    NOT_OWNER_HEADER,
    Forwarder,
    NoOwner,
)
from devhost.durable.history import TERMINAL_STATUSES, display_history, parse_json_token
from devhost.durable.store import InstanceRecord
from devhost.http_server import BodyTooLarge, RequestLog, empty, presented_key, read_body
from devhost.logs import fields

if TYPE_CHECKING:
    from devhost.keys import KeySet

log = logging.getLogger("devhost.durable.api")

WEBHOOK_PREFIX = "runtime/webhooks/durabletask/"
RPC_PREFIX = "durabletask/"
SYSTEM_KEY_NAME = "durabletask_extension"
STATUS_NAMES = ("Running", "Completed", "ContinuedAsNew", "Failed", "Canceled", "Terminated", "Pending",
                "Suspended")
RPC_BODY_LIMIT = rpc_auth.BODY_LIMIT


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json", headers=headers)


def error_response(status: int, message: str, exc: BaseException | None = None) -> web.Response:
    """HttpRequestMessage.CreateErrorResponse(status, message, exception): the shape the client SDK reads."""
    body: dict[str, Any] = {"Message": message}
    if exc is not None:
        body.update({"ExceptionMessage": str(exc), "ExceptionType": _dotnet_type(exc), "StackTrace": None})
    return json_response(body, status)


def _dotnet_type(exc: BaseException) -> str:
    if isinstance(exc, ValueError):
        return "System.ArgumentException"
    if isinstance(exc, InstanceAlreadyExists):
        return "DurableTask.Core.Exceptions.OrchestrationAlreadyExistsException"
    return f"System.{type(exc).__name__}"


def parse_bool(value: str | None) -> bool | None:
    """.NET bool.TryParse: "true"/"false" in any case, surrounding spaces allowed; anything else -> None."""
    if value is None:
        return None
    text = value.strip().lower()
    return True if text == "true" else False if text == "false" else None


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "+"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def dotnet_time(value: datetime) -> str:
    """`CreatedTime.ToString("s") + "Z"`: seconds precision, UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def query_value(query: MultiMapping[str], name: str) -> str | None:
    """A query parameter by case-insensitive name (NameValueCollection semantics: values joined by ',')."""
    values = [v for k, v in query.items() if k.lower() == name.lower()]
    return ",".join(values) if values else None


def status_payload(record: InstanceRecord, history: list[dict[str, Any]] | None, *, show_input: bool,
                   show_history_output: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": record.name,
        "instanceId": record.instance_id,
        "runtimeStatus": record.status,
        "input": parse_json_token(record.input_text) if show_input else None,
        "customStatus": parse_json_token(record.custom_status_text),
        "output": parse_json_token(record.output_text),
        "createdTime": dotnet_time(record.created_time),
        "lastUpdatedTime": dotnet_time(record.last_updated_time),
    }
    if history is not None and record.status != "Pending":
        shown = display_history(history, show_output=show_history_output, show_input=show_input)
        # NB: the real extension names it `historyEvents`; the Python SDK reads `history`: send both.
        payload["historyEvents"] = shown
        payload["history"] = shown
    return payload


def status_code_for(status: str, *, internal_error_on_failure: bool) -> int:
    if status in ("Running", "Pending", "ContinuedAsNew", "Suspended"):
        return 202
    if status == "Failed":
        return 500 if internal_error_on_failure else 200
    if status in ("Canceled", "Terminated", "Completed"):
        return 200
    return 500


class ManagementApi:
    """Request handling shared by the public webhooks and the RPC listener."""

    def __init__(self, *, hub_name: str, engine: Callable[[], Engine | None], keys: Callable[[], KeySet | None],
                 public_base_url: Callable[[], str], bind_host: str = "127.0.0.1") -> None:
        self.hub_name = hub_name
        self.bind_host = bind_host
        self.rpc_secret: str | None = None
        self._engine = engine
        self.forwarder: Forwarder | None = None
        self.local_metrics: Callable[[], dict[str, Any]] | None = None
        self._keys = keys
        self._public_base_url = public_base_url
        self._rpc_runner: web.ServerRunner | None = None
        self.rpc_port: int | None = None

    # ------------------------------------------------------------ URLs and the client binding

    @property
    def system_key(self) -> str | None:
        keys = self._keys()
        return keys.system_keys.get(SYSTEM_KEY_NAME) if keys is not None else None

    @property
    def rpc_base_url(self) -> str:
        """The listener's address without credentials (what partition blobs and log lines hold)."""
        return f"http://127.0.0.1:{self.rpc_port}/{RPC_PREFIX}"

    @property
    def client_rpc_base_url(self) -> str:
        """The address the client SDK gets: with the RPC secret as URL credentials (in memory only)."""
        assert self.rpc_secret is not None
        return rpc_auth.with_credentials(self.rpc_base_url, self.rpc_secret)

    def _key_query(self) -> str:
        return f"code={self.system_key}" if self.system_key else ""

    def management_urls(self, origin: str, instance_id: str) -> dict[str, str]:
        """HttpApiHandler.GetClientResponseLinks for `origin` (scheme://host:port)."""
        prefix = f"{origin}/{WEBHOOK_PREFIX}instances/{quote_plus(instance_id)}"
        suffix = f"taskHub={quote_plus(self.hub_name)}&connection=Storage"
        if self._key_query():
            suffix += "&" + self._key_query()
        return {
            "id": instance_id,
            "statusQueryGetUri": f"{prefix}?{suffix}",
            "sendEventPostUri": f"{prefix}/raiseEvent/{{eventName}}?{suffix}",
            "terminatePostUri": f"{prefix}/terminate?reason={{text}}&{suffix}",
            "rewindPostUri": f"{prefix}/rewind?reason={{text}}&{suffix}",
            "purgeHistoryDeleteUri": f"{prefix}?{suffix}",
            "restartPostUri": f"{prefix}/restart?{suffix}",
            "suspendPostUri": f"{prefix}/suspend?reason={{text}}&{suffix}",
            "resumePostUri": f"{prefix}/resume?reason={{text}}&{suffix}",
        }

    def client_binding(self, binding_hub: str | None = None) -> dict[str, Any]:
        """The JSON a `durableClient` parameter gets (BindingHelper.DurableOrchestrationClientToString)."""
        origin = self._public_base_url()
        base = f"{origin}/{WEBHOOK_PREFIX.rstrip('/')}"
        query = self._key_query()
        creation = f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]"
        return {
            "taskHubName": self.hub_name,
            "connectionName": None,
            "creationUrls": {
                "createNewInstancePostUri": f"{creation}?{query}",
                "createAndWaitOnNewInstancePostUri":
                    f"{creation}?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{query}",
            },
            "managementUrls": self.management_urls(origin, "INSTANCEID"),
            "baseUrl": base,
            "requiredQueryStringParameters": query,
            "rpcBaseUrl": self.client_rpc_base_url,
        }

    def check_status_response(self, request: web.BaseRequest, instance_id: str) -> web.Response:
        urls = self.management_urls(f"{request.scheme}://{request.host}", instance_id)
        body = {k: urls[k] for k in ("id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri",
                                     "purgeHistoryDeleteUri", "restartPostUri", "suspendPostUri", "resumePostUri")}
        return json_response(body, 202, {"Location": urls["statusQueryGetUri"], "Retry-After": "10"})

    # ------------------------------------------------------------ the two front doors

    def grants_durable_access(self, key: str | None) -> bool:
        """The durable system key or the master key (what the webhook and the internal routes accept)."""
        keys = self._keys()
        allowed = [k for k in (keys.master_key if keys else None, self.system_key) if k]
        return bool(key) and any(hmac.compare_digest(key.encode(), k.encode()) for k in allowed)

    async def webhook(self, request: web.BaseRequest, entry: RequestLog) -> web.StreamResponse:
        """System handler for `/runtime/webhooks/durabletask/` on the host's HTTP port."""
        rest = request.path.lstrip("/")[len(WEBHOOK_PREFIX):]
        entry.route = WEBHOOK_PREFIX + _route_template(rest)
        if not self.grants_durable_access(presented_key(request)):
            return empty(401)
        return await self.dispatch(request, rest)

    def refuse_rpc(self, request: web.BaseRequest) -> web.Response | None:
        """The RPC listener's door: Host header, secret, declared body size (see rpc_auth.py)."""
        if not rpc_auth.allowed_host(request.headers.get("Host"), self.bind_host):
            log.warning("rpc request refused: foreign Host header %s", fields(method=request.method))
            return error_response(403, "The Host header must name a loopback address of this machine")
        if self.rpc_secret is None or not rpc_auth.presents_secret(request, self.rpc_secret):
            log.warning("rpc request refused: missing or wrong secret %s", fields(method=request.method))
            return empty(401)
        if request.content_length is not None and request.content_length > RPC_BODY_LIMIT:
            return body_too_large()
        return None

    async def rpc(self, request: web.BaseRequest) -> web.StreamResponse:
        """Handler of the loopback RPC listener (127.0.0.1 only; Host and the RPC secret checked first)."""
        started = time.perf_counter()
        path = request.path.lstrip("/")
        response = self.refuse_rpc(request) or await self._serve_rpc(request, path)
        log.debug("rpc request %s", fields(method=request.method, route=RPC_PREFIX + _route_template(
            path[len(RPC_PREFIX):]), status=response.status,
            duration_ms=f"{(time.perf_counter() - started) * 1000:.1f}"))
        return response

    async def _serve_rpc(self, request: web.BaseRequest, path: str) -> web.StreamResponse:
        if not path.lower().startswith(RPC_PREFIX):
            return empty(404)
        original_host = request.headers.get(rpc_auth.FORWARDED_HOST_HEADER)
        if original_host and FORWARDED_HEADER in request.headers:
            # NB: a forwarded request: its answer's URLs name the host the original client asked
            request = request.clone(host=original_host)
        rest = path[len(RPC_PREFIX):]
        try:
            if rest.lower().startswith(INTERNAL_PREFIX):
                return await self.internal(request, rest[len(INTERNAL_PREFIX):].strip("/"))
            return await self.dispatch(request, rest)
        except BodyTooLarge:
            return body_too_large()
        except Exception:
            log.exception("durable rpc request failed %s", fields(method=request.method))
            return error_response(500, "Something went wrong while processing your request")

    async def start_rpc_listener(self) -> None:
        keys = self._keys()
        self.rpc_secret = rpc_auth.take_secret(keys.master_key if keys is not None else None)
        server = web.Server(self.rpc, access_log=None)
        self._rpc_runner = web.ServerRunner(server, shutdown_timeout=5)
        await self._rpc_runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))  # NB: loopback only: the processes of a hub share one machine
        self.rpc_port = sock.getsockname()[1]
        await web.SockSite(self._rpc_runner, sock).start()

    async def stop_rpc_listener(self) -> None:
        if self._rpc_runner is not None:
            await self._rpc_runner.cleanup()
            self._rpc_runner = None

    # ------------------------------------------------------------ routing

    async def dispatch(self, request: web.BaseRequest, rest: str) -> web.StreamResponse:
        engine = self._engine()
        if engine is None:
            return empty(404)
        segments = [s for s in rest.strip("/").split("/")] if rest.strip("/") else []
        method = request.method
        hub = query_value(request.rel_url.query, "taskHub")
        if hub and hub.lower() != self.hub_name.lower():
            problem = ValueError(f"devhost serves the task hub '{self.hub_name}' only (taskHub={hub})")
            return error_response(400, "One or more of the arguments submitted is incorrect", problem)
        target = _target_instance(method, segments)
        if target is not None and not engine.owns(target):
            return await self.forward(request, engine, target, rest)
        try:
            if segments and segments[0].lower() == "orchestrators" and len(segments) in (2, 3):
                if method != "POST":
                    return empty(404)
                return await self.start(request, engine, segments[1], segments[2] if len(segments) == 3 else None)
            if segments and segments[0].lower() == "instances":
                if len(segments) == 1:
                    if method == "GET":
                        return await self.list_instances(request, engine)
                    if method == "DELETE":
                        return await self.purge_by_filters(request, engine)
                    return empty(404)
                instance_id = segments[1]
                if len(segments) == 2:
                    if method == "GET":
                        return await self.get_status(request, engine, instance_id)
                    if method == "DELETE":
                        return await self.purge(engine, instance_id)
                    return empty(404)
                if len(segments) == 3 and method == "POST":
                    return await self.operation(request, engine, instance_id, segments[2].lower())
                if len(segments) == 4 and segments[2].lower() == "raiseevent" and method == "POST":
                    return await self.raise_event(request, engine, instance_id, segments[3])
            return empty(404)
        except NotOwner as exc:
            if exc.instance_id is not None and FORWARDED_HEADER not in request.headers:
                return await self.forward(request, engine, exc.instance_id, rest)
            return self.not_owner(exc)
        except NoOwner as exc:
            return self.no_owner(exc)
        except ValueError as exc:
            return error_response(400, "One or more of the arguments submitted is incorrect", exc)
        except BodyTooLarge:
            return body_too_large()
        except Exception as exc:
            # NB: the trace goes to the log only; the answer names no exception text
            log.error("durable management request failed %s", fields(method=method, route=_route_template(rest)),
                      exc_info=exc)
            return error_response(500, "Something went wrong while processing your request")

    # ------------------------------------------------------------ handlers

    async def start(self, request: web.BaseRequest, engine: Engine, name: str,
                    instance_id: str | None) -> web.StreamResponse:
        body = await body_of(request)
        input_token = None
        if body:
            try:
                input_token = json.loads(body)
            except ValueError:
                return error_response(400, "Invalid JSON content", ValueError("the body is not valid UTF-8 JSON"))
        if not instance_id:
            problem = engine.catalog.orchestrator_error(name)
            if problem:
                raise ValueError(problem)
            instance_id = engine.new_instance_id()
            if not engine.owns(instance_id):  # NB: this process owns no partition right now
                return await self.forward(request, engine, instance_id, f"orchestrators/{name}/{instance_id}")
        try:
            new_id = await engine.start_new(name, instance_id, input_token)
        except InstanceAlreadyExists as exc:
            return error_response(500, "Something went wrong while processing your request", exc)
        return await self._check_status_or_wait(request, engine, new_id)

    async def _check_status_or_wait(self, request: web.BaseRequest, engine: Engine,
                                    instance_id: str) -> web.StreamResponse:
        query = request.rel_url.query
        timeout = _seconds(query_value(query, "timeout"))
        interval = _seconds(query_value(query, "pollingInterval"))
        if timeout is None or interval is None:
            return self.check_status_response(request, instance_id)
        deadline = time.monotonic() + timeout
        while True:
            found = await engine.read(instance_id, with_history=False)
            if found is not None and found[0].status in TERMINAL_STATUSES:
                record = found[0]
                if record.status == "Completed":
                    return json_response(parse_json_token(record.output_text), 200)
                return json_response(status_payload(record, None, show_input=True, show_history_output=False),
                                     status_code_for(record.status, internal_error_on_failure=False))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self.check_status_response(request, instance_id)
            await asyncio.sleep(min(interval, remaining))

    async def get_status(self, request: web.BaseRequest, engine: Engine, instance_id: str) -> web.StreamResponse:
        query = request.rel_url.query
        show_history = bool(parse_bool(query_value(query, "showHistory")))
        show_output = bool(parse_bool(query_value(query, "showHistoryOutput")))
        show_input = parse_bool(query_value(query, "showInput"))
        internal_error = bool(parse_bool(query_value(query, "returnInternalServerErrorOnFailure")))
        found = await engine.read(instance_id, with_history=show_history)
        if found is None:
            return empty(404)
        record, events = found
        payload = status_payload(record, events if show_history else None,
                                 show_input=True if show_input is None else show_input,
                                 show_history_output=show_output)
        code = status_code_for(record.status, internal_error_on_failure=internal_error)
        headers = {"Location": str(request.url), "Retry-After": "5"} if code == 202 else None
        return json_response(payload, code, headers)

    async def list_instances(self, request: web.BaseRequest, engine: Engine) -> web.StreamResponse:
        query = request.rel_url.query
        statuses = _statuses(query_value(query, "runtimeStatus"))
        show_input = parse_bool(query_value(query, "showInput"))
        top_text = query_value(query, "top")
        top = int(top_text) if top_text and top_text.strip().isdigit() and int(top_text) > 0 else 100
        records, token = await engine.store.query_instances(
            statuses=statuses, created_from=parse_time(query_value(query, "createdTimeFrom")),
            created_to=parse_time(query_value(query, "createdTimeTo")),
            prefix=query_value(query, "instanceIdPrefix"), top=top,
            continuation=request.headers.get("x-ms-continuation-token"))
        body = [status_payload(r, None, show_input=True if show_input is None else show_input,
                               show_history_output=False) for r in records]
        return json_response(body, 200, {"x-ms-continuation-token": token} if token else None)

    async def purge(self, engine: Engine, instance_id: str) -> web.StreamResponse:
        if await engine.read(instance_id, with_history=False) is None:
            return empty(404)
        return json_response({"instancesDeleted": await engine.purge(instance_id)})

    async def _purge_one(self, engine: Engine, instance_id: str) -> int:
        """Purge by filters, one instance: here when its partition is ours, else through its owner."""
        if engine.owns(instance_id) or self.forwarder is None:
            try:
                return await engine.purge(instance_id)
            except NotOwner:
                if self.forwarder is None:
                    raise
        answer = await self.forwarder.send(instance_id, "DELETE", f"instances/{instance_id}")
        if answer is None:
            return await engine.purge(instance_id)
        return int((answer.json() or {}).get("instancesDeleted", 0)) if answer.status == 200 else 0

    async def purge_by_filters(self, request: web.BaseRequest, engine: Engine) -> web.StreamResponse:
        query = request.rel_url.query
        created_from = parse_time(query_value(query, "createdTimeFrom"))
        if created_from is None:
            return json_response("Please provide value for 'createdTimeFrom' parameter.", 400)
        created_to = parse_time(query_value(query, "createdTimeTo")) or datetime.now(UTC)
        wanted = _statuses(query_value(query, "runtimeStatus"))
        # NB: as the Azure Storage provider: only Completed, Terminated, Failed (and Canceled) are purged
        statuses = [s for s in (wanted or list(TERMINAL_STATUSES)) if s in TERMINAL_STATUSES]
        deleted = 0
        token: str | None = None
        while statuses:
            records, token = await engine.store.query_instances(statuses=statuses, created_from=created_from,
                                                                created_to=created_to, top=1000,
                                                                continuation=token)
            for record in records:
                deleted += await self._purge_one(engine, record.instance_id)
            if not token:
                break
        if deleted == 0:
            return empty(404)
        return json_response({"instancesDeleted": deleted})

    async def operation(self, request: web.BaseRequest, engine: Engine, instance_id: str,
                        operation: str) -> web.StreamResponse:
        reason = query_value(request.rel_url.query, "reason")
        found = await engine.read(instance_id, with_history=False)
        if operation not in ("terminate", "suspend", "resume", "restart", "rewind"):
            return empty(404)
        if found is None:
            return empty(404)
        record = found[0]
        if operation == "restart":
            new_flag = parse_bool(query_value(request.rel_url.query, "restartWithNewInstanceId"))
            input_token = None if record.input_text is None else json.loads(record.input_text)
            new_id = engine.new_instance_id() if new_flag in (None, True) else instance_id
            if not engine.owns(new_id):
                request["devhost_body"] = json.dumps(input_token).encode()
                return await self.forward(request, engine, new_id, f"orchestrators/{record.name}/{new_id}")
            new_id = await engine.start_new(record.name, new_id, input_token)
            return await self._check_status_or_wait(request, engine, new_id)
        if record.status in TERMINAL_STATUSES:
            return empty(410)
        if operation == "rewind":
            return json_response("devhost does not support rewind", 501)
        handler = {"terminate": engine.terminate, "suspend": engine.suspend, "resume": engine.resume}[operation]
        return empty(await handler(instance_id, reason))

    async def raise_event(self, request: web.BaseRequest, engine: Engine, instance_id: str,
                          event_name: str) -> web.StreamResponse:
        found = await engine.read(instance_id, with_history=False)
        if found is None:
            return empty(404)
        if found[0].status in TERMINAL_STATUSES:
            return empty(410)
        media = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if media != "application/json":
            return error_response(400, "Only application/json request content is supported")
        body = await body_of(request)
        try:
            token = json.loads(body.decode("utf-8"))
        except ValueError:
            return error_response(400, "Invalid JSON content", ValueError("the body is not valid UTF-8 JSON"))
        return empty(await engine.raise_event(instance_id, event_name, json.dumps(token)))


    # ------------------------------------------------------------ other partitions' owners

    def not_owner(self, exc: Exception) -> web.Response:
        """503 marked for the forwarding process: look the owner up again and retry."""
        response = error_response(503, "This devhost process does not own the instance's partition", exc)
        response.headers[NOT_OWNER_HEADER] = "1"
        response.headers["Retry-After"] = "1"
        return response

    def no_owner(self, exc: NoOwner) -> web.Response:
        """503 for the client: nobody owns the partition (a takeover in progress); try again shortly."""
        response = error_response(503, "No devhost process owns this instance's partition right now", exc)
        response.headers["Retry-After"] = "1"
        return response

    async def forward(self, request: web.BaseRequest, engine: Engine, instance_id: str,
                      path: str) -> web.StreamResponse:
        """Answer with the owner's answer to the same request (`path` relative to the management base)."""
        if FORWARDED_HEADER in request.headers or self.forwarder is None:
            return self.not_owner(NotOwner(f"partition {engine.partition(instance_id)} is not owned here",
                                           instance_id))
        method = request.method
        body = await body_of(request) if method in ("POST", "PUT", "DELETE") else None
        headers = {rpc_auth.FORWARDED_HOST_HEADER: request.host}
        if request.headers.get("Content-Type"):
            headers["Content-Type"] = request.headers["Content-Type"]
        try:
            answer = await self.forwarder.send(instance_id, method, path, query=list(request.rel_url.query.items()),
                                               headers=headers, body=body)
        except NoOwner as exc:
            log.warning("durable request not forwarded: no owner %s",
                        fields(instance_id=instance_id, partition=engine.partition(instance_id)))
            return self.no_owner(exc)
        if answer is None:  # NB: the partition became ours meanwhile: handle it here
            rounds = request.get("devhost_rounds", 0)
            if rounds >= 3:
                return self.not_owner(NotOwner("the partition's ownership keeps changing", instance_id))
            request["devhost_rounds"] = rounds + 1
            return await self.dispatch(request, path)
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    async def internal(self, request: web.BaseRequest, route: str) -> web.StreamResponse:
        """The engine's routes between the processes of one hub (RPC listener only, behind its door)."""
        engine = self._engine()
        if engine is None:
            return empty(404)
        route = route.lower()
        if route == "metrics" and request.method == "GET":
            return json_response(self.local_metrics() if self.local_metrics else {})
        if request.method != "POST" or route not in ("children", "results"):
            return empty(404)
        doc = json.loads(await body_of(request))
        try:
            if route == "children":
                parent = doc["parent"]
                try:
                    outcome = await engine.create_child(name=doc["name"], instance_id=doc["instanceId"],
                                                        input_text=doc.get("input"),
                                                        parent=(parent[0], parent[1], int(parent[2])))
                except ValueError as exc:
                    return json_response({"error": str(exc)}, 400)
                return json_response({"outcome": outcome})
            await engine.accept_result(doc["instanceId"], doc["executionId"], doc["event"])
            return empty(202)
        except NotOwner as exc:
            return self.not_owner(exc)


def body_too_large() -> web.Response:
    """413, and the connection closed: the rest of an unread body must not be taken for the next request."""
    response = error_response(413, f"The request body is larger than devhost's limit of {RPC_BODY_LIMIT} bytes")
    response.force_close()
    return response


async def body_of(request: web.BaseRequest) -> bytes:
    """The request body, read once (a request may be handled here and then forwarded, or the reverse)."""
    if "devhost_body" not in request:
        request["devhost_body"] = await read_body(request, RPC_BODY_LIMIT)
    return request["devhost_body"]


def _target_instance(method: str, segments: list[str]) -> str | None:
    """The instance a request changes (it must be handled by the owner of its partition), else None."""
    head = segments[0].lower() if segments else ""
    if head == "orchestrators" and len(segments) == 3 and method == "POST":
        return segments[2] or None
    if head != "instances" or len(segments) < 2:
        return None
    if len(segments) == 2:
        return segments[1] if method == "DELETE" else None
    if method != "POST":
        return None
    operation = segments[2].lower()
    if len(segments) == 3 and operation in ("terminate", "suspend", "resume"):
        return segments[1]
    if len(segments) == 4 and operation == "raiseevent":
        return segments[1]
    return None


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _statuses(value: str | None) -> list[str] | None:
    if not value:
        return None
    known = {name.lower(): name for name in STATUS_NAMES}
    found = [known[v.strip().lower()] for v in value.split(",") if v.strip().lower() in known]
    return found or None


def _route_template(rest: str) -> str:
    """The route as a template for the request log (never instance ids, event names or query strings)."""
    parts = rest.strip("/").split("/") if rest.strip("/") else []
    if not parts:
        return ""
    head = parts[0].lower()
    if head == "orchestrators":
        return "orchestrators/{functionName}" + ("/{instanceId}" if len(parts) > 2 else "")
    if head == "instances":
        shape = ["instances", "{instanceId}", parts[2] if len(parts) > 2 else None, "{eventName}"]
        return "/".join(p for p in shape[:len(parts)] if p)
    return parts[0]
