"""`GET /api/openapi.json` (anonymous): the API's OpenAPI 3 document, kept beside the code as YAML."""

from __future__ import annotations

import functools
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func
import yaml

from api import routes
from api.http import arm_endpoint, json_response

bp = df.Blueprint()
DOCUMENT = Path(__file__).with_name("openapi.yaml")


@functools.cache
def openapi_document() -> dict:
    return yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))


@bp.function_name("openapi_document")
@bp.route(route=routes.OPENAPI, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@arm_endpoint
def openapi_endpoint(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(200, openapi_document())
