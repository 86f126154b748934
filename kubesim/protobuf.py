"""Decoding `application/vnd.kubernetes.protobuf` request bodies into JSON objects.

Why: kubectl's typed clients (`kubectl create namespace|configmap|secret|deployment|...`) always
send protobuf for built-in kinds, whatever the server answers, so an emulator must read it. The body
is the `k8s\\x00` magic, then a `runtime.Unknown` envelope {typeMeta{apiVersion, kind}, raw} whose
`raw` is the object's own message. The message shapes come from `protoschema.py`. Responses are
always JSON, which every Kubernetes client accepts.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import struct
from typing import Any

from kubesim import errors
from kubesim.protoschema import MESSAGES, Field

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
# gogo-protobuf writes every non-pointer scalar, zero or not, where JSON would omit it (`omitempty`).
# Zeros are dropped, except for these pointer fields whose 0 / false is a choice the client made.
MEANINGFUL_ZERO = frozenset({
    "replicas", "revisionHistoryLimit", "progressDeadlineSeconds", "terminationGracePeriodSeconds",
    "activeDeadlineSeconds", "automountServiceAccountToken", "shareProcessNamespace", "enableServiceLinks",
    "setHostnameAsFQDN", "hostUsers", "runAsUser", "runAsGroup", "runAsNonRoot", "fsGroup", "privileged",
    "readOnlyRootFilesystem", "allowPrivilegeEscalation", "immutable", "defaultMode", "optional", "mode",
    "allocateLoadBalancerNodePorts", "deletionGracePeriodSeconds", "priority", "supplementalGroups",
})


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, raw value) in wire order."""
    out, pos = [], 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _signed(value: int, bits: int) -> int:
    value &= (1 << 64) - 1
    if value >= 1 << 63:
        value -= 1 << 64
    return value if bits == 64 else int(struct.unpack("<i", struct.pack("<I", value & 0xFFFFFFFF))[0])


def _scalar(typ: str, wire: int, raw: Any) -> Any:
    if typ == "string":
        return bytes(raw).decode("utf-8")
    if typ == "bytes":
        return base64.b64encode(bytes(raw)).decode()
    if typ == "bool":
        return bool(raw)
    if typ in ("int64", "uint64"):
        return _signed(raw, 64) if typ == "int64" else raw
    if typ in ("int32", "uint32"):
        return _signed(raw, 32) if typ == "int32" else raw
    if typ == "double":
        return struct.unpack("<d", raw)[0]
    if typ == "float":
        return struct.unpack("<f", raw)[0]
    raise ValueError(f"unknown scalar type {typ}")


def _packed(typ: str, raw: bytes) -> list[Any]:
    values, pos = [], 0
    while pos < len(raw):
        if typ == "double":
            values.append(struct.unpack("<d", raw[pos:pos + 8])[0])
            pos += 8
        else:
            value, pos = _varint(raw, pos)
            values.append(_scalar(typ, 0, value))
    return values


def _special(typ: str, raw: bytes) -> Any:
    parts = {number: value for number, _wire, value in _fields(raw)}
    if typ == "time":
        seconds = _signed(parts.get(1, 0), 64)
        if not seconds:
            return None
        return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if typ == "duration":
        return f"{_signed(parts.get(1, 0), 64) / 1e9:g}s"
    if typ == "quantity":
        return bytes(parts.get(1, b"")).decode()
    if typ == "intstr":
        if parts.get(1, 0) == 1:
            return bytes(parts.get(3, b"")).decode()
        return _signed(parts.get(2, 0), 32)
    if typ == "raw":
        text = bytes(parts.get(1, b""))
        return json.loads(text) if text else None
    raise ValueError(f"unknown special type {typ}")


def _value(field: Field, wire: int, raw: Any) -> Any:
    if field.type in MESSAGES:
        return decode_message(field.type, bytes(raw))
    if field.type in ("time", "duration", "quantity", "intstr", "raw"):
        return _special(field.type, bytes(raw))
    return _scalar(field.type, wire, raw)


def _map_entry(field: Field, raw: bytes) -> tuple[str, Any]:
    key, value = "", None
    value_field = Field(2, field.name, field.type)
    for number, wire, item in _fields(raw):
        if number == 1:
            key = bytes(item).decode()
        elif number == 2:
            value = _value(value_field, wire, item)
    if value is None:
        value = {} if field.type in MESSAGES else "" if field.type in ("string", "bytes", "quantity") else value
    return key, value


def decode_message(message: str, data: bytes) -> dict[str, Any]:
    """One message as JSON. NB: gogo-protobuf writes empty strings and zeros for unset fields; they are
    dropped (as `omitempty` would), while empty nested messages are kept (`emptyDir: {}` means something)."""
    schema = MESSAGES[message]
    out: dict[str, Any] = {}
    for number, wire, raw in _fields(data):
        field = schema.get(number)
        if field is None:
            continue  # newer than this schema: ignored, as an older apiserver would
        if field.map:
            key, value = _map_entry(field, bytes(raw))
            out.setdefault(field.name, {})[key] = value
        elif field.repeated:
            if wire == 2 and field.type in ("int32", "int64", "uint32", "uint64", "bool", "double"):
                out.setdefault(field.name, []).extend(_packed(field.type, bytes(raw)))
            else:
                out.setdefault(field.name, []).append(_value(field, wire, raw))
        else:
            value = _value(field, wire, raw)
            if value is None or value == "":
                continue
            if field.type in ("bool", "int32", "int64", "uint32", "uint64", "double", "float") and not value \
                    and field.name not in MEANINGFUL_ZERO:
                continue
            out[field.name] = value
    return out


def decode_body(body: bytes, *, expected_kind: str) -> dict[str, Any]:
    """A whole request body: magic, `runtime.Unknown` envelope, then the object of `expected_kind`."""
    if not body.startswith(MAGIC):
        raise errors.bad_request("protobuf body does not start with the Kubernetes magic number")
    try:
        envelope = {number: value for number, _wire, value in _fields(body[len(MAGIC):])}
        type_meta = {number: bytes(value).decode() for number, _wire, value in _fields(bytes(envelope.get(1, b"")))}
        api_version, kind = type_meta.get(1, ""), type_meta.get(2, "") or expected_kind
        if kind not in MESSAGES:
            raise errors.unsupported_media_type(CONTENT_TYPE, ["application/json", "application/yaml"])
        obj = decode_message(kind, bytes(envelope.get(2, b"")))
    except (ValueError, UnicodeDecodeError, struct.error) as exc:
        raise errors.bad_request(f"unable to decode protobuf body: {exc}") from None
    return {"apiVersion": api_version, "kind": kind, **obj}
