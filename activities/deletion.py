"""Activities of the delete workflow: remove what a configuration put on its cluster, record the outcome,
start the create that waited for this cleanup."""

from __future__ import annotations

import logging
from typing import Any

import azure.durable_functions as df

from shared.deletion import finish_deletion, remove_objects_once
from shared.workflow_starts import start_deferred_create as start_deferred
from shared.workflows import delete_instance_id

bp = df.Blueprint()
log = logging.getLogger("gitops.workflow.delete")


@bp.activity_trigger(input_name="target")
def remove_operator_objects(target: dict[str, Any]) -> dict[str, Any]:
    """One pass: delete what remains; `{"remaining": [...]}` (empty when done), with `"error"` on trouble."""
    result = remove_objects_once(cluster_key=target["clusterKey"], configuration_hash=target["configurationHash"],
                                 keep_namespaces=target["operatorScope"] == "namespace")
    log.info("delete pass: configuration=%s remaining=%d", target["configurationId"], len(result["remaining"]))
    return result


@bp.activity_trigger(input_name="outcome")
def finish_delete_operation(outcome: dict[str, Any]) -> None:
    finish_deletion(operation_id=outcome["operationId"], instance_id=delete_instance_id(outcome["operationId"]),
                    status=outcome["status"], message=outcome.get("message"), finished_by="delete workflow")


@bp.activity_trigger(input_name="name")
@bp.durable_client_input(client_name="client")
async def start_deferred_create(name: dict[str, Any], client: df.DurableOrchestrationClient) -> bool:
    """Start the create a PUT deferred behind this cleanup (if any, and if nobody started it yet)."""
    return await start_deferred(client, name["clusterKey"], name["name"])
