"""What every API function shares: api-version, JSON bodies, ARM-shaped errors, and the error boundary.

Errors are mapped to HTTP here and only here: an `ApiError` becomes its status and ARM body; anything else
is logged with its trace and answered 500 with no detail, so a client never sees a stack trace.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from shared.errors import ApiError, UnsupportedMediaTypeError, ValidationError
from shared.validation import parse_request_body

API_VERSION = "2021-03-01"
# The later GA versions keep the v1 schema of sourceControlConfigurations; 2023-05-01 is the default of
# Microsoft's SDK (azure-mgmt-kubernetesconfiguration).
SUPPORTED_API_VERSIONS = ("2019-11-01-preview", "2020-07-01-preview", "2020-10-01-preview", API_VERSION,
                          "2021-05-01-preview", "2021-11-01-preview", "2022-01-01-preview", "2022-03-01",
                          "2022-07-01", "2022-11-01", "2023-05-01")
MAX_BODY_BYTES = 1024 * 1024

log = logging.getLogger("gitops.api")


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, headers=headers or {},
                             mimetype="application/json")


def error_response(error: ApiError) -> func.HttpResponse:
    return json_response(error.status, error.to_body())


def require_api_version(req: func.HttpRequest) -> str:
    version = req.params.get("api-version")
    if version is None or version == "":
        raise ValidationError("MissingApiVersionParameter",
                              "The api-version query parameter (?api-version=) is required for all requests.",
                              "api-version")
    if version not in SUPPORTED_API_VERSIONS:
        raise ValidationError("InvalidApiVersionParameter",
                              f"The api-version '{version}' is invalid. The supported versions are "
                              f"'{','.join(SUPPORTED_API_VERSIONS)}'.", "api-version")
    return version


def read_json_body(req: func.HttpRequest) -> Any:
    """The parsed body; a body not declared as JSON is the client's 415, oversized, empty, non-UTF-8 or
    malformed JSON its 400."""
    require_json_content_type(req)
    raw = req.get_body() or b""
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationError("RequestBodyTooLarge",
                              f"The request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES} bytes.")
    return parse_request_body(raw)


def require_json_content_type(req: func.HttpRequest) -> None:
    """`application/json` or a `+json` type, parameters (charset) aside; anything else or nothing is a 415."""
    media_type = (req.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (media_type.startswith("application/")
                                                 and media_type.endswith("+json")):
        raise UnsupportedMediaTypeError("The request body must be JSON sent with Content-Type: application/json.")


def origin_of(req: func.HttpRequest) -> str:
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}"


def arm_endpoint(handler: Callable[..., Any]) -> Callable[..., Any]:
    """The error boundary of one API function (sync or async; keeps its signature for the host's indexing)."""

    def answer(error: Exception) -> func.HttpResponse:
        if isinstance(error, ApiError):
            log.info("request refused: code=%s target=%s status=%s", error.code, error.target, error.status)
            return error_response(error)
        log.error("unexpected error in %s", handler.__name__, exc_info=error)
        return json_response(500, {"error": {"code": "InternalServerError", "message": "An internal error occurred."}})

    if inspect.iscoroutinefunction(handler):
        @functools.wraps(handler)
        async def async_wrapper(*args: Any, **kwargs: Any) -> func.HttpResponse:
            try:
                return await handler(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - the boundary: every error becomes an answer
                return answer(error)

        return async_wrapper

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> func.HttpResponse:
        try:
            return handler(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - the boundary: every error becomes an answer
            return answer(error)

    return wrapper
