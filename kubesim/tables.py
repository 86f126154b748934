"""Server-side Table rendering (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`).

kubectl asks for tables and prints their columns as they come; without them it shows only NAME and
AGE. Columns copy the apiserver's printers for the served kinds; custom resources use their CRD's
additionalPrinterColumns.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

from kubesim import timestamps
from kubesim.resources import ResourceType
from kubesim.selectors import selector_object_string

Row = list[Any]


def human_duration(seconds: float) -> str:
    """Kubernetes' duration.HumanDuration, as in the AGE column."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: str | None) -> str:
    parsed = timestamps.parse(timestamp)
    if parsed is None:
        return "<unknown>"
    return human_duration((dt.datetime.now(dt.UTC) - parsed).total_seconds())


def _col(name: str, typ: str = "string", *, priority: int = 0, fmt: str = "", description: str = "") -> dict:
    return {"name": name, "type": typ, "format": fmt, "description": description or name, "priority": priority}


NAME = _col("Name", fmt="name", description="Name must be unique within a namespace.")
AGE = _col("Age", description="CreationTimestamp is a timestamp representing the server time when this object "
                              "was created.")
CREATED_AT = _col("Created At", "date", description="CreationTimestamp is a timestamp representing the server time "
                                                    "when this object was created.")


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []


def _pod_status(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
    if _meta(pod).get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _pod_row(pod: dict[str, Any]) -> Row:
    status = pod.get("status") or {}
    containers = (pod.get("spec") or {}).get("containers") or []
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses)
    return [_meta(pod).get("name"), f"{ready}/{len(containers)}", _pod_status(pod), str(restarts),
            age(_meta(pod).get("creationTimestamp")), status.get("podIP") or "<none>",
            (pod.get("spec") or {}).get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>",
            "<none>"]


def _deployment_row(obj: dict[str, Any]) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    containers = _containers(obj)
    return [_meta(obj).get("name"), f"{int(status.get('readyReplicas') or 0)}/{int(spec.get('replicas') or 0)}",
            int(status.get("updatedReplicas") or 0), int(status.get("availableReplicas") or 0),
            age(_meta(obj).get("creationTimestamp")), ",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers), selector_object_string(spec.get("selector"))]


def _replicaset_row(obj: dict[str, Any]) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    containers = _containers(obj)
    return [_meta(obj).get("name"), int(spec.get("replicas") or 0), int(status.get("replicas") or 0),
            int(status.get("readyReplicas") or 0), age(_meta(obj).get("creationTimestamp")),
            ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers),
            selector_object_string(spec.get("selector"))]


def _service_row(obj: dict[str, Any]) -> Row:
    spec = obj.get("spec") or {}
    ports = []
    for port in spec.get("ports") or []:
        text = f"{port.get('port')}"
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        ports.append(f"{text}/{port.get('protocol', 'TCP')}")
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    external = ",".join(i.get("ip") or i.get("hostname") or "" for i in ingress) or \
        ",".join(spec.get("externalIPs") or []) or (spec.get("externalName") if spec.get("type") == "ExternalName"
                                                    else "<pending>" if spec.get("type") == "LoadBalancer" else "<none>")
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"
    return [_meta(obj).get("name"), spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>", external,
            ",".join(ports) or "<none>", age(_meta(obj).get("creationTimestamp")), selector]


def _binding_row(obj: dict[str, Any]) -> Row:
    ref = obj.get("roleRef") or {}
    subjects = obj.get("subjects") or []

    def names(kind: str) -> str:
        return ", ".join((f"{s.get('namespace')}/{s.get('name')}" if kind == "ServiceAccount" else s.get("name", ""))
                         for s in subjects if s.get("kind") == kind)

    return [_meta(obj).get("name"), f"{ref.get('kind')}/{ref.get('name')}", age(_meta(obj).get("creationTimestamp")),
            names("User"), names("Group"), names("ServiceAccount")]


