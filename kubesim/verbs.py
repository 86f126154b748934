"""The REST verbs with the apiserver's semantics: create, get, list, update, patch, delete, deletecollection.

HTTP handlers and the controllers both go through here, so every write gets the same metadata
bookkeeping (uid, creationTimestamp, generation), admission, finalizer and namespace rules, and
lands in the store as one watch event.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from typing import Any

import yaml

from kubesim import admission, errors, patching, timestamps
from kubesim.protoschema import MESSAGES, prune_by_schema, prune_unknown
from kubesim.resources import CRD_KEY, NAMESPACE_KEY, Registry, ResourceType
from kubesim.selectors import object_predicate
from kubesim.store import Store, clone

NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
# Kinds whose DELETE answers with the object rather than a Status, as in the apiserver.
RETURNS_DELETED_OBJECT = {("", "pods"), ("", "services"), NAMESPACE_KEY, CRD_KEY}
SYSTEM_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(NAME_ALPHABET) for _ in range(length))


def present(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """The object as served in `rt`'s version: apiVersion and kind first."""
    out = {"apiVersion": rt.api_version, "kind": rt.kind}
    out.update({k: v for k, v in obj.items() if k not in ("apiVersion", "kind")})
    return out


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    view["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items()
                        if k not in ("resourceVersion", "managedFields")}
    return view


