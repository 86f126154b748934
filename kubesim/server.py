"""The HTTPS front: authentication, routing of Kubernetes API paths, content negotiation.

Paths follow the apiserver: /api/v1/..., /apis/{group}/{version}/..., optionally
/namespaces/{ns}/, then {plural}[/{name}[/{subresource}]]. Requests are JSON (or YAML, or the
protobuf kubectl's typed clients send); answers are JSON, or Tables when asked.
Admin endpoints live under /kubesim/ and need the same bearer token.
"""

from __future__ import annotations

import hmac
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import yaml
from aiohttp import web

from kubesim import KUBERNETES_VERSION, discovery, errors, openapi, patching, protobuf, tables
from kubesim.controllers import HOST_IP, NODE_NAME, Controllers
from kubesim.faults import Fault, Faults
from kubesim.resources import NAMESPACE_KEY, Registry, ResourceType
from kubesim.selectors import object_predicate, selector_object_string
from kubesim.store import Store
from kubesim.verbs import Verbs, present
from kubesim.watching import DEFAULT_TIMEOUT, WatchRequest, serve

log = logging.getLogger("kubesim.server")

PUBLIC_PATHS = {"/healthz", "/readyz", "/livez", "/version"}
JSON = "application/json"
PATCH_TYPES = (patching.JSON_PATCH, patching.MERGE_PATCH, patching.STRATEGIC_PATCH, patching.APPLY_PATCH)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _media_ranges(accept: str) -> list[tuple[str, dict[str, str]]]:
    ranges = []
    for part in (accept or "*/*").split(","):
        fields = [f.strip() for f in part.split(";")]
        params = {}
        for field in fields[1:]:
            key, _, value = field.partition("=")
            params[key.strip()] = value.strip()
        ranges.append((fields[0].lower(), params))
    return ranges


def negotiate(accept: str) -> tuple[str, str]:
    """("table", version) | ("metadata", as) | ("json", "") from an Accept header; 406 if none fits."""
    for media, params in _media_ranges(accept):
        if media not in (JSON, "*/*", "application/*"):
            continue
        shape = params.get("as")
        if shape == "Table" and params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
            return "table", params["v"]
        if shape in ("PartialObjectMetadata", "PartialObjectMetadataList") and params.get("g") == "meta.k8s.io":
            return "metadata", params.get("v", "v1")
        if not shape:
            return "json", ""
    raise errors.not_acceptable([JSON])  # NB: no protobuf or YAML answers


def _aggregated_version(accept: str) -> str | None:
    for _media, params in _media_ranges(accept):
        if params.get("as") == "APIGroupDiscoveryList" and params.get("g") == "apidiscovery.k8s.io" \
                and params.get("v") in ("v2", "v2beta1"):
            return params["v"]
    return None


def respond(body: Any, *, status: int = 200, warnings: list[str] | None = None,
            content_type: str = JSON) -> web.Response:
    response = web.Response(status=status, body=json.dumps(body).encode(), headers={"Content-Type": content_type})
    for warning in warnings or []:
        response.headers.add("Warning", f'299 - {json.dumps(warning)}')
    return response


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


