"""Typed errors of the service, each carrying its ARM error shape; mapped to HTTP in one place (api)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error a client is told about: `{"error": {"code", "message", "target"}}` with `status`."""

    status = 400

    def __init__(self, code: str, message: str, target: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.target = target

    def to_body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target is not None:
            error["target"] = self.target
        return {"error": error}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, target={self.target!r})"


class ValidationError(ApiError):
    """Bad input: 400. Nothing is persisted and nothing is started."""

    status = 400


class ResourceNotFoundError(ApiError):
    status = 404

    def __init__(self, message: str, target: str | None = None):
        super().__init__("ResourceNotFound", message, target)


class UnsupportedMediaTypeError(ApiError):
    """A request body that is not declared as JSON: 415, like ARM."""

    status = 415

    def __init__(self, message: str):
        super().__init__("UnsupportedMediaType", message)


class ConflictError(ApiError):
    status = 409


class PreconditionFailedError(ApiError):
    """An ETag precondition (If-Match / concurrent writer) did not hold."""

    status = 412
