"""The operator objects a configuration put on its cluster, each with a one-word state for people to read.

Only names, kinds and states leave this module: a Secret's data or a Deployment's arguments never do.
"""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException

from shared.cluster_access import cluster_client
from shared.kube import KINDS, ClusterUnreachableError, describe_api_error, list_labelled_objects
from shared.manifests import CONFIGURATION_LABEL, configuration_hash

KIND_ORDER = ("Namespace", "ServiceAccount", "ClusterRoleBinding", "Role", "RoleBinding", "Secret", "ConfigMap",
              "Deployment", "Service")


def operator_objects(*, cluster_key: str, configuration_id: str) -> dict[str, Any]:
    """`{"cluster": {"reachable", "message"}, "value": [objects]}`; an unreachable cluster is not an error."""
    selector = f"{CONFIGURATION_LABEL}={configuration_hash(configuration_id)}"
    try:
        found = list_labelled_objects(cluster_client(cluster_key), selector)
    except ClusterUnreachableError as error:
        return unreachable(str(error))
    except ApiException as error:
        return unreachable(f"the cluster refused the listing: {describe_api_error(error)}")
    except Exception as error:  # noqa: BLE001 - connection trouble of any kind reads as unreachable
        return unreachable(f"the cluster could not be reached ({type(error).__name__})")
    objects = [described(kind, obj) for kind, obj in found]
    objects.sort(key=lambda o: (KIND_ORDER.index(o["kind"]), o["namespace"] or "", o["name"]))
    return {"cluster": {"reachable": True, "message": None}, "value": objects}


def unreachable(message: str) -> dict[str, Any]:
    return {"cluster": {"reachable": False, "message": message}, "value": []}


def described(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    state, detail = state_of(kind, obj)
    if meta.get("deletionTimestamp"):
        state = "Terminating"
    return {"apiVersion": KINDS[kind].group_version, "kind": kind, "namespace": meta.get("namespace"),
            "name": meta.get("name"), "state": state, "detail": detail, "createdAt": meta.get("creationTimestamp")}


def state_of(kind: str, obj: dict[str, Any]) -> tuple[str, str | None]:
    status = obj.get("status") or {}
    if kind == "Deployment":
        return deployment_state(obj.get("spec") or {}, status)
    if kind == "Namespace":
        return "Present", status.get("phase")
    if kind == "Service":
        spec = obj.get("spec") or {}
        ports = ", ".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
        return "Present", " ".join(part for part in (spec.get("type", "ClusterIP"), ports) if part)
    return "Present", None


def deployment_state(spec: dict[str, Any], status: dict[str, Any]) -> tuple[str, str]:
    """Available, Progressing or Unavailable, as `kubectl rollout status` would judge it, with the replicas."""
    wanted = spec.get("replicas", 1)
    available = status.get("availableReplicas") or 0
    replicas = f"{available}/{wanted} replicas available"
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    progressing = conditions.get("Progressing") or {}
    if progressing.get("status") == "False":
        return "Unavailable", f"{replicas}: {progressing.get('message') or progressing.get('reason')}"
    if available >= wanted and (conditions.get("Available") or {}).get("status") == "True":
        return "Available", replicas
    return "Progressing", replicas