def _event_row(obj: dict[str, Any]) -> Row:
    involved = obj.get("involvedObject") or {}
    last = obj.get("lastTimestamp") or obj.get("eventTime") or _meta(obj).get("creationTimestamp")
    first = obj.get("firstTimestamp") or obj.get("eventTime") or _meta(obj).get("creationTimestamp")
    source = (obj.get("source") or {}).get("component") or obj.get("reportingComponent") or ""
    return [age(last), obj.get("type", ""), obj.get("reason", ""),
            f"{(involved.get('kind') or '').lower()}/{involved.get('name', '')}", involved.get("fieldPath", ""),
            source, obj.get("message", ""), age(first), int(obj.get("count") or 1), _meta(obj).get("name")]


def _node_row(obj: dict[str, Any]) -> Row:
    status = obj.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    state = "Ready" if ready.get("status") == "True" else "NotReady"
    if (obj.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = _meta(obj).get("labels") or {}
    roles = ",".join(sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))) or "<none>"
    info = status.get("nodeInfo") or {}
    internal = next((a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), "")
    return [_meta(obj).get("name"), state, roles, age(_meta(obj).get("creationTimestamp")),
            info.get("kubeletVersion", ""), internal or "<none>", "<none>", info.get("osImage", ""),
            info.get("kernelVersion", ""), info.get("containerRuntimeVersion", "")]


PRINTERS: dict[tuple[str, str], tuple[list[dict[str, Any]], Callable[[dict[str, Any]], Row]]] = {
    ("", "namespaces"): ([NAME, _col("Status", description="The status of the namespace"), AGE],
                         lambda o: [_meta(o).get("name"), (o.get("status") or {}).get("phase", ""),
                                    age(_meta(o).get("creationTimestamp"))]),
    ("", "configmaps"): ([NAME, _col("Data", "integer"), AGE],
                         lambda o: [_meta(o).get("name"), len(o.get("data") or {}) + len(o.get("binaryData") or {}),
                                    age(_meta(o).get("creationTimestamp"))]),
    ("", "secrets"): ([NAME, _col("Type"), _col("Data", "integer"), AGE],
                      lambda o: [_meta(o).get("name"), o.get("type", ""), len(o.get("data") or {}),
                                 age(_meta(o).get("creationTimestamp"))]),
    ("", "serviceaccounts"): ([NAME, _col("Secrets", "integer"), AGE],
                              lambda o: [_meta(o).get("name"), len(o.get("secrets") or []),
                                         age(_meta(o).get("creationTimestamp"))]),
    ("", "services"): ([NAME, _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"), AGE,
                        _col("Selector", priority=1)], _service_row),
    ("", "pods"): ([NAME, _col("Ready"), _col("Status"), _col("Restarts"), AGE, _col("IP", priority=1),
                    _col("Node", priority=1), _col("Nominated Node", priority=1),
                    _col("Readiness Gates", priority=1)], _pod_row),
    ("", "events"): ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"),
                      _col("Subobject", priority=1), _col("Source", priority=1), _col("Message"),
                      _col("First Seen", priority=1), _col("Count", "integer", priority=1),
                      _col("Name", priority=1)], _event_row),
    ("", "nodes"): ([NAME, _col("Status"), _col("Roles"), AGE, _col("Version"), _col("Internal-IP", priority=1),
                     _col("External-IP", priority=1), _col("OS-Image", priority=1), _col("Kernel-Version", priority=1),
                     _col("Container-Runtime", priority=1)], _node_row),
    ("apps", "deployments"): ([NAME, _col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"), AGE,
                               _col("Containers", priority=1), _col("Images", priority=1),
                               _col("Selector", priority=1)], _deployment_row),
    ("apps", "replicasets"): ([NAME, _col("Desired", "integer"), _col("Current", "integer"),
                               _col("Ready", "integer"), AGE, _col("Containers", priority=1),
                               _col("Images", priority=1), _col("Selector", priority=1)], _replicaset_row),
    ("rbac.authorization.k8s.io", "rolebindings"): (
        [NAME, _col("Role"), AGE, _col("Users", priority=1), _col("Groups", priority=1),
         _col("ServiceAccounts", priority=1)], _binding_row),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): (
        [NAME, _col("Role"), AGE, _col("Users", priority=1), _col("Groups", priority=1),
         _col("ServiceAccounts", priority=1)], _binding_row),
}


