"""The kinds the emulator serves: a table of built-in resource types plus those CRDs define.

A `ResourceType` is one (group, version, plural); objects are stored per (group, plural), so a
custom resource served in two versions is one set of objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
NAMESPACE_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    # metadata.generation is kept (and bumped on spec change) for these kinds.
    generation: bool = False
    # Built-in kinds accept strategic merge patches and have a protobuf / strict-field schema.
    builtin: bool = True
    # Custom resources: additionalPrinterColumns and the CRD's openAPIV3Schema, for tables and OpenAPI.
    printer_columns: tuple[dict[str, Any], ...] = ()
    schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    selectable_fields: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def key(self) -> tuple[str, str]:
        """Storage key: the same objects whatever version they are served in."""
        return (self.group, self.plural)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def url_prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else "/api/v1"


BUILTIN: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "Namespace", "namespaces", "namespace", False, ("ns",), verbs=NAMESPACE_VERBS,
                 subresources=("status", "finalize")),
    ResourceType("", "v1", "ConfigMap", "configmaps", "configmap", True, ("cm",)),
    ResourceType("", "v1", "Secret", "secrets", "secret", True),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", True, ("sa",)),
    ResourceType("", "v1", "Service", "services", "service", True, ("svc",), ("all",), subresources=("status",)),
    ResourceType("", "v1", "Pod", "pods", "pod", True, ("po",), ("all",), subresources=("status",)),
    ResourceType("", "v1", "Event", "events", "event", True, ("ev",)),
    ResourceType("", "v1", "Node", "nodes", "node", False, ("no",), subresources=("status",)),
    ResourceType("apps", "v1", "Deployment", "deployments", "deployment", True, ("deploy",), ("all",),
                 subresources=("status", "scale"), generation=True),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", "replicaset", True, ("rs",), ("all",),
                 subresources=("status", "scale"), generation=True),
    ResourceType("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", False),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
                 "clusterrolebinding", False),
    ResourceType("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
                 "customresourcedefinition", False, ("crd", "crds"), subresources=("status",), generation=True),
)

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACE_KEY = ("", "namespaces")


def types_from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """The resource types a CRD serves: one per served version."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    kind, plural = names.get("kind", ""), names.get("plural", "")
    out = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = tuple(sorted((version.get("subresources") or {}).keys()))
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        out.append(ResourceType(
            group=spec.get("group", ""), version=version.get("name", ""), kind=kind, plural=plural,
            singular=names.get("singular") or kind.lower(), namespaced=spec.get("scope") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            subresources=tuple(s for s in subresources if s == "status"), generation=True, builtin=False,
            printer_columns=tuple(version.get("additionalPrinterColumns") or ()), schema=schema,
            selectable_fields=tuple(f.get("jsonPath", "").lstrip(".") for f in version.get("selectableFields") or ()),
        ))
    return out


class Registry:
    """Built-in types plus the ones established CRDs add; kept current by the CRD hook in verbs."""

    def __init__(self) -> None:
        self._builtin = {(rt.group, rt.version, rt.plural): rt for rt in BUILTIN}
        self._custom: dict[str, list[ResourceType]] = {}  # CRD name -> its types

    def set_crd(self, crd: dict[str, Any]) -> None:
        self._custom[crd["metadata"]["name"]] = types_from_crd(crd)

    def drop_crd(self, name: str) -> None:
        self._custom.pop(name, None)

    def all(self) -> Iterator[ResourceType]:
        yield from self._builtin.values()
        for types in self._custom.values():
            yield from types

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        rt = self._builtin.get((group, version, plural))
        if rt is not None:
            return rt
        for types in self._custom.values():
            for candidate in types:
                if (candidate.group, candidate.version, candidate.plural) == (group, version, plural):
                    return candidate
        return None

    def for_key(self, key: tuple[str, str]) -> ResourceType | None:
        """Any served version of the objects stored under `key` (the first, i.e. the preferred one)."""
        return next((rt for rt in self.all() if rt.key == key), None)

    def groups(self) -> dict[str, dict[str, list[ResourceType]]]:
        """group -> version -> types, in serving order (core group first, its key is "")."""
        out: dict[str, dict[str, list[ResourceType]]] = {}
        for rt in self.all():
            out.setdefault(rt.group, {}).setdefault(rt.version, []).append(rt)
        return out

    def in_group(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self.all() if rt.group == group and rt.version == version]

    def namespaced_keys(self) -> Iterable[tuple[str, str]]:
        return {rt.key for rt in self.all() if rt.namespaced}
