"""PATCH bodies: JSON merge patch (RFC 7386), strategic merge patch, JSON patch (RFC 6902).

Strategic merge is what `kubectl apply` sends for built-in kinds: lists of containers, env, ports,
volumes... merge by key instead of being replaced, plus the `$patch`, `$retainKeys`,
`$setElementOrder/` and `$deleteFromPrimitiveList/` directives. Merge keys come from the table
below, matched on the end of the field path (list positions left out).
"""

from __future__ import annotations

import copy
from typing import Any

from kubesim import errors

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"

PRIMITIVE_MERGE = "<merge primitives>"

# Path suffix -> merge key (patchMergeKey of the Kubernetes Go types), for the kinds served here.
_MERGE_KEYS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("containers", "ports"), "containerPort"),
    (("initContainers", "ports"), "containerPort"),
    (("ephemeralContainers", "ports"), "containerPort"),
    (("containers", "env"), "name"),
    (("initContainers", "env"), "name"),
    (("ephemeralContainers", "env"), "name"),
    (("containers", "volumeMounts"), "mountPath"),
    (("initContainers", "volumeMounts"), "mountPath"),
    (("containers", "volumeDevices"), "devicePath"),
    (("containers", "resizePolicy"), "resourceName"),
    (("containers",), "name"),
    (("initContainers",), "name"),
    (("ephemeralContainers",), "name"),
    (("volumes",), "name"),
    (("imagePullSecrets",), "name"),
    (("hostAliases",), "ip"),
    (("resourceClaims",), "name"),
    (("schedulingGates",), "name"),
    (("topologySpreadConstraints",), "topologyKey"),
    (("status", "conditions"), "type"),
    (("status", "podIPs"), "ip"),
    (("status", "hostIPs"), "ip"),
    (("metadata", "ownerReferences"), "uid"),
    (("metadata", "finalizers"), PRIMITIVE_MERGE),
)


def merge_key(kind: str, path: tuple[str, ...]) -> str | None:
    """The merge key of the list at `path`, or None when the list is replaced whole."""
    if kind == "Service" and path == ("spec", "ports"):
        return "port"
    if kind == "ServiceAccount" and path == ("secrets",):
        return "name"
    for suffix, key in _MERGE_KEYS:
        if path[-len(suffix):] == suffix:
            return key
    return None


def json_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


def _strip_directives(value: Any) -> Any:
    """A patch value landing where nothing was: keep the data, drop the `$` directives."""
    if isinstance(value, dict):
        if value.get("$patch") == "delete":
            return None
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    return copy.deepcopy(value)


def strategic_merge_patch(target: Any, patch: Any, *, kind: str, path: tuple[str, ...] = ()) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip_directives({k: v for k, v in patch.items() if k != "$patch"})
    if directive == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value or []
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            drop = set(map(_hashable, value or []))
            result[field] = [v for v in result.get(field) or [] if _hashable(v) not in drop]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            merged = _merge_list(result.get(key), value, kind=kind, path=path + (key,))
            result[key] = merged
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value, kind=kind, path=path + (key,))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = value
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _apply_order(result[field], order, merge_key(kind, path + (field,)))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, (dict, list)) else value


def _merge_list(target: Any, patch: list[Any], *, kind: str, path: tuple[str, ...]) -> list[Any]:
    key = merge_key(kind, path)
    current = list(target) if isinstance(target, list) else []
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [_strip_directives(item) for item in patch if not (isinstance(item, dict) and "$patch" in item)]
    if key is None:
        return [_strip_directives(item) for item in patch]
    if key == PRIMITIVE_MERGE:
        seen = list(current)
        for item in patch:
            if item not in seen:
                seen.append(item)
        return seen
    for item in patch:
        if not isinstance(item, dict):
            raise errors.bad_request(f"strategic merge patch: list {'.'.join(path)} needs objects with {key!r}")
        identity = item.get(key)
        index = next((i for i, existing in enumerate(current)
                      if isinstance(existing, dict) and existing.get(key) == identity), None)
        if item.get("$patch") == "delete":
            if index is not None:
                current.pop(index)
            continue
        if index is None:
            current.append(_strip_directives(item))
        else:
            current[index] = strategic_merge_patch(current[index], item, kind=kind, path=path)
    return current


def _apply_order(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """`$setElementOrder`: listed items first, in that order; the rest keep their relative order after."""
    def identity(item: Any) -> Any:
        return _hashable(item.get(key) if key and key != PRIMITIVE_MERGE and isinstance(item, dict) else item)

    wanted = [identity(o) for o in order]
    ranked = {value: rank for rank, value in enumerate(wanted)}
    listed = sorted((i for i in items if identity(i) in ranked), key=lambda i: ranked[identity(i)])
    return listed + [i for i in items if identity(i) not in ranked]


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise errors.bad_request(f"json patch: invalid path {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _container(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise errors.StatusError(422, "Invalid", f"jsonpatch: path {path!r} does not exist")
    return node


def _get(doc: Any, path: str) -> Any:
    return _container(doc, _pointer(path), path)


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        raise errors.bad_request("json patch: cannot remove the whole document")
    parent = _container(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise errors.StatusError(422, "Invalid", f"jsonpatch remove operation does not apply: doc is missing path: {path}")


def _add(doc: Any, path: str, value: Any, *, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _container(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise errors.StatusError(422, "Invalid",
                                     f"jsonpatch replace operation does not apply: doc is missing key: {path}")
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(last)] = value
            else:
                parent.insert(int(last), value)
        else:
            raise errors.StatusError(422, "Invalid", f"jsonpatch: index out of range in {path}")
    else:
        raise errors.StatusError(422, "Invalid", f"jsonpatch: cannot address {path}")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise errors.bad_request("json patch: the body must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op:
            raise errors.bad_request(f"json patch: invalid operation {op!r}")
        kind, path = op["op"], op.get("path", "")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            doc = _add(doc, path, copy.deepcopy(op.get("value")), replace=True)
        elif kind == "move":
            value = _remove(doc, op.get("from", ""))
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op.get("from", ""))))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise errors.StatusError(422, "Invalid", f"jsonpatch: test operation failed at {path}")
        else:
            raise errors.bad_request(f"json patch: unknown operation {kind!r}")
    return doc


def server_side_apply(target: Any, applied: Any, *, kind: str) -> Any:
    """Server-side apply, simplified: the applied configuration merged in as a strategic merge patch.

    NB: field ownership is not tracked, so fields a manager stops sending are not removed.
    """
    return strategic_merge_patch(target, applied, kind=kind)
