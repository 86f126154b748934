"""Activities of the delete workflow: remove what a configuration put on its cluster, record the outcome."""

from __future__ import annotations

import logging
from typing import Any

import azure.durable_functions as df
from kubernetes.client.exceptions import ApiException

from shared.clusters import get_cluster_by_key
from shared.kube import ClusterUnreachableError, api_client, delete_owned_objects, describe_api_error
from shared.manifests import CONFIGURATION_LABEL
from shared.operations import FAILED, SUCCEEDED, finish_operation
from shared.secrets import SecretBox
from shared.settings import Settings
from shared.timestamps import format_timestamp, utc_now

bp = df.Blueprint()
log = logging.getLogger("gitops.workflow.delete")
GC_MARK_LABEL = "fluxcd.io/sync-gc-mark"


def keeps(*, namespace_scope: bool):
    """What deletion never touches: objects synced from Git, and a namespace-scope configuration's namespace."""

    def keep(kind: str, obj: dict[str, Any]) -> bool:
        labels = obj["metadata"].get("labels") or {}
        return GC_MARK_LABEL in labels or (kind == "Namespace" and namespace_scope)

    return keep


@bp.activity_trigger(input_name="target")
def remove_operator_objects(target: dict[str, Any]) -> dict[str, Any]:
    """One pass: delete what remains; `{"remaining": [...]}` (empty when done) or `{"error": ...}`."""
    cluster = get_cluster_by_key(target["clusterKey"])
    if cluster is None:
        return {"error": "the cluster is no longer registered", "remaining": []}
    try:
        client = api_client(cluster.kubeconfig(SecretBox(Settings.from_environment().encryption_keys)))
        remaining = delete_owned_objects(client, label_selector=f"{CONFIGURATION_LABEL}={target['configurationHash']}",
                                         keep=keeps(namespace_scope=target["operatorScope"] == "namespace"))
    except ClusterUnreachableError as error:
        return {"error": str(error), "remaining": ["(cluster unreachable)"]}
    except ApiException as error:
        return {"error": describe_api_error(error), "remaining": ["(cluster refused a deletion)"]}
    except Exception as error:  # noqa: BLE001 - connection trouble: the workflow retries until its deadline
        return {"error": type(error).__name__, "remaining": ["(cluster unreachable)"]}
    log.info("delete pass: configuration=%s remaining=%d", target["configurationId"], len(remaining))
    return {"remaining": remaining}


@bp.activity_trigger(input_name="outcome")
def finish_delete_operation(outcome: dict[str, Any]) -> None:
    error = None
    if outcome["status"] == FAILED:
        error = {"code": "DeleteIncomplete", "message": outcome["message"]}
    finish_operation(outcome["operationId"], status=SUCCEEDED if outcome["status"] == SUCCEEDED else FAILED,
                     end_time=format_timestamp(utc_now()), error=error)
    log.info("delete finished: configuration=%s operation=%s status=%s", outcome.get("configurationId"),
             outcome["operationId"], outcome["status"])
