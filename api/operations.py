"""`GET /api/operations/{operationId}`: the status of a long-running operation (Azure-AsyncOperation)."""

from __future__ import annotations

import re

import azure.durable_functions as df
import azure.functions as func

from api import routes
from api.http import arm_endpoint, json_response, require_api_version
from shared.errors import ResourceNotFoundError
from shared.operations import get_operation

bp = df.Blueprint()
_OPERATION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@bp.function_name("operation_status")
@bp.route(route=routes.OPERATION, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@arm_endpoint
def operation_endpoint(req: func.HttpRequest) -> func.HttpResponse:
    require_api_version(req)
    operation_id = req.route_params.get("operationId", "").lower()
    record = get_operation(operation_id) if _OPERATION_ID.match(operation_id) else None
    if record is None:
        raise ResourceNotFoundError(f"The operation '{operation_id}' was not found.", "operationId")
    return json_response(200, record.to_json())
