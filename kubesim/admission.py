"""Per-kind defaulting and validation on create and update, the part of the apiserver clients notice.

Only what matters to clients is here: names, labels, required fields, the defaults `kubectl get`
and controllers read (Service clusterIP, Deployment replicas and strategy, Secret stringData),
immutable fields, and the CRD rules that make it servable. Errors are 422 Invalid as from the apiserver.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from typing import Any

from kubesim import errors
from kubesim.resources import ResourceType
from kubesim.selectors import selector_object_matches

SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_1123_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
                  "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                  "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
LABEL_1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                  "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                  "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                   "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                   "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
NAME_PART_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
                 "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                 "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")

Causes = list[tuple[str, str]]


def _quote(value: Any) -> str:
    return '"' + str(value).replace('"', '\\"') + '"'


def _check_name(rt: ResourceType, name: str, causes: Causes) -> None:
    if rt.group == "rbac.authorization.k8s.io":
        if name in (".", "..") or "/" in name or "%" in name:
            causes.append(("metadata.name", f"Invalid value: {_quote(name)}: may not contain '/' or '%'"))
        return
    if rt.plural == "namespaces":
        pattern, message, limit = LABEL_1123, LABEL_1123_MSG, 63
    elif rt.plural == "services":
        pattern, message, limit = LABEL_1035, LABEL_1035_MSG, 63
    else:
        pattern, message, limit = SUBDOMAIN, SUBDOMAIN_MSG, 253
    if len(name) > limit:
        causes.append(("metadata.name", f"Invalid value: {_quote(name)}: must be no more than {limit} characters"))
    elif not pattern.match(name):
        causes.append(("metadata.name", f"Invalid value: {_quote(name)}: {message}"))


def _check_qualified_key(key: str, field: str, causes: Causes) -> None:
    prefix, _, name = key.rpartition("/")
    if "/" in prefix or (key.count("/") and not prefix):
        causes.append((field, (f"Invalid value: {_quote(key)}: a qualified name must consist of alphanumeric "
                              f"characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/'")))
        return
    if prefix and (len(prefix) > 253 or not SUBDOMAIN.match(prefix)):
        causes.append((field, f"Invalid value: {_quote(key)}: prefix part {SUBDOMAIN_MSG}"))
    if len(name) > 63:
        causes.append((field, f"Invalid value: {_quote(key)}: name part must be no more than 63 characters"))
    elif not QUALIFIED_NAME.match(name):
        causes.append((field, f"Invalid value: {_quote(key)}: {NAME_PART_MSG}"))


def _check_labels(labels: Any, field: str, causes: Causes) -> None:
    if not labels:
        return
    if not isinstance(labels, dict):
        causes.append((field, "Invalid value: must be a map of strings"))
        return
    for key, value in labels.items():
        _check_qualified_key(key, field, causes)
        if not isinstance(value, str):
            causes.append((field, f"Invalid value: {_quote(value)}: must be a string"))
        elif len(value) > 63:
            causes.append((field, f"Invalid value: {_quote(value)}: must be no more than 63 characters"))
        elif not LABEL_VALUE.match(value):
            causes.append((field, f"Invalid value: {_quote(value)}: {LABEL_VALUE_MSG}"))


def _check_metadata(rt: ResourceType, obj: dict[str, Any], causes: Causes) -> None:
    meta = obj["metadata"]
    _check_name(rt, meta.get("name", ""), causes)
    _check_labels(meta.get("labels"), "metadata.labels", causes)
    annotations = meta.get("annotations") or {}
    for key, value in annotations.items():
        _check_qualified_key(key, "metadata.annotations", causes)
        if not isinstance(value, str):
            causes.append(("metadata.annotations", f"Invalid value: {_quote(value)}: must be a string"))
    if sum(len(k) + len(str(v)) for k, v in annotations.items()) > 256 * 1024:
        causes.append(("metadata.annotations", "Too long: must have at most 262144 bytes"))


def _fail(rt: ResourceType, obj: dict[str, Any], causes: Causes) -> None:
    if causes:
        raise errors.invalid(group=rt.group, kind=rt.kind, name=obj["metadata"].get("name", ""), causes=causes)


# --- pods and templates --------------------------------------------------------------------------

def _default_container(container: dict[str, Any]) -> None:
    image = container.get("image", "")
    tag = image.rsplit("/", 1)[-1]
    if "imagePullPolicy" not in container:
        container["imagePullPolicy"] = "Always" if ("@" not in tag and (":" not in tag or tag.endswith(":latest"))) \
            else "IfNotPresent"
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")


def default_pod_spec(spec: dict[str, Any]) -> None:
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        _default_container(container)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    if spec.get("serviceAccountName") and not spec.get("serviceAccount"):
        spec["serviceAccount"] = spec["serviceAccountName"]


def _check_pod_spec(spec: Any, field: str, causes: Causes) -> None:
    if not isinstance(spec, dict):
        causes.append((field, "Required value"))
        return
    containers = spec.get("containers")
    if not containers:
        causes.append((f"{field}.containers", "Required value"))
        return
    names = set()
    for index, container in enumerate(containers):
        where = f"{field}.containers[{index}]"
        name = container.get("name", "")
        if not name:
            causes.append((f"{where}.name", "Required value"))
        elif not LABEL_1123.match(name):
            causes.append((f"{where}.name", f"Invalid value: {_quote(name)}: {LABEL_1123_MSG}"))
        elif name in names:
            causes.append((f"{where}.name", f"Duplicate value: {_quote(name)}"))
        names.add(name)
        if not container.get("image"):
            causes.append((f"{where}.image", "Required value"))


def _check_workload(rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None, causes: Causes) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        causes.append(("spec", "Required value"))
        return
    selector = spec.get("selector")
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(("spec.selector", "Required value"))
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector and not selector_object_matches(selector, labels):
        causes.append(("spec.template.metadata.labels",
                       f"Invalid value: {_quote(labels)}: `selector` does not match template `labels`"))
    _check_labels(labels, "spec.template.metadata.labels", causes)
    _check_pod_spec(template.get("spec"), "spec.template.spec", causes)
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        causes.append(("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0"))
    if old is not None and rt.kind == "Deployment" and (old.get("spec") or {}).get("selector") != selector:
        causes.append(("spec.selector", f"Invalid value: {_quote(selector)}: field is immutable"))


def _default_workload(obj: dict[str, Any], *, deployment: bool) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    if deployment:
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
        spec.setdefault("progressDeadlineSeconds", 600)
    template = spec.setdefault("template", {})
    template.setdefault("metadata", {})
    if isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"])


# --- data ----------------------------------------------------------------------------------------

def _check_data_keys(obj: dict[str, Any], causes: Causes) -> None:
    for section in ("data", "binaryData", "stringData"):
        for key in obj.get(section) or {}:
            if not CONFIG_KEY.match(key) or len(key) > 253:
                causes.append((f"{section}[{key}]", (f"Invalid value: {_quote(key)}: a valid config key must "
                                                    f"consist of alphanumeric characters, '-', '_' or '.' "
                                                    f"(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex "
                                                    f"used for validation is '[-._a-zA-Z0-9]+')")))


def _check_immutable_data(obj: dict[str, Any], old: dict[str, Any] | None, causes: Causes) -> None:
    if old is None or not old.get("immutable"):
        return
    for section in ("data", "binaryData"):
        if (obj.get(section) or {}) != (old.get(section) or {}):
            causes.append((section, "Forbidden: field is immutable when `immutable` is set"))
    if not obj.get("immutable"):
        causes.append(("immutable", "Forbidden: field is immutable when `immutable` is set"))


def _default_secret(obj: dict[str, Any]) -> None:
    for key, value in (obj.get("data") or {}).items():
        try:
            base64.b64decode(value or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise errors.bad_request(f'Secret in version "v1" cannot be handled as a Secret: illegal base64 '
                                     f'data in data[{key}]') from None
    string_data = obj.pop("stringData", None) or {}
    if string_data:
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    obj.setdefault("type", "Opaque")


# --- services ------------------------------------------------------------------------------------

def _default_service(obj: dict[str, Any], old: dict[str, Any] | None, used_ips: Callable[[], set[str]]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    old_spec = (old or {}).get("spec") or {}
    if spec["type"] != "ExternalName":
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"], spec["clusterIPs"] = old_spec["clusterIP"], old_spec.get("clusterIPs")
        if not spec.get("clusterIP"):
            taken = used_ips()
            spec["clusterIP"] = next(str(ip) for ip in SERVICE_CIDR.hosts()
                                     if str(ip) not in taken and not str(ip).endswith(".0.1"))
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    obj.setdefault("status", {"loadBalancer": {}})


def _check_service(obj: dict[str, Any], old: dict[str, Any] | None, causes: Causes) -> None:
    spec = obj.get("spec") or {}
    if spec.get("type") not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        causes.append(("spec.type", (f"Unsupported value: {_quote(spec.get('type'))}: supported values: "
                                    f"\"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"")))
    headless = spec.get("clusterIP") == "None"
    if not spec.get("ports") and spec.get("type") != "ExternalName" and not headless:
        causes.append(("spec.ports", "Required value"))
    for index, port in enumerate(spec.get("ports") or []):
        if not isinstance(port.get("port"), int) or not 0 < port["port"] < 65536:
            causes.append((f"spec.ports[{index}].port", (f"Invalid value: {port.get('port')}: must be between 1 "
                                                        f"and 65535, inclusive")))
    old_ip = ((old or {}).get("spec") or {}).get("clusterIP")
    if old_ip and spec.get("clusterIP") != old_ip:
        causes.append(("spec.clusterIPs[0]", (f"Invalid value: {_quote(spec.get('clusterIP'))}: may not change "
                                             f"once set")))


# --- rbac ----------------------------------------------------------------------------------------

def _check_binding(obj: dict[str, Any], old: dict[str, Any] | None, causes: Causes) -> None:
    ref = obj.get("roleRef") or {}
    if not ref.get("name"):
        causes.append(("roleRef.name", "Required value"))
    if ref.get("kind") not in ("Role", "ClusterRole"):
        causes.append(("roleRef.kind", (f"Unsupported value: {_quote(ref.get('kind'))}: supported values: "
                                       f"\"Role\", \"ClusterRole\"")))
    if old is not None and old.get("roleRef") != ref:
        causes.append(("roleRef", f"Invalid value: {_quote(ref)}: cannot change roleRef"))
    for index, subject in enumerate(obj.get("subjects") or []):
        if subject.get("kind") not in ("User", "Group", "ServiceAccount"):
            causes.append((f"subjects[{index}].kind", (f"Unsupported value: {_quote(subject.get('kind'))}: "
                                                      f"supported values: \"Group\", \"ServiceAccount\", \"User\"")))
        if not subject.get("name"):
            causes.append((f"subjects[{index}].name", "Required value"))


# --- CRDs ----------------------------------------------------------------------------------------

def _default_crd(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    names = spec.setdefault("names", {})
    if names.get("kind"):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    spec.setdefault("conversion", {"strategy": "None"})


def _check_crd(obj: dict[str, Any], old: dict[str, Any] | None, causes: Causes) -> None:
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    group, plural = spec.get("group", ""), names.get("plural", "")
    if not group:
        causes.append(("spec.group", "Required value"))
    elif "." not in group:
        causes.append(("spec.group", f"Invalid value: {_quote(group)}: should be a domain with at least one dot"))
    if not plural:
        causes.append(("spec.names.plural", "Required value"))
    elif not LABEL_1123.match(plural):
        causes.append(("spec.names.plural", f"Invalid value: {_quote(plural)}: {LABEL_1123_MSG}"))
    if not names.get("kind"):
        causes.append(("spec.names.kind", "Required value"))
    name = obj["metadata"].get("name", "")
    if plural and group and name != f"{plural}.{group}":
        causes.append(("metadata.name", f'Invalid value: {_quote(name)}: must be spec.names.plural+"."+spec.group'))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(("spec.scope", (f"Unsupported value: {_quote(spec.get('scope'))}: supported values: "
                                     f"\"Cluster\", \"Namespaced\"")))
    versions = spec.get("versions") or []
    if not versions:
        causes.append(("spec.versions", ("Invalid value: null: must have exactly one version marked as storage "
                                        "version")))
    elif sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(("spec.versions", (f"Invalid value: {_quote(versions)}: must have exactly one version marked "
                                        f"as storage version")))
    for index, version in enumerate(versions):
        if not version.get("name"):
            causes.append((f"spec.versions[{index}].name", "Required value"))
        if not ((version.get("schema") or {}).get("openAPIV3Schema")):
            causes.append((f"spec.versions[{index}].schema.openAPIV3Schema", "Required value: schemas are required"))
    if old is not None:
        old_spec = old.get("spec") or {}
        for field in ("group", "scope"):
            if old_spec.get(field) != spec.get(field):
                causes.append((f"spec.{field}", f"Invalid value: {_quote(spec.get(field))}: field is immutable"))


def crd_status(obj: dict[str, Any], now: str) -> dict[str, Any]:
    """The status an established CRD shows: names accepted, established, stored versions."""
    spec = obj.get("spec") or {}
    stored = list((obj.get("status") or {}).get("storedVersions") or [])
    for version in spec.get("versions") or []:
        if version.get("storage") and version.get("name") not in stored:
            stored.append(version["name"])
    conditions = [
        {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now, "reason": "NoConflicts",
         "message": "no conflicts found"},
        {"type": "Established", "status": "True", "lastTransitionTime": now, "reason": "InitialNamesAccepted",
         "message": "the initial names have been accepted"},
    ]
    old_conditions = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}
    for condition in conditions:
        previous = old_conditions.get(condition["type"])
        if previous and previous.get("status") == condition["status"]:
            condition["lastTransitionTime"] = previous.get("lastTransitionTime", now)
    if obj["metadata"].get("deletionTimestamp"):
        conditions.append({"type": "Terminating", "status": "True", "lastTransitionTime": now,
                           "reason": "InstanceDeletionInProgress", "message": "CustomResource deletion is in progress"})
    return {"conditions": conditions, "acceptedNames": dict(spec.get("names") or {}), "storedVersions": stored}


# --- entry point ---------------------------------------------------------------------------------

def admit(rt: ResourceType, obj: dict[str, Any], *, old: dict[str, Any] | None,
          used_cluster_ips: Callable[[], set[str]],
          now: str) -> None:
    """Default then validate `obj` (the full new state); `old` is None on create. Raises 422 / 400."""
    causes: Causes = []
    key = rt.key
    if key == ("", "namespaces"):
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
    elif key == ("", "secrets"):
        _default_secret(obj)
        _check_data_keys(obj, causes)
        _check_immutable_data(obj, old, causes)
        if old is not None and old.get("type") != obj.get("type"):
            causes.append(("type", f"Invalid value: {_quote(obj.get('type'))}: field is immutable"))
    elif key == ("", "configmaps"):
        _check_data_keys(obj, causes)
        _check_immutable_data(obj, old, causes)
    elif key == ("", "services"):
        _default_service(obj, old, used_cluster_ips)
        _check_service(obj, old, causes)
    elif key == ("", "pods"):
        if isinstance(obj.get("spec"), dict):
            default_pod_spec(obj["spec"])
        _check_pod_spec(obj.get("spec"), "spec", causes)
        if old is None:
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif key in (("apps", "deployments"), ("apps", "replicasets")):
        _default_workload(obj, deployment=rt.kind == "Deployment")
        _check_workload(rt, obj, old, causes)
    elif key in (("rbac.authorization.k8s.io", "rolebindings"), ("rbac.authorization.k8s.io", "clusterrolebindings")):
        _check_binding(obj, old, causes)
    elif key == ("apiextensions.k8s.io", "customresourcedefinitions"):
        _default_crd(obj)
        _check_crd(obj, old, causes)
        if not causes:
            obj["status"] = crd_status(obj, now)
    _check_metadata(rt, obj, causes)
    _fail(rt, obj, causes)
