"""Removing what a configuration put on its cluster, and recording how a deletion ended.

Used by the delete workflow's activities and by the cleanup timer when it finishes a deletion whose
workflow died or overslept, so both remove the same objects and word the outcome the same way.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from kubernetes.client.exceptions import ApiException

from shared.cluster_access import client_for_record
from shared.clusters import get_cluster_by_key
from shared.kube import ClusterUnreachableError, delete_owned_objects, describe_api_error
from shared.manifests import CONFIGURATION_LABEL
from shared.operations import FAILED, SUCCEEDED, finish_operation
from shared.pending import forget_delete, note_purge
from shared.settings import Settings
from shared.timestamps import format_timestamp, utc_now

log = logging.getLogger("gitops.deletion")
GC_MARK_LABEL = "fluxcd.io/sync-gc-mark"
MAX_NAMED = 20


# The API server refuses to delete these ("this namespace may not be deleted"); an operator installed into one
# (operatorNamespace "default" is the API's default) leaves it in place, as it found it.
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})


def keeps(*, namespace_scope: bool):
    """What deletion never touches: objects synced from Git, a namespace-scope configuration's namespace, and
    the cluster's system namespaces."""

    def keep(kind: str, obj: dict[str, Any]) -> bool:
        labels = obj["metadata"].get("labels") or {}
        if kind == "Namespace" and (namespace_scope or obj["metadata"].get("name") in SYSTEM_NAMESPACES):
            return True
        return GC_MARK_LABEL in labels

    return keep


def remove_objects_once(*, cluster_key: str, configuration_hash: str, keep_namespaces: bool) -> dict[str, Any]:
    """One pass: delete what remains; `{"remaining": [...]}` (empty when done), with `"error"` on trouble."""
    cluster = get_cluster_by_key(cluster_key)
    if cluster is None:
        # NB: never "nothing remains": nobody can look any more, so the deletion must not end Succeeded.
        return {"error": "the cluster is no longer registered", "remaining": ["(objects may remain on the cluster)"]}
    try:
        client = client_for_record(cluster)
        remaining = delete_owned_objects(client, label_selector=f"{CONFIGURATION_LABEL}={configuration_hash}",
                                         keep=keeps(namespace_scope=keep_namespaces))
    except ClusterUnreachableError as error:
        return {"error": str(error), "remaining": ["(cluster unreachable)"]}
    except ApiException as error:
        return {"error": describe_api_error(error), "remaining": ["(cluster refused a deletion)"]}
    except Exception as error:  # noqa: BLE001 - connection trouble: callers retry until their deadline
        return {"error": type(error).__name__, "remaining": ["(cluster unreachable)"]}
    return {"remaining": remaining}


def incomplete_message(window_seconds: float, result: dict[str, Any]) -> str:
    """What a Failed delete operation says: the window that closed and what is still on the cluster."""
    reason = f" ({result['error']})" if result.get("error") else ""
    return (f"Objects still present after the {timedelta(seconds=window_seconds)} delete window{reason}: "
            f"{', '.join(result['remaining'][:MAX_NAMED])}")


def finish_deletion(*, operation_id: str, instance_id: str, status: str, message: str | None = None,
                    finished_by: str) -> None:
    """End the operation (its first outcome stands), drop it from the pending index, schedule its purge."""
    error = {"code": "DeleteIncomplete", "message": message} if status == FAILED else None
    finish_operation(operation_id, status=SUCCEEDED if status == SUCCEEDED else FAILED,
                     end_time=format_timestamp(utc_now()), error=error)
    forget_delete(operation_id)
    note_purge(instance_id, due_at=utc_now() + Settings.from_environment().history_retention)
    log.info("delete finished: operation=%s status=%s by=%s", operation_id, status, finished_by)
