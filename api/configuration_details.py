"""What the GitOps page's detail view shows beyond the resource: the create workflow's steps and the operator
objects on the cluster. `GET /api{configuration id}/workflow` and `GET /api{configuration id}/operatorObjects`.

Neither is part of ARM's contract; both are read-only, keyed like the rest of the API, and return no secret.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from api import routes
from api.configurations import existing_configuration
from api.http import arm_endpoint, json_response
from shared.operator_objects import operator_objects
from shared.timestamps import format_timestamp
from shared.workflow_steps import workflow_steps
from shared.workflows import create_instance_id

bp = df.Blueprint()
NO_HISTORY = ("No history of the create workflow is kept: it has not started yet (a deletion of the same "
              "name may still be cleaning the cluster) or its history was purged.")


@bp.function_name("configuration_workflow")
@bp.route(route=routes.CONFIGURATION_WORKFLOW, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@arm_endpoint
async def workflow_endpoint(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    record = await asyncio.to_thread(existing_configuration, req)
    instance_id = create_instance_id(record.id, record.generation)
    # NB: no input: the history shows activity results (references and outcomes, never secrets) only.
    status = await client.get_status(instance_id, show_history=True, show_history_output=True, show_input=False)
    return json_response(200, workflow_view(instance_id, status))


def workflow_view(instance_id: str, status: df.DurableOrchestrationStatus | None) -> dict[str, Any]:
    runtime_status = status.runtime_status.value if status is not None and status.runtime_status else None
    if runtime_status is None:
        return {"instanceId": instance_id, "runtimeStatus": None, "customStatus": None, "createdTime": None,
                "lastUpdatedTime": None, "message": NO_HISTORY, "steps": []}
    return {"instanceId": instance_id, "runtimeStatus": runtime_status, "customStatus": status.custom_status,
            "createdTime": timestamp_or_none(status.created_time),
            "lastUpdatedTime": timestamp_or_none(status.last_updated_time), "message": None,
            "steps": workflow_steps(history=status.history or [], runtime_status=runtime_status,
                                    custom_status=status.custom_status)}


def timestamp_or_none(value: datetime | None) -> str | None:
    """NB: the SDK parses the host's `...Z` times into naive datetimes; they are UTC."""
    if value is None:
        return None
    return format_timestamp(value if value.tzinfo else value.replace(tzinfo=UTC))


@bp.function_name("configuration_operator_objects")
@bp.route(route=routes.CONFIGURATION_OPERATOR_OBJECTS, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@arm_endpoint
def operator_objects_endpoint(req: func.HttpRequest) -> func.HttpResponse:
    record = existing_configuration(req)
    return json_response(200, operator_objects(cluster_key=record.cluster_key, configuration_id=record.id))
