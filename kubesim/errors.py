"""apiserver-shaped failures: one exception type carrying a `Status`, built by the helpers below.

Messages copy the apiserver's wording, since clients and people match on them
(`configmaps "x" not found`, `the object has been modified; ...`).
"""

from __future__ import annotations

from typing import Any


class StatusError(Exception):
    """A request failure rendered as a `kind: Status` object with `code` as the HTTP status."""

    def __init__(self, code: int, reason: str, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": self.message, "reason": self.reason}
        if self.details:
            body["details"] = self.details
        body["code"] = self.code
        return body


def qualified(group: str, plural: str) -> str:
    """`deployments.apps`, or `configmaps` for the core group, as apiserver messages name resources."""
    return f"{plural}.{group}" if group else plural


def _details(group: str, plural: str, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = plural
    return details


def not_found(group: str, plural: str, name: str) -> StatusError:
    return StatusError(404, "NotFound", f'{qualified(group, plural)} "{name}" not found',
                       details=_details(group, plural, name))


def already_exists(group: str, plural: str, name: str) -> StatusError:
    return StatusError(409, "AlreadyExists", f'{qualified(group, plural)} "{name}" already exists',
                       details=_details(group, plural, name))


def conflict(group: str, plural: str, name: str, why: str) -> StatusError:
    return StatusError(409, "Conflict", f'Operation cannot be fulfilled on {qualified(group, plural)} "{name}": {why}',
                       details=_details(group, plural, name))


def stale(group: str, plural: str, name: str) -> StatusError:
    return conflict(group, plural, name,
                    "the object has been modified; please apply your changes to the latest version and try again")


def forbidden(group: str, plural: str, name: str, why: str) -> StatusError:
    return StatusError(403, "Forbidden", f'{qualified(group, plural)} "{name}" is forbidden: {why}',
                       details=_details(group, plural, name))


def invalid(*, group: str, kind: str, name: str, causes: list[tuple[str, str]]) -> StatusError:
    """422 with one cause per (field, message), the message joined as the apiserver does."""
    what = f"{kind}.{group}" if group else kind
    parts = [f"{field}: {message}" for field, message in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [{"reason": _cause_reason(message), "message": message, "field": field}
                         for field, message in causes]
    return StatusError(422, "Invalid", f'{what} "{name}" is invalid: {joined}', details=details)


def _cause_reason(message: str) -> str:
    for prefix, reason in (("Required value", "FieldValueRequired"), ("Invalid value", "FieldValueInvalid"),
                           ("Unsupported value", "FieldValueNotSupported"), ("Forbidden", "FieldValueForbidden"),
                           ("Duplicate value", "FieldValueDuplicate"), ("Too long", "FieldValueTooLong")):
        if message.startswith(prefix):
            return reason
    return "FieldValueInvalid"


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def gone(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def method_not_allowed() -> StatusError:
    return StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def unsupported_media_type(content_type: str, accepted: list[str]) -> StatusError:
    return StatusError(415, "UnsupportedMediaType",
                       f'the body of the request was in an unknown format - accepted media types include: '
                       f'{", ".join(accepted)}' if content_type else "the request has no Content-Type")


def not_acceptable(accepted: list[str]) -> StatusError:
    return StatusError(406, "NotAcceptable",
                       f"only the following media types are accepted: {', '.join(accepted)}")


def unauthorized() -> StatusError:
    return StatusError(401, "Unauthorized", "Unauthorized")


def path_not_found(path: str) -> StatusError:
    return StatusError(404, "NotFound", "the server could not find the requested resource",
                       details={"causes": [{"reason": "UnexpectedServerResponse", "message": f"404 page not found: {path}"}]})
