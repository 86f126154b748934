"""Who may call a process's loopback RPC listener: the processes of its hub and its own client SDK, nobody else.

Loopback binding alone keeps other machines out, but not other local programs, nor a browser page whose name
was rebound to 127.0.0.1 (DNS rebinding). So every RPC request must
- name a loopback address, `localhost` or the configured host in its `Host` header (a rebinding page's
  request carries the page's own name, e.g. `Host: evil.example`), and
- present the hub's RPC secret as the password of HTTP basic auth. The client SDK gets it inside its
  `rpcBaseUrl` (`http://devhost:SECRET@127.0.0.1:PORT/durabletask/`; aiohttp turns URL credentials into
  the Authorization header); forwarding processes send it the same way.

The secret: `DEVHOST_RPC_SECRET` when set (`devhost start --processes N`: the supervisor draws a random one
per start and hands it to its workers through their environment; a worker removes it from its environment at
once, so neither app code nor child processes inherit it). Otherwise it is derived from the host's master key
(HMAC), so separately started hosts of one app sharing a task hub still accept each other's forwarded
requests while nobody without the app's keys can make one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import os
import secrets

import aiohttp
from aiohttp import web

SECRET_ENV = "DEVHOST_RPC_SECRET"
USER = "devhost"
FORWARDED_HOST_HEADER = "x-devhost-forwarded-host"  # the Host the original client used (for the URLs)
BODY_LIMIT = 16 * 1024 * 1024  # far above anything the engine stores (240,000-character inputs), far below memory
_DERIVATION_LABEL = b"devhost durable rpc secret v1"
_LOCAL_NAMES = frozenset({"localhost", "localhost."})
_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def take_secret(master_key: str | None) -> str:
    """This process's RPC secret (see the module docstring); the environment variable is consumed."""
    given = os.environ.pop(SECRET_ENV, None)
    if given:
        return given
    if master_key:
        return hmac.new(master_key.encode(), _DERIVATION_LABEL, hashlib.sha256).hexdigest()
    return new_secret()


def client_auth(secret: str) -> aiohttp.BasicAuth:
    return aiohttp.BasicAuth(USER, secret)


def with_credentials(base_url: str, secret: str) -> str:
    """`http://127.0.0.1:P/x/` -> `http://devhost:SECRET@127.0.0.1:P/x/` (the secret is URL-safe base64)."""
    scheme, rest = base_url.split("://", 1)
    return f"{scheme}://{USER}:{secret}@{rest}"


def presents_secret(request: web.BaseRequest, secret: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    _, _, password = decoded.partition(":")
    return hmac.compare_digest(password.encode(), secret.encode())


def host_name(host_header: str) -> str:
    """The name in a Host header, port and IPv6 brackets removed, lowercased."""
    text = host_header.strip().lower()
    if text.startswith("["):
        return text[1:text.find("]")] if "]" in text else text
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def allowed_host(host_header: str | None, configured: str) -> bool:
    """A loopback address, `localhost`, or the host the listener was configured with (not a wildcard)."""
    if not host_header:
        return False
    name = host_name(host_header)
    if name in _LOCAL_NAMES:
        return True
    if configured.strip().lower() not in _WILDCARDS and name == host_name(configured):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