def _spec_view(obj: dict[str, Any]) -> dict[str, Any]:
    """What a generation bump looks at: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}


def _is_terminating(namespace: dict[str, Any] | None) -> bool:
    return bool(namespace and (namespace["metadata"].get("deletionTimestamp")
                               or (namespace.get("status") or {}).get("phase") == "Terminating"))


class Verbs:
    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        for crd in store.list(CRD_KEY):
            registry.set_crd(crd)
        store.add_listener(self._sync_registry)

    def _sync_registry(self, event: Any) -> None:
        """CRDs serve their kinds from the moment they are stored, and stop when they are gone."""
        if event.key != CRD_KEY:
            return
        if event.type == "DELETED":
            self.registry.drop_crd(event.obj["metadata"]["name"])
        else:
            self.registry.set_crd(event.obj)

    # --- reading -------------------------------------------------------------------------------
    def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        obj = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if obj is None:
            raise errors.not_found(rt.group, rt.plural, name)
        return present(rt, obj)

    def list(self, rt: ResourceType, namespace: str | None, *, label_selector: str | None = None,
             field_selector: str | None = None, limit: int | None = None,
             continue_token: str | None = None) -> dict[str, Any]:
        """A `XList`; with `limit`, one page plus `metadata.continue` (an opaque key, not a snapshot)."""
        predicate = object_predicate(rt=rt, label_selector=label_selector, field_selector=field_selector)
        items = [present(rt, o) for o in self.store.list(rt.key, namespace if rt.namespaced else None)
                 if predicate(o)]
        meta: dict[str, Any] = {"resourceVersion": str(self.store.rv)}
        if continue_token:
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(continue_token.encode()))["start"])
            except (ValueError, KeyError, TypeError):
                raise errors.bad_request("continue key is not valid: malformed token") from None
            items = [o for o in items
                     if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after]
        if limit and limit > 0 and len(items) > limit:
            last = items[limit - 1]["metadata"]
            token = {"rv": self.store.rv, "start": [last.get("namespace", ""), last["name"]]}
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta, "items": items}

    # --- helpers -------------------------------------------------------------------------------
    def _body(self, rt: ResourceType, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.bad_request(f"Object '{rt.kind}' is invalid: the body must be a JSON object")
        obj = clone(body)
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if kind and kind != rt.kind:
            raise errors.bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
        if api_version and api_version != rt.api_version:
            raise errors.bad_request(f"the API version in the data ({api_version}) does not match the expected "
                                     f"API version ({rt.api_version})")
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        for field in ("labels", "annotations", "finalizers", "ownerReferences"):
            if field in meta and not meta[field]:
                del meta[field]  # NB: empty maps and lists are omitted in the apiserver's JSON
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        return obj

    def _prune(self, rt: ResourceType, obj: dict[str, Any], directive: str | None) -> list[str]:
        """Drop fields the kind does not have; Strict rejects them, Warn (the default) reports them."""
        if rt.builtin:
            found = prune_unknown(rt.kind, obj) if rt.kind in MESSAGES else []
        else:
            found = prune_by_schema(rt.schema, obj) if rt.schema else []
        if not found:
            return []
        messages = [f'unknown field "{path}"' for path in found]
        if (directive or "").lower() == "strict":
            raise errors.bad_request("strict decoding error: " + ", ".join(messages))
        return messages if (directive or "warn").lower() == "warn" else []

    def _namespace_open(self, rt: ResourceType, namespace: str, name: str) -> None:
        ns = self.store.get(NAMESPACE_KEY, "", namespace)
        if ns is None:
            raise errors.not_found("", "namespaces", namespace)
        if _is_terminating(ns):
            raise errors.forbidden(rt.group, rt.plural, name, f"unable to create new content in namespace "
                                                             f"{namespace} because it is being terminated")

    def _cluster_ips(self) -> set[str]:
        return {(o.get("spec") or {}).get("clusterIP", "") for _key, o in self.store.iter_all()
                if _key == ("", "services")}

    # --- writing -------------------------------------------------------------------------------
    def create(self, rt: ResourceType, namespace: str, body: Any, *, dry_run: bool = False,
               field_validation: str | None = None) -> tuple[dict[str, Any], list[str]]:
        obj = self._body(rt, body)
        warnings = self._prune(rt, obj, field_validation)
        meta = obj["metadata"]
        if meta.get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        name = meta.get("name") or ""
        if not name and meta.get("generateName"):
            for _ in range(10):
                name = meta["generateName"] + random_suffix()
                if not self.store.exists(rt.key, namespace if rt.namespaced else "", name):
                    break
        if not name:
            raise errors.invalid(group=rt.group, kind=rt.kind, name="", causes=[
                ("metadata.name", "Required value: name or generateName is required")])
        meta["name"] = name
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent "
                                         "on the request")
            meta["namespace"] = namespace
            self._namespace_open(rt, namespace, name)
        else:
            meta.pop("namespace", None)
            namespace = ""
        if self.store.exists(rt.key, namespace, name):
            raise errors.already_exists(rt.group, rt.plural, name)
        for field in ("selfLink", "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = timestamps.now()
        if rt.generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if rt.has_status:
            obj.pop("status", None)
        admission.admit(rt, obj, old=None, used_cluster_ips=self._cluster_ips, now=timestamps.now())
        if rt.key == CRD_KEY and CRD_CLEANUP_FINALIZER not in (meta.get("finalizers") or []):
            meta.setdefault("finalizers", []).append(CRD_CLEANUP_FINALIZER)
        if dry_run:
            return present(rt, obj), warnings
        return present(rt, self.store.put(rt.key, obj, event_type="ADDED")), warnings

    def update(self, rt: ResourceType, namespace: str, name: str, body: Any, *, subresource: str | None = None,
               dry_run: bool = False, field_validation: str | None = None) -> tuple[dict[str, Any], list[str]]:
        obj = self._body(rt, body)
        warnings = self._prune(rt, obj, field_validation)
        namespace = namespace if rt.namespaced else ""
        existing = self.store.get(rt.key, namespace, name)
        if existing is None:
            raise errors.not_found(rt.group, rt.plural, name)
        meta = obj["metadata"]
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL "
                                     f"({name})")
        if rt.namespaced and meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the "
                                     "request")
        if meta.get("resourceVersion") and meta["resourceVersion"] != existing["metadata"]["resourceVersion"]:
            raise errors.stale(rt.group, rt.plural, name)
        return self._replace(rt, existing, obj, subresource=subresource, dry_run=dry_run), warnings

    def patch(self, rt: ResourceType, namespace: str, name: str, *, patch_type: str, body: bytes,
              subresource: str | None = None, dry_run: bool = False, field_validation: str | None = None,
              field_manager: str | None = None) -> tuple[dict[str, Any], list[str], bool]:
        """Returns (object, warnings, created); only server-side apply creates."""
        try:
            if patch_type == patching.APPLY_PATCH:
                document = yaml.safe_load(body.decode() or "{}")
            else:
                document = json.loads(body.decode() or "null")
        except (ValueError, yaml.YAMLError) as exc:
            raise errors.bad_request(f"error decoding patch: {exc}") from None
        namespace = namespace if rt.namespaced else ""
        existing = self.store.get(rt.key, namespace, name)
        if existing is None:
            if patch_type == patching.APPLY_PATCH and subresource is None:
                if not field_manager:
                    raise errors.bad_request("PATCH requests with apply content type require fieldManager")
                if isinstance(document, dict):
                    document.setdefault("metadata", {}).setdefault("name", name)
                obj, warnings = self.create(rt, namespace, document, dry_run=dry_run,
                                            field_validation=field_validation)
                return obj, warnings, True
            raise errors.not_found(rt.group, rt.plural, name)
        base = present(rt, existing)
        if patch_type == patching.MERGE_PATCH:
            result = patching.json_merge_patch(base, document)
        elif patch_type == patching.STRATEGIC_PATCH:
            if not rt.builtin:
                raise errors.unsupported_media_type(patch_type, [patching.JSON_PATCH, patching.MERGE_PATCH,
                                                                 patching.APPLY_PATCH])
            result = patching.strategic_merge_patch(base, document, kind=rt.kind)
        elif patch_type == patching.JSON_PATCH:
            result = patching.json_patch(base, document)
        elif patch_type == patching.APPLY_PATCH:
            if not field_manager:
                raise errors.bad_request("PATCH requests with apply content type require fieldManager")
            result = patching.server_side_apply(base, self._body(rt, document), kind=rt.kind)
        else:
            raise errors.unsupported_media_type(patch_type, [patching.JSON_PATCH, patching.MERGE_PATCH,
                                                             patching.STRATEGIC_PATCH, patching.APPLY_PATCH])
        obj = self._body(rt, result)
        warnings = self._prune(rt, obj, field_validation)
        wanted_rv = obj["metadata"].get("resourceVersion")
        if wanted_rv and wanted_rv != existing["metadata"]["resourceVersion"]:
            raise errors.stale(rt.group, rt.plural, name)
        return self._replace(rt, existing, obj, subresource=subresource, dry_run=dry_run), warnings, False

    def _replace(self, rt: ResourceType, existing: dict[str, Any], obj: dict[str, Any], *, subresource: str | None,
                 dry_run: bool) -> dict[str, Any]:
        """The common end of update and patch: keep what clients may not change, admit, store or delete."""
        old_meta = existing["metadata"]
        if subresource == "status":
            result = clone(existing)
            if obj.get("status") is None:
                result.pop("status", None)
            else:
                result["status"] = obj["status"]
            if rt.key == NAMESPACE_KEY:  # NB: the phase is the apiserver's, not the client's
                result.setdefault("status", {})["phase"] = (existing.get("status") or {}).get("phase", "Active")
        elif subresource == "finalize":
            result = clone(existing)
            result.setdefault("spec", {})["finalizers"] = list((obj.get("spec") or {}).get("finalizers") or [])
        elif subresource:
            raise errors.path_not_found(subresource)
        else:
            result = obj
            meta = result["metadata"]
            meta["name"], meta.pop("selfLink", None), meta.pop("managedFields", None)
            if rt.namespaced:
                meta["namespace"] = old_meta.get("namespace", "")
            for field in SYSTEM_META:
                if field in old_meta:
                    meta[field] = old_meta[field]
                else:
                    meta.pop(field, None)
            if rt.has_status:
                if "status" in existing:
                    result["status"] = existing["status"]
                else:
                    result.pop("status", None)
            if rt.key == NAMESPACE_KEY:
                result.setdefault("spec", {})["finalizers"] = (existing.get("spec") or {}).get("finalizers", [])
            admission.admit(rt, result, old=existing, used_cluster_ips=self._cluster_ips, now=timestamps.now())
        if rt.generation and _spec_view(result) != _spec_view(existing):
            result["metadata"]["generation"] = int(old_meta.get("generation") or 0) + 1
        namespace, name = old_meta.get("namespace", ""), old_meta["name"]
        if _comparable(result) == _comparable(existing):
            return present(rt, existing)
        if old_meta.get("deletionTimestamp") and self._finalized(rt, result):
            if dry_run:
                return present(rt, result)
            return present(rt, self.store.remove(rt.key, namespace, name) or result)
        if dry_run:
            return present(rt, result)
        return present(rt, self.store.put(rt.key, result, event_type="MODIFIED"))

    @staticmethod
    def _finalized(rt: ResourceType, obj: dict[str, Any]) -> bool:
        if obj["metadata"].get("finalizers"):
            return False
        return rt.key != NAMESPACE_KEY or not (obj.get("spec") or {}).get("finalizers")

    def delete(self, rt: ResourceType, namespace: str, name: str, *, options: dict[str, Any] | None = None,
               dry_run: bool = False) -> dict[str, Any]:
        """Delete now, or mark for deletion when finalizers (or a namespace's contents) must go first."""
        options = options or {}
        namespace = namespace if rt.namespaced else ""
        existing = self.store.get(rt.key, namespace, name)
        if existing is None:
            raise errors.not_found(rt.group, rt.plural, name)
        meta = existing["metadata"]
        preconditions = options.get("preconditions") or {}
        if preconditions.get("uid") and preconditions["uid"] != meta.get("uid"):
            raise errors.conflict(rt.group, rt.plural, name,
                                  f"Precondition failed: UID in precondition: {preconditions['uid']}, "
                                  f"UID in object meta: {meta.get('uid')}")
        if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != meta.get("resourceVersion"):
            raise errors.conflict(rt.group, rt.plural, name,
                                  f"Precondition failed: ResourceVersion in precondition: "
                                  f"{preconditions['resourceVersion']}, ResourceVersion in object meta: "
                                  f"{meta.get('resourceVersion')}")
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        if policy not in (None, "Background", "Foreground", "Orphan"):
            raise errors.invalid(group="meta.k8s.io", kind="DeleteOptions", name="", causes=[
                ("propagationPolicy", (f'Unsupported value: "{policy}": supported values: "Foreground", '
                                      f'"Background", "Orphan", "nil"'))])
        if rt.key == NAMESPACE_KEY:
            if name in admission.BUILTIN_NAMESPACES:
                raise errors.forbidden("", "namespaces", name, "this namespace may not be deleted")
            if _is_terminating(existing) or dry_run:
                return present(rt, existing)
            meta["deletionTimestamp"] = timestamps.now()
            meta["deletionGracePeriodSeconds"] = 0
            existing.setdefault("status", {})["phase"] = "Terminating"
            return present(rt, self.store.put(rt.key, existing, event_type="MODIFIED"))
        if meta.get("deletionTimestamp"):
            return present(rt, existing)
        if dry_run:
            return present(rt, existing)
        if policy == "Orphan":
            self.orphan_dependents(meta.get("uid", ""))
        finalizers = list(meta.get("finalizers") or [])
        if policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if finalizers:
            meta["finalizers"] = finalizers
            meta["deletionTimestamp"] = timestamps.now()
            meta["deletionGracePeriodSeconds"] = 0
            return present(rt, self.store.put(rt.key, existing, event_type="MODIFIED"))
        last = self.store.remove(rt.key, namespace, name) or existing
        if rt.key in RETURNS_DELETED_OBJECT or not rt.builtin:
            return present(rt, last)
        details: dict[str, Any] = {"name": name}
        if rt.group:
            details["group"] = rt.group
        details.update({"kind": rt.plural, "uid": meta.get("uid")})
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def delete_collection(self, rt: ResourceType, namespace: str | None, *, label_selector: str | None,
                          field_selector: str | None, options: dict[str, Any] | None = None,
                          dry_run: bool = False) -> dict[str, Any]:
        listed = self.list(rt, namespace, label_selector=label_selector, field_selector=field_selector)
        deleted = []
        for obj in listed["items"]:
            meta = obj["metadata"]
            try:
                result = self.delete(rt, meta.get("namespace", ""), meta["name"], options=options, dry_run=dry_run)
            except errors.StatusError as exc:
                if exc.code == 404:
                    continue
                raise
            deleted.append(result if result.get("kind") == rt.kind else obj)
        return {"kind": rt.list_kind, "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(self.store.rv)}, "items": deleted}

    def orphan_dependents(self, owner_uid: str) -> None:
        for key, obj in list(self.store.iter_all()):
            refs = obj["metadata"].get("ownerReferences") or []
            if any(ref.get("uid") == owner_uid for ref in refs):
                updated = clone(obj)
                kept = [ref for ref in refs if ref.get("uid") != owner_uid]
                if kept:
                    updated["metadata"]["ownerReferences"] = kept
                else:
                    updated["metadata"].pop("ownerReferences", None)
                self.store.put(key, updated, event_type="MODIFIED")