class Api:
    """The aiohttp application around verbs, discovery, OpenAPI, tables and watches."""

    def __init__(self, *, store: Store, registry: Registry, verbs: Verbs, controllers: Controllers, faults: Faults,
                 token: str, server_address: str, bookmark_interval: float) -> None:
        self.store = store
        self.registry = registry
        self.verbs = verbs
        self.controllers = controllers
        self.faults = faults
        self.token = token
        self.server_address = server_address
        self.bookmark_interval = bookmark_interval

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    # --- cross-cutting -------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if request.path not in PUBLIC_PATHS and not self._authorized(request):
                raise errors.unauthorized()
            return await handler(request)
        except errors.StatusError as exc:
            if exc.code >= 500 or exc.code == 401:
                log.info("request failed method=%s path=%s code=%s", request.method, request.path, exc.code)
            return respond(exc.status(), status=exc.code)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("internal error method=%s path=%s", request.method, request.path)
            failure = errors.StatusError(500, "InternalError", "an error on the server has prevented the request "
                                                               "from succeeding")
            return respond(failure.status(), status=500)

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(), self.token.encode())

    # --- routing -------------------------------------------------------------------------------
    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok", content_type="text/plain")
        if path == "/version":
            return respond(self._version())
        if path.startswith("/kubesim"):
            return await self._admin(request, path)
        if path == "/openapi/v3":
            return respond(openapi.index(self.registry))
        if path.startswith("/openapi/v3/"):
            return self._openapi_document(path)
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] not in ("api", "apis"):
            raise errors.path_not_found(path)
        if parts[0] == "api":
            if len(parts) == 1:
                return self._discovery_root(request, legacy=True)
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) == 1:
                return self._discovery_root(request, legacy=False)
            if len(parts) == 2:
                document = discovery.api_group(self.registry, parts[1])
                if document is None:
                    raise errors.path_not_found(path)
                return respond(document)
            group, version, rest = parts[1], parts[2], parts[3:]
        if not rest:
            document = discovery.resource_list(self.registry, group, version)
            if document is None:
                raise errors.path_not_found(path)
            return respond(document)
        legacy_watch = rest[0] == "watch"
        if legacy_watch:
            rest = rest[1:]
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            candidate = self.registry.lookup(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise errors.path_not_found(path)
        rt = self.registry.lookup(group, version, rest[0])
        if rt is None:
            raise errors.path_not_found(path)
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if rt.namespaced and name is not None and namespace is None:
            raise errors.path_not_found(path)
        if sub is not None and sub not in rt.subresources:
            raise errors.path_not_found(path)
        if name is None:
            return await self._collection(request, rt, namespace, watch=legacy_watch)
        if legacy_watch:
            return await self._watch(request, rt, namespace, name_field=name)
        return await self._object(request, rt, namespace or "", name, sub)

    # --- discovery, version, OpenAPI -----------------------------------------------------------
    def _version(self) -> dict[str, Any]:
        major, minor, _patch = KUBERNETES_VERSION.lstrip("v").split(".")
        return {"major": major, "minor": minor, "emulationMajor": major, "emulationMinor": minor,
                "minCompatibilityMajor": major, "minCompatibilityMinor": str(int(minor) - 1),
                "gitVersion": KUBERNETES_VERSION, "gitCommit": "kubesim", "gitTreeState": "clean",
                "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc",
                "platform": "linux/amd64"}

    def _discovery_root(self, request: web.Request, *, legacy: bool) -> web.Response:
        version = _aggregated_version(request.headers.get("Accept", ""))
        if version is not None:
            return respond(discovery.aggregated(self.registry, legacy=legacy, version=version),
                           content_type=discovery.AGGREGATED_MEDIA.format(version=version))
        if legacy:
            return respond(discovery.api_versions(self.server_address))
        return respond(discovery.api_group_list(self.registry))

    def _openapi_document(self, path: str) -> web.Response:
        key = path.removeprefix("/openapi/v3/")
        parts = key.split("/")
        if parts == ["api", "v1"]:
            group, version = "", "v1"
        elif len(parts) == 3 and parts[0] == "apis":
            group, version = parts[1], parts[2]
        else:
            raise errors.path_not_found(path)
        document = openapi.group_version_document(self.registry, group, version)
        if document is None:
            raise errors.path_not_found(path)
        return respond(document)

    # --- bodies and shapes ---------------------------------------------------------------------
    async def _body(self, request: web.Request, *, kind: str, optional: bool = False) -> Any:
        raw = await request.read()
        if not raw:
            if optional:
                return None
            raise errors.bad_request("the request body is empty")
        content_type = request.content_type
        if content_type == protobuf.CONTENT_TYPE:
            return protobuf.decode_body(raw, expected_kind=kind)
        if content_type in ("application/yaml", "application/x-yaml", "text/yaml"):
            try:
                return yaml.safe_load(raw.decode())
            except yaml.YAMLError as exc:
                raise errors.bad_request(f"unable to decode YAML body: {exc}") from None
        if content_type in (JSON, "application/octet-stream", "text/plain", ""):
            try:
                return json.loads(raw.decode())
            except ValueError as exc:
                raise errors.bad_request(f"unable to decode JSON body: {exc}") from None
        raise errors.unsupported_media_type(content_type, [JSON, "application/yaml", protobuf.CONTENT_TYPE])

    def _shape(self, request: web.Request, rt: ResourceType, body: dict[str, Any], *, is_list: bool) -> Any:
        """Render a GET answer as asked: plain JSON, a Table, or PartialObjectMetadata."""
        mode, version = negotiate(request.headers.get("Accept", ""))
        if mode == "json":
            return body
        objects = body["items"] if is_list else [body]
        if mode == "table":
            list_meta = body["metadata"] if is_list else {"resourceVersion": body["metadata"].get("resourceVersion")}
            return tables.render(rt, objects, list_meta=list_meta, table_version=version,
                                 include_object=request.query.get("includeObject"))
        partial = [{"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}",
                    "metadata": o.get("metadata") or {}} for o in objects]
        if is_list:
            return {"kind": "PartialObjectMetadataList", "apiVersion": f"meta.k8s.io/{version}",
                    "metadata": body["metadata"], "items": partial}
        return partial[0]

    @staticmethod
    def _write_options(request: web.Request) -> dict[str, Any]:
        return {"dry_run": "All" in request.query.getall("dryRun", []),
                "field_validation": request.query.get("fieldValidation")}

    # --- collections ---------------------------------------------------------------------------
    async def _collection(self, request: web.Request, rt: ResourceType, namespace: str | None, *,
                          watch: bool) -> web.StreamResponse:
        if request.method == "GET":
            if watch or _flag(request.query.get("watch")):
                return await self._watch(request, rt, namespace)
            negotiate(request.headers.get("Accept", ""))
            limit = request.query.get("limit")
            body = self.verbs.list(rt, namespace, label_selector=request.query.get("labelSelector"),
                                   field_selector=request.query.get("fieldSelector"),
                                   limit=int(limit) if limit and limit.isdigit() else None,
                                   continue_token=request.query.get("continue"))
            return respond(self._shape(request, rt, body, is_list=True))
        if request.method == "POST":
            if rt.namespaced and namespace is None:
                raise errors.method_not_allowed()
            body = await self._body(request, kind=rt.kind)
            obj, warnings = self.verbs.create(rt, namespace or "", body, **self._write_options(request))
            return respond(obj, status=201, warnings=warnings)
        if request.method == "DELETE":
            if "deletecollection" not in rt.verbs:
                raise errors.method_not_allowed()
            options = await self._delete_options(request)
            body = self.verbs.delete_collection(rt, namespace, label_selector=request.query.get("labelSelector"),
                                                field_selector=request.query.get("fieldSelector"), options=options,
                                                dry_run="All" in request.query.getall("dryRun", []))
            return respond(body)
        raise errors.method_not_allowed()

    async def _watch(self, request: web.Request, rt: ResourceType, namespace: str | None, *,
                     name_field: str | None = None) -> web.StreamResponse:
        mode, version = negotiate(request.headers.get("Accept", ""))
        field_selector = request.query.get("fieldSelector")
        if name_field is not None:
            field_selector = ",".join(filter(None, [field_selector, f"metadata.name={name_field}"]))
        predicate = object_predicate(rt=rt, label_selector=request.query.get("labelSelector"),
                                     field_selector=field_selector)
        include = request.query.get("includeObject")

        def render(obj: dict[str, Any], first: bool) -> dict[str, Any]:
            shown = present(rt, obj)
            if mode == "table":
                return tables.render(rt, [shown], list_meta={"resourceVersion": shown["metadata"].get(
                    "resourceVersion")}, include_object=include, table_version=version, columns=first)
            if mode == "metadata":
                return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}",
                        "metadata": shown.get("metadata") or {}}
            return shown

        timeout = request.query.get("timeoutSeconds")
        initial = request.query.get("sendInitialEvents")
        watch = WatchRequest(
            rt=rt, namespace=namespace if rt.namespaced else None, predicate=predicate,
            resource_version=request.query.get("resourceVersion"),
            timeout=float(timeout) if timeout else DEFAULT_TIMEOUT * (1 + random.random()),
            bookmarks=_flag(request.query.get("allowWatchBookmarks")),
            send_initial_events=None if initial is None else _flag(initial), render=render)
        return await serve(request, self.store, watch, bookmark_interval=self.bookmark_interval)

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        options = await self._body(request, kind="DeleteOptions", optional=True) or {}
        if not isinstance(options, dict):
            raise errors.bad_request("DeleteOptions must be an object")
        if request.query.get("propagationPolicy"):
            options["propagationPolicy"] = request.query["propagationPolicy"]
        if request.query.get("orphanDependents"):
            options["orphanDependents"] = _flag(request.query["orphanDependents"])
        return options

    # --- single objects ------------------------------------------------------------------------
    async def _object(self, request: web.Request, rt: ResourceType, namespace: str, name: str,
                      sub: str | None) -> web.StreamResponse:
        if sub == "scale":
            return await self._scale(request, rt, namespace, name)
        method = request.method
        if method == "GET":
            negotiate(request.headers.get("Accept", ""))
            return respond(self._shape(request, rt, self.verbs.get(rt, namespace, name), is_list=False))
        if method == "PUT":
            body = await self._body(request, kind=rt.kind)
            obj, warnings = self.verbs.update(rt, namespace, name, body, subresource=sub,
                                              **self._write_options(request))
            return respond(obj, warnings=warnings)
        if method == "PATCH":
            patch_type = request.content_type
            if patch_type not in PATCH_TYPES:
                raise errors.unsupported_media_type(patch_type, list(PATCH_TYPES))
            obj, warnings, created = self.verbs.patch(
                rt, namespace, name, patch_type=patch_type, body=await request.read(), subresource=sub,
                field_manager=request.query.get("fieldManager"), **self._write_options(request))
            return respond(obj, status=201 if created else 200, warnings=warnings)
        if method == "DELETE" and sub is None:
            options = await self._delete_options(request)
            return respond(self.verbs.delete(rt, namespace, name, options=options,
                                             dry_run="All" in request.query.getall("dryRun", [])))
        raise errors.method_not_allowed()

    async def _scale(self, request: web.Request, rt: ResourceType, namespace: str, name: str) -> web.Response:
        """autoscaling/v1 Scale over spec.replicas (what `kubectl scale` reads and patches)."""
        obj = self.verbs.get(rt, namespace, name)

        def scale_of(target: dict[str, Any]) -> dict[str, Any]:
            meta = target["metadata"]
            return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                    "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                      "creationTimestamp") if k in meta},
                    "spec": {"replicas": (target.get("spec") or {}).get("replicas", 0)},
                    "status": {"replicas": (target.get("status") or {}).get("replicas", 0),
                               "selector": selector_object_string((target.get("spec") or {}).get("selector"))}}

        current = scale_of(obj)
        if request.method == "GET":
            return respond(current)
        if request.method == "PUT":
            wanted = await self._body(request, kind="Scale")
        elif request.method == "PATCH":
            raw = await request.read()
            try:
                document = json.loads(raw.decode() or "null")
            except ValueError as exc:
                raise errors.bad_request(f"error decoding patch: {exc}") from None
            if request.content_type == patching.JSON_PATCH:
                wanted = patching.json_patch(current, document)
            else:
                wanted = patching.json_merge_patch(current, document)
        else:
            raise errors.method_not_allowed()
        if not isinstance(wanted, dict):
            raise errors.bad_request("Scale must be an object")
        rv = (wanted.get("metadata") or {}).get("resourceVersion")
        if rv and rv != obj["metadata"]["resourceVersion"]:
            raise errors.stale(rt.group, rt.plural, name)
        replicas = (wanted.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.invalid(group="autoscaling", kind="Scale", name=name, causes=[
                ("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")])
        obj["spec"]["replicas"] = replicas
        obj["metadata"].pop("resourceVersion", None)
        updated, _warnings = self.verbs.update(rt, namespace, name, obj, **self._write_options(request))
        return respond(scale_of(updated))

    # --- admin ---------------------------------------------------------------------------------
    async def _admin(self, request: web.Request, path: str) -> web.Response:
        """/kubesim/faults (GET, POST one, DELETE all or ?image=PATTERN), /kubesim/compact, /kubesim/settings."""
        if path == "/kubesim/faults":
            if request.method == "POST":
                try:
                    fault = Fault.from_json(await request.json())
                except (ValueError, TypeError) as exc:
                    raise errors.bad_request(str(exc)) from None
                self.faults.add(fault)
                self.controllers.faults_changed()
                log.info("fault added image=%s reason=%s", fault.image, fault.reason)
                return respond({"faults": self.faults.to_json()}, status=201)
            if request.method == "DELETE":
                image = request.query.get("image")
                if image:
                    kept = [Fault.from_json(f) for f in self.faults.to_json() if f["image"] != image]
                    self.faults.clear()
                    for fault in kept:
                        self.faults.add(fault)
                else:
                    self.faults.clear()
                self.controllers.faults_changed()
                log.info("faults cleared image=%s", image or "*")
                return respond({"faults": self.faults.to_json()})
            if request.method == "GET":
                return respond({"faults": self.faults.to_json()})
            raise errors.method_not_allowed()
        if path == "/kubesim/compact" and request.method == "POST":
            self.store.compact()
            return respond({"compactedResourceVersion": str(self.store.compacted_rv)})
        if path == "/kubesim/settings":
            if request.method in ("PATCH", "PUT", "POST"):
                data = await request.json()
                if "readyDelaySeconds" in data:
                    self.controllers.ready_delay = max(0.0, float(data["readyDelaySeconds"]))
            elif request.method != "GET":
                raise errors.method_not_allowed()
            return respond({"readyDelaySeconds": self.controllers.ready_delay,
                            "resourceVersion": str(self.store.rv),
                            "compactedResourceVersion": str(self.store.compacted_rv)})
        raise errors.path_not_found(path)


def bootstrap(verbs: Verbs) -> None:
    """What every cluster has from the start: the built-in namespaces, the `kubernetes` Service, one node."""
    namespaces = verbs.registry.for_key(NAMESPACE_KEY)
    assert namespaces is not None
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        if not verbs.store.exists(NAMESPACE_KEY, "", name):
            verbs.create(namespaces, "", {"metadata": {"name": name}})
    services = verbs.registry.for_key(("", "services"))
    assert services is not None
    if not verbs.store.exists(services.key, "default", "kubernetes"):
        verbs.create(services, "default", {
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                                          "targetPort": 6443}]}})
    nodes = verbs.registry.for_key(("", "nodes"))
    assert nodes is not None
    if not verbs.store.exists(nodes.key, "", NODE_NAME):
        node = verbs.create(nodes, "", {"metadata": {"name": NODE_NAME, "labels": {
            "kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "node-role.kubernetes.io/control-plane": ""}}})[0]
        now = node["metadata"]["creationTimestamp"]
        node["status"] = {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status", "lastHeartbeatTime": now,
                            "lastTransitionTime": now}],
            "addresses": [{"type": "InternalIP", "address": HOST_IP}, {"type": "Hostname", "address": NODE_NAME}],
            "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
            "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
            "nodeInfo": {"kubeletVersion": KUBERNETES_VERSION, "osImage": "kubesim", "kernelVersion": "",
                         "containerRuntimeVersion": "kubesim://1", "operatingSystem": "linux",
                         "architecture": "amd64"}}
        verbs.update(nodes, "", NODE_NAME, node, subresource="status")
