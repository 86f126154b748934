"""Parsing the SSH material a client sends: private keys and known_hosts contents.

Flux v1 hands both to the OpenSSH client inside its container, so a key or a known_hosts line
that OpenSSH would refuse must be refused here, at PUT time, instead of surfacing minutes later
as a Failed compliance state. Parsing is done with `cryptography` (no paramiko / pycryptodome,
which the az CLI uses for the same checks).

This module knows nothing about HTTP or error codes: it raises the small exceptions below and
`shared.validation` turns them into the CLI's messages.
"""

from __future__ import annotations

import base64
import binascii
import re
import warnings
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
    load_ssh_private_key,
    load_ssh_public_key,
)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | dsa.DSAPrivateKey | ed25519.Ed25519PrivateKey

# NB: OpenSSH signs with ECDSA only on the NIST curves; a PEM "EC PRIVATE KEY" on any other curve
# (secp256k1, brainpool...) parses fine but can never authenticate, so it counts as invalid.
SSH_ECDSA_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})

_OPENSSH_PRIVATE_KEY_MARKER = b"-----BEGIN OPENSSH PRIVATE KEY-----"

KNOWN_HOSTS_MARKERS = frozenset({"@cert-authority", "@revoked"})
KNOWN_HOSTS_KEY_TYPES = frozenset({
    "ssh-rsa",
    "ssh-dss",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
})
_HOST_PATTERN = re.compile(r"!?[A-Za-z0-9*?._:%-]+")
_BRACKETED_HOST_PATTERN = re.compile(r"!?\[(?P<host>[A-Za-z0-9*?._:%-]+)\]:(?P<port>[0-9]{1,5})")
_HASHED_HOST_PREFIX = "|1|"
_SHA1_LENGTH = 20


class InvalidKeyError(ValueError):
    """Not a PEM / OpenSSH private key of type RSA, ECDSA, DSA or Ed25519."""


class EncryptedKeyError(ValueError):
    """A private key protected by a passphrase: Flux v1 cannot unlock it."""


class KnownHostsError(ValueError):
    """A known_hosts line that sshd(8)'s format does not allow; `line_number` is 1-based."""

    def __init__(self, line_number: int, reason: str):
        super().__init__(f"line {line_number}: {reason}")
        self.line_number = line_number
        self.reason = reason


@dataclass(frozen=True)
class KnownHostsEntry:
    marker: str | None          # "@cert-authority" / "@revoked" / None
    hosts: tuple[str, ...]      # patterns as written: "github.com", "[10.0.0.1]:2222", "|1|salt|hash"
    key_type: str               # "ssh-ed25519", ...
    key_blob: str               # base64 of the public key blob


def load_private_key(data: bytes) -> PrivateKey:
    """The unencrypted private key in `data` (PEM: PKCS#1, PKCS#8, SEC1, DSA; or OpenSSH format)."""
    try:
        with warnings.catch_warnings():
            # NB: cryptography warns that SSH DSA support is deprecated; DSA is still accepted here.
            warnings.simplefilter("ignore")
            if _OPENSSH_PRIVATE_KEY_MARKER in data:
                key = load_ssh_private_key(data, password=None)
            else:
                key = load_pem_private_key(data, password=None)
    except TypeError as error:
        # cryptography's way of saying "this key needs a password".
        raise EncryptedKeyError(str(error)) from error
    except (ValueError, UnsupportedAlgorithm) as error:
        raise InvalidKeyError(str(error)) from error
    except Exception as error:  # NB: OpenSSL internals may fail in other ways on crafted input.
        raise InvalidKeyError(f"unreadable key ({type(error).__name__})") from error
    return _require_ssh_key_type(key)


def _require_ssh_key_type(key: object) -> PrivateKey:
    if isinstance(key, (rsa.RSAPrivateKey, dsa.DSAPrivateKey, ed25519.Ed25519PrivateKey)):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in SSH_ECDSA_CURVES:
        return key
    raise InvalidKeyError(f"{type(key).__name__} is not an SSH key type (RSA, ECDSA, DSA, Ed25519)")


def parse_known_hosts(text: str) -> list[KnownHostsEntry]:
    """Every entry of a known_hosts file; blank lines and `#` comments are skipped.

    A line is `[marker] hostpatterns keytype base64-key [comment]`, as sshd(8) describes it. The
    key blob must parse and must carry the key type the line names.
    """
    entries = []
    for number, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.strip(" \t\r")
        if not line or line.startswith("#"):
            continue
        entries.append(_parse_known_hosts_line(line, number))
    return entries


def _parse_known_hosts_line(line: str, number: int) -> KnownHostsEntry:
    fields = line.split()
    marker = None
    if fields[0].startswith("@"):
        marker = fields.pop(0)
        if marker not in KNOWN_HOSTS_MARKERS:
            raise KnownHostsError(number, f"unknown marker {marker!r}")
    if len(fields) < 3:
        raise KnownHostsError(number, "expected host patterns, a key type and a base64 key")
    host_field, key_type, key_blob = fields[0], fields[1], fields[2]
    hosts = _parse_host_patterns(host_field, number)
    _check_public_key(key_type, key_blob, number)
    return KnownHostsEntry(marker=marker, hosts=hosts, key_type=key_type, key_blob=key_blob)


def _parse_host_patterns(field: str, number: int) -> tuple[str, ...]:
    if field.startswith(_HASHED_HOST_PREFIX):
        _check_hashed_host(field, number)
        return (field,)
    patterns = tuple(field.split(","))
    for pattern in patterns:
        if not _is_host_pattern(pattern):
            raise KnownHostsError(number, f"invalid host pattern {pattern!r}")
    return patterns


def _is_host_pattern(pattern: str) -> bool:
    bracketed = _BRACKETED_HOST_PATTERN.fullmatch(pattern)
    if bracketed:
        return 0 < int(bracketed["port"]) <= 65535
    return _HOST_PATTERN.fullmatch(pattern) is not None


def _check_hashed_host(field: str, number: int) -> None:
    """`|1|base64(salt)|base64(HMAC-SHA1(salt, host))`, both 20 bytes, as ssh-keygen -H writes."""
    parts = field[len(_HASHED_HOST_PREFIX):].split("|")
    if len(parts) != 2 or any(len(_decode_base64_or_empty(part)) != _SHA1_LENGTH for part in parts):
        raise KnownHostsError(number, "invalid hashed host name")


def _check_public_key(key_type: str, key_blob: str, number: int) -> None:
    if key_type not in KNOWN_HOSTS_KEY_TYPES:
        raise KnownHostsError(number, f"unsupported key type {key_type!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # NB: load_ssh_public_key checks that the type inside the blob matches `key_type`.
            load_ssh_public_key(f"{key_type} {key_blob}".encode("ascii"))
    except Exception as error:  # NB: mostly ValueError / UnsupportedAlgorithm; crafted blobs raise others.
        raise KnownHostsError(number, f"invalid {key_type} key") from error


def _decode_base64_or_empty(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""
