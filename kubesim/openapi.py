"""OpenAPI v3: the index at /openapi/v3 and one document per group-version.

Why these are enough for `kubectl apply` (checked against kubectl 1.32):
- kubectl validates with the server (`?fieldValidation=Strict`) once it finds, in the
  group-version document, a PATCH operation tagged with the object's `x-kubernetes-group-version-kind`
  that lists a `fieldValidation` query parameter; without that it falls back to OpenAPI v2 and fails.
- PATCH operations declare no request body, so kubectl does not compute strategic merge patches
  from these schemas: it uses its compiled-in Go types for built-in kinds (the exact apiserver
  merge keys) and JSON merge patches for custom resources.
The schemas (from `protoschema.py`, or the CRD's openAPIV3Schema) make `kubectl explain` work.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kubesim import KUBERNETES_VERSION
from kubesim.protoschema import MESSAGES, Field
from kubesim.resources import Registry, ResourceType

_PACKAGES = {"": "io.k8s.api.core.v1", "apps": "io.k8s.api.apps.v1", "rbac.authorization.k8s.io": "io.k8s.api.rbac.v1",
             "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1"}
_SCALAR_SCHEMAS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"}, "bytes": {"type": "string", "format": "byte"}, "bool": {"type": "boolean"},
    "int32": {"type": "integer", "format": "int32"}, "int64": {"type": "integer", "format": "int64"},
    "uint32": {"type": "integer"}, "uint64": {"type": "integer"}, "double": {"type": "number", "format": "double"},
    "float": {"type": "number"}, "time": {"type": "string", "format": "date-time"}, "duration": {"type": "string"},
    "quantity": {"x-kubernetes-int-or-string": True}, "intstr": {"x-kubernetes-int-or-string": True},
    "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
}
_COMPONENT_PREFIX = "io.k8s.kubesim."


def schema_name(rt: ResourceType) -> str:
    if rt.builtin and rt.group in _PACKAGES:
        return f"{_PACKAGES[rt.group]}.{rt.kind}"
    return ".".join(reversed(rt.group.split("."))) + f".{rt.version}.{rt.kind}"


def _gvk(rt: ResourceType) -> dict[str, str]:
    return {"group": rt.group, "version": rt.version, "kind": rt.kind}


def _field_schema(field: Field) -> dict[str, Any]:
    item = ({"$ref": f"#/components/schemas/{_COMPONENT_PREFIX}{field.type}"} if field.type in MESSAGES
            else dict(_SCALAR_SCHEMAS.get(field.type, {"type": "string"})))
    if field.map:
        return {"type": "object", "additionalProperties": item}
    if field.repeated:
        return {"type": "array", "items": item}
    return item


def _message_schemas(root: str, out: dict[str, Any]) -> None:
    pending = [root]
    while pending:
        name = pending.pop()
        key = f"{_COMPONENT_PREFIX}{name}"
        if key in out:
            continue
        out[key] = {"type": "object", "properties": {f.name: _field_schema(f) for f in MESSAGES[name].values()}}
        pending.extend(f.type for f in MESSAGES[name].values() if f.type in MESSAGES)


def _kind_schema(rt: ResourceType, components: dict[str, Any]) -> dict[str, Any]:
    if not rt.builtin and rt.schema:
        schema = json.loads(json.dumps(rt.schema))
    elif rt.kind in MESSAGES and rt.builtin:
        _message_schemas(rt.kind, components)
        schema = {"type": "object",
                  "properties": {f.name: _field_schema(f) for f in MESSAGES[rt.kind].values()}}
    else:
        schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    properties = schema.setdefault("properties", {})
    properties.setdefault("apiVersion", {"type": "string"})
    properties.setdefault("kind", {"type": "string"})
    properties.setdefault("metadata", {"type": "object"})
    schema["x-kubernetes-group-version-kind"] = [_gvk(rt)]
    return schema


_QUERY = {
    "fieldValidation": "fieldValidation instructs the server on how to handle objects in the request containing "
                       "unknown or duplicate fields: Ignore, Warn or Strict.",
    "fieldManager": "fieldManager is a name associated with the actor or entity that is making these changes.",
    "dryRun": "When present, indicates that modifications should not be persisted.",
}


def _operation(rt: ResourceType, action: str, *, writes: bool, ref: str) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{action}{rt.kind}",
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(rt),
        "responses": {"200": {"description": "OK",
                              "content": {"application/json": {"schema": {"$ref": ref}}}}},
    }
    if writes:
        op["parameters"] = [{"name": name, "in": "query", "description": text, "schema": {"type": "string"}}
                            for name, text in _QUERY.items()]
    return op


def group_version_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = registry.in_group(group, version)
    if not types:
        return None
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for rt in types:
        name = schema_name(rt)
        components[name] = _kind_schema(rt, components)
        ref = f"#/components/schemas/{name}"
        base = rt.url_prefix() + ("/namespaces/{namespace}" if rt.namespaced else "") + f"/{rt.plural}"
        paths[base] = {"get": _operation(rt, "list", writes=False, ref=ref),
                       "post": _operation(rt, "post", writes=True, ref=ref)}
        paths[base + "/{name}"] = {"get": _operation(rt, "get", writes=False, ref=ref),
                                   "put": _operation(rt, "put", writes=True, ref=ref),
                                   "patch": _operation(rt, "patch", writes=True, ref=ref),
                                   "delete": _operation(rt, "delete", writes=False, ref=ref)}
        if rt.has_status:
            paths[base + "/{name}/status"] = {"get": _operation(rt, "get", writes=False, ref=ref),
                                              "put": _operation(rt, "put", writes=True, ref=ref),
                                              "patch": _operation(rt, "patch", writes=True, ref=ref)}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
            "paths": paths, "components": {"schemas": components}}


def _path_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else "api/v1"


def index(registry: Registry) -> dict[str, Any]:
    """`{"paths": {"apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=..."}}}`."""
    paths = {}
    for group, versions in registry.groups().items():
        for version in versions:
            document = group_version_document(registry, group, version)
            digest = hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()[:64].upper()
            key = _path_key(group, version)
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}
