"""Entity-group transactions written and read by hand, sent through the table client's own pipeline.

Why: every orchestrator step commits one transaction, and azure-data-tables builds its multipart body with
the `email` package (a generator, header registry and policy objects per sub-request) and parses the
answer with the `email` parser. The bench profile put that at ~20% of the host's CPU on the create path
(bench/README.md). The wire format is small and fixed (the Table service's OData batch: one changeset of
application/http parts), so it is written here as text; entities are still serialized by the SDK's own
`_add_entity_properties` (EDM types), and the request still goes through the client's pipeline (shared
key signing, retries, the request-counting hook), so nothing else changes.

Operations are the SDK's tuples: ("create" | "upsert" | "update" | "delete", entity[, {"mode", "etag",
"match_condition"}]), with `mode` REPLACE (MERGE is not used by the store). The result is one dict per
operation with its "etag", as `TableClient.submit_transaction` returns.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.data.tables import UpdateMode
from azure.data.tables._serialize import _add_entity_properties
from azure.data.tables.aio import TableClient

_STATUS_LINE = re.compile(r"^HTTP/1\.[01] (\d{3})", re.MULTILINE)
_BOUNDARY = re.compile(r'boundary="?([^";\r\n]+)"?')


class BatchRejected(Exception):
    """The service refused the transaction (nothing of it was applied): status, error code and message."""

    def __init__(self, status_code: int, error_code: str, message: str) -> None:
        super().__init__(f"{status_code} {error_code}: {message}")
        self.status_code = status_code
        self.error_code = error_code
        self.message = message


def _key_path(table: str, entity: dict[str, Any]) -> str:
    def key(value: str) -> str:
        return quote(value.replace("'", "''"), safe="")

    return f"{table}(PartitionKey='{key(entity['PartitionKey'])}',RowKey='{key(entity['RowKey'])}')"


def _sub_request(base: str, table: str, op: tuple[Any, ...]) -> tuple[str, dict[str, str], str]:
    kind, entity = op[0], op[1]
    options: dict[str, Any] = op[2] if len(op) > 2 else {}
    if options.get("mode", UpdateMode.REPLACE) != UpdateMode.REPLACE:
        raise ValueError("table_batch writes REPLACE operations only")
    headers: dict[str, str] = {}
    body = ""
    if kind == "create":
        line = f"POST {base}/{table} HTTP/1.1"
    elif kind in ("upsert", "update"):
        line = f"PUT {base}/{_key_path(table, entity)} HTTP/1.1"
    elif kind == "delete":
        line = f"DELETE {base}/{_key_path(table, entity)} HTTP/1.1"
    else:
        raise ValueError(f"unknown transaction operation {kind!r}")
    if kind == "update":
        condition = options.get("match_condition")
        etag = options.get("etag")
        headers["If-Match"] = etag if condition == MatchConditions.IfNotModified and etag else "*"
    elif kind == "delete":
        headers["If-Match"] = options.get("etag") or "*"
    if kind != "delete":
        body = json.dumps(_add_entity_properties(entity))
        headers["Content-Type"] = "application/json"
        headers["Prefer"] = "return-no-content"
    return line, headers, body


def build_body(base: str, table: str, ops: Sequence[tuple[Any, ...]], batch: str, changeset: str) -> bytes:
    lines = [f"--{batch}", f"Content-Type: multipart/mixed; boundary={changeset}", ""]
    for index, op in enumerate(ops):
        line, headers, body = _sub_request(base, table, op)
        encoded = body.encode("utf-8")
        lines += [f"--{changeset}", "Content-Type: application/http", "Content-Transfer-Encoding: binary",
                  f"Content-ID: {index}", "", line, "Accept: application/json;odata=minimalmetadata",
                  "DataServiceVersion: 3.0"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body:
            lines.append(f"Content-Length: {len(encoded)}")
        lines += ["", body]
    lines += [f"--{changeset}--", "", f"--{batch}--", ""]
    return "\r\n".join(lines).encode("utf-8")


def _parts(text: str) -> list[str]:
    """The application/http parts of a batch answer (the changeset's, or the batch's own on a failure)."""
    found = _BOUNDARY.findall(text)
    boundary = found[-1] if found else None
    if boundary is None:
        return [text]
    return [part for part in text.split(f"--{boundary}")[1:] if _STATUS_LINE.search(part)]


def _part_headers_and_body(part: str) -> tuple[int, dict[str, str], str]:
    match = _STATUS_LINE.search(part)
    assert match is not None
    head, _, body = part[match.end():].replace("\r\n", "\n").partition("\n\n")
    headers: dict[str, str] = {}
    for raw in head.splitlines():
        name, sep, value = raw.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(match.group(1)), headers, body


def _rejection(status: int, body: str) -> BatchRejected:
    code, message = "", body.strip()[:500]
    try:
        error = json.loads(body)["odata.error"]
        code = str(error.get("code") or "")
        message = str((error.get("message") or {}).get("value") or message)
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return BatchRejected(status, code, message)


def parse_answer(text: str, count: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for part in _parts(text):
        status, headers, body = _part_headers_and_body(part)
        if not 200 <= status < 300:
            raise _rejection(status, body)
        results.append({"etag": headers.get("etag")})
    if len(results) != count:
        raise BatchRejected(500, "UnexpectedAnswer", f"{len(results)} answers to {count} operations")
    return results


async def submit_transaction(client: TableClient, ops: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Apply `ops` (one partition) atomically; `BatchRejected` when the service refused them."""
    base = f"{client.scheme}://{client._primary_hostname}"  # NB: private: the account base, as the SDK builds it
    batch, changeset = f"batch_{uuid.uuid4()}", f"changeset_{uuid.uuid4()}"
    body = build_body(base, client.table_name, ops, batch, changeset)
    request = HttpRequest("POST", f"{base}/$batch", content=body, headers={
        "x-ms-version": client.api_version, "DataServiceVersion": "3.0", "MaxDataServiceVersion": "3.0;NetFx",
        "Content-Type": f"multipart/mixed; boundary={batch}", "Accept": "application/json"})
    response = await client._client.send_request(request, stream=True)  # NB: the client pipeline: auth, retries
    text = (await response.read()).decode("utf-8", errors="replace")
    if response.status_code == 202:
        return parse_answer(text, len(ops))
    if response.status_code >= 500:
        raise HttpResponseError(message=f"table batch failed: {response.status_code} {text[:300]}",
                                response=response)
    status, _, part_body = _part_headers_and_body(text) if _STATUS_LINE.search(text) else (
        response.status_code, {}, text)
    raise _rejection(status, part_body)