# --- custom resources: additionalPrinterColumns with a small JSONPath ----------------------------------

_TOKEN = re.compile(r"\.([A-Za-z0-9_$-]+)|\[(\d+|\*)\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*['\"]([^'\"]*)['\"]\)\]"
                    r"|\['([^']+)'\]")


def jsonpath(obj: Any, path: str) -> list[Any]:
    """The subset CRD printer columns use: `.a.b`, `[0]`, `[*]`, `['x.y']`, `[?(@.type=="Ready")]`."""
    path = path.strip().removeprefix("{").removesuffix("}").strip()
    path = path.removeprefix("$")
    values = [obj]
    pos = 0
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if not match:
            return []
        pos = match.end()
        key, index, filter_key, filter_value, quoted = match.groups()
        nxt: list[Any] = []
        for value in values:
            if key is not None or quoted is not None:
                if isinstance(value, dict) and (key or quoted) in value:
                    nxt.append(value[key or quoted])
            elif index is not None:
                if isinstance(value, list):
                    if index == "*":
                        nxt.extend(value)
                    elif int(index) < len(value):
                        nxt.append(value[int(index)])
            elif filter_key is not None and isinstance(value, list):
                for item in value:
                    found = jsonpath(item, "." + filter_key)
                    if found and str(found[0]) == filter_value:
                        nxt.append(item)
        values = nxt
    return values


def _custom_printer(rt: ResourceType) -> tuple[list[dict[str, Any]], Callable[[dict[str, Any]], Row]]:
    columns = [c for c in rt.printer_columns if c.get("name") and c.get("jsonPath")]
    if not columns:
        return [NAME, AGE], lambda o: [_meta(o).get("name"), age(_meta(o).get("creationTimestamp"))]
    definitions = [NAME] + [_col(c["name"], c.get("type", "string"), priority=int(c.get("priority") or 0),
                                 fmt=c.get("format", ""), description=c.get("description", "")) for c in columns]

    def row(obj: dict[str, Any]) -> Row:
        cells: Row = [_meta(obj).get("name")]
        for column in columns:
            found = jsonpath(obj, column["jsonPath"])
            value = found[0] if found else None
            if value is None:
                cells.append(None)
            elif column.get("type") == "date":
                cells.append(age(str(value)))
            elif isinstance(value, (dict, list)):
                cells.append(json.dumps(value))
            else:
                cells.append(value)
        return cells

    return definitions, row


def printer_for(rt: ResourceType) -> tuple[list[dict[str, Any]], Callable[[dict[str, Any]], Row]]:
    if not rt.builtin:
        return _custom_printer(rt)
    return PRINTERS.get(rt.key) or ([NAME, CREATED_AT],
                                    lambda o: [_meta(o).get("name"), _meta(o).get("creationTimestamp")])


def _row_object(obj: dict[str, Any], include: str) -> dict[str, Any] | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata") or {}}


def render(rt: ResourceType, objects: list[dict[str, Any]], *, list_meta: dict[str, Any] | None,
           include_object: str | None, table_version: str = "v1", columns: bool = True) -> dict[str, Any]:
    """A Table of `objects`; `columns=False` leaves the definitions out (watch events after the first)."""
    definitions, row = printer_for(rt)
    include = include_object or "Metadata"
    rows = []
    for obj in objects:
        entry: dict[str, Any] = {"cells": row(obj)}
        rendered = _row_object(obj, include)
        if rendered is not None:
            entry["object"] = rendered
        rows.append(entry)
    table: dict[str, Any] = {"kind": "Table", "apiVersion": f"meta.k8s.io/{table_version}",
                             "metadata": list_meta or {}}
    table["columnDefinitions"] = definitions if columns else []
    table["rows"] = rows
    return table

