"""What a registered kubeconfig may hold, and the one reading of it that the service trusts.

A kubeconfig is a program for the Kubernetes client as much as data: `exec` and `auth-provider` run
commands, `tokenFile` and the path fields read files, `proxy-url` sends the traffic elsewhere. Nothing a
user registers may run or read anything on the service's machine (SPEC §2), so a kubeconfig is checked
against an allow-list at registration and again each time it is loaded (rows stored before the rule
included), and the client is built from the vetted fields only (shared/kube.py), never by a loader.

Allowed, every other key being refused with its path named (`users[0].user.exec`):
- top level: `apiVersion`, `kind`, `clusters`, `contexts`, `users`, `current-context`, `preferences`
  and `extensions` (the last two are data the client ignores);
- `clusters[i]`: `name`, `cluster` with `server` (https), `certificate-authority-data`,
  `insecure-skip-tls-verify`, `extensions`;
- `users[i]`: `name`, `user` with `token`, `username` + `password`, `client-certificate-data` +
  `client-key-data`, `extensions`;
- `contexts[i]`: `name`, `context` with `cluster`, `user`, `namespace`, `extensions`.
So `tls-server-name`, `disable-compression` and impersonation (`as`...) are refused too: the rule is
"only what is listed", not "everything but what is known to be dangerous".
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from shared import safe_yaml

MAX_KUBECONFIG_CHARS = 384 * 1024  # the decoded text of the API's 512 KiB of base64

_TOP_LEVEL = {"apiVersion", "kind", "clusters", "contexts", "users", "current-context", "preferences",
              "extensions"}
_SECTIONS = {
    "clusters": ("cluster", {"server", "certificate-authority-data", "insecure-skip-tls-verify", "extensions"}),
    "users": ("user", {"token", "username", "password", "client-certificate-data", "client-key-data",
                       "extensions"}),
    "contexts": ("context", {"cluster", "user", "namespace", "extensions"}),
}


class KubeconfigRefused(ValueError):
    """The kubeconfig breaks the rule; the message names the field and holds no secret value."""


@dataclass(frozen=True, repr=False)
class ClusterCredentials:
    """The vetted connection of a kubeconfig's current context: all the service uses of it."""

    server: str
    ca_pem: bytes | None
    insecure: bool
    token: str | None
    username: str | None
    password: str | None
    client_certificate_pem: bytes | None
    client_key_pem: bytes | None

    def __repr__(self) -> str:
        return f"ClusterCredentials(server={self.server!r})"  # NB: never the secrets


def vet_kubeconfig(text: str) -> ClusterCredentials:
    """The credentials of `text`'s current context, or `KubeconfigRefused` naming what breaks the rule."""
    document = _parse(text)
    _refuse_unknown(document, _TOP_LEVEL, "")
    if document.get("preferences") is not None and not isinstance(document["preferences"], dict):
        raise KubeconfigRefused("preferences must be a mapping")
    entries = {section: _section(document, section) for section in _SECTIONS}
    if not entries["clusters"]:
        raise KubeconfigRefused("'clusters' must be a non-empty list")
    context_name, context = _current_context(document, entries["contexts"])
    cluster_name = context.get("cluster")
    if cluster_name not in entries["clusters"]:
        raise KubeconfigRefused(f"context '{context_name}' names no cluster of 'clusters' (context.cluster)")
    user_name = context.get("user")
    if user_name is not None and user_name not in entries["users"]:
        raise KubeconfigRefused(f"context '{context_name}' names no user of 'users' (context.user)")
    cluster_path, cluster = entries["clusters"][cluster_name]
    user_path, user = entries["users"][user_name] if user_name is not None else ("users[]", {})
    _check_user(user, user_path)
    return ClusterCredentials(
        server=_server(cluster, f"{cluster_path}.server"),
        ca_pem=_ca(cluster, cluster_path),
        insecure=_insecure(cluster, cluster_path),
        token=_text(user, "token", user_path),
        username=_text(user, "username", user_path),
        password=_text(user, "password", user_path),
        client_certificate_pem=_certificate(user, "client-certificate-data", user_path),
        client_key_pem=_key(user, user_path),
    )


def server_identity(text: str) -> tuple[str, str] | None:
    """(server, CA) of the current context, however bad the rest is; None when there is none to read.

    Why: a re-registration may not move a cluster's configurations (and so their credentials) to
    another API server; rows stored before the allow-list must be comparable too.
    """
    try:
        document = _parse(text)
        contexts = {c["name"]: c.get("context") or {} for c in document.get("contexts") or []}
        name = document.get("current-context") or (next(iter(contexts)) if len(contexts) == 1 else None)
        clusters = {c["name"]: c.get("cluster") or {} for c in document.get("clusters") or []}
        cluster = clusters[contexts[name]["cluster"]]
        ca = cluster.get("certificate-authority-data") or cluster.get("certificate-authority") or ""
        return str(cluster["server"]).rstrip("/"), "".join(str(ca).split())
    except (KubeconfigRefused, KeyError, TypeError, AttributeError):
        return None


def _refuse_unknown(mapping: dict[str, Any], allowed: set[str], path: str, hint: str = "") -> None:
    unknown = sorted(set(mapping) - allowed, key=str)
    if unknown:
        raise KubeconfigRefused(f"{path}{unknown[0]} is not allowed in a kubeconfig{hint}")


def _parse(text: str) -> dict[str, Any]:
    try:
        document = safe_yaml.load(text, max_chars=MAX_KUBECONFIG_CHARS)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or "not valid YAML"
        mark = getattr(error, "problem_mark", None)
        raise KubeconfigRefused(f"{problem}" + (f" (line {mark.line + 1})" if mark else "")) from None
    if not isinstance(document, dict):
        raise KubeconfigRefused("expected a YAML mapping with a non-empty 'clusters' list")
    return document


def _section(document: dict[str, Any], section: str) -> dict[Any, tuple[str, dict[str, Any]]]:
    """name -> (path, body) of one of clusters/users/contexts, every key checked against the allow-list."""
    items = document.get(section)
    if items is None:
        return {}
    if not isinstance(items, list):
        raise KubeconfigRefused(f"'{section}' must be a list")
    body_key, allowed = _SECTIONS[section]
    found: dict[Any, tuple[str, dict[str, Any]]] = {}
    for index, item in enumerate(items):
        path = f"{section}[{index}]"
        if not isinstance(item, dict):
            raise KubeconfigRefused(f"{path} must be a mapping")
        _refuse_unknown(item, {"name", body_key}, f"{path}.")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise KubeconfigRefused(f"{path}.name must be a non-empty string")
        if name in found:
            raise KubeconfigRefused(f"{path}.name '{name}' is given twice")
        body = item.get(body_key)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise KubeconfigRefused(f"{path}.{body_key} must be a mapping")
        _refuse_unknown(body, allowed, f"{path}.{body_key}.", ": only inline material is (SPEC §2)")
        found[name] = (f"{path}.{body_key}", body)
    return found


def _current_context(document: dict[str, Any], contexts: dict[Any, tuple[str, dict[str, Any]]]
                     ) -> tuple[str, dict[str, Any]]:
    name = document.get("current-context")
    if name in (None, ""):
        if len(contexts) != 1:
            raise KubeconfigRefused("'current-context' is required unless there is exactly one context")
        name = next(iter(contexts))
    if name not in contexts:
        raise KubeconfigRefused("'current-context' names no context of 'contexts'")
    return name, contexts[name][1]


def _server(cluster: dict[str, Any], path: str) -> str:
    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise KubeconfigRefused(f"{path} is required")
    try:
        parts = urlsplit(server)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise KubeconfigRefused(f"{path} is not a URL") from None
    if parts.scheme.lower() != "https":
        raise KubeconfigRefused(f"{path} must be an https URL")
    if not parts.hostname or parts.username is not None or parts.query or parts.fragment:
        raise KubeconfigRefused(f"{path} must be https://host[:port][/path], without user, query or fragment")
    return server.rstrip("/")


def _insecure(cluster: dict[str, Any], path: str) -> bool:
    insecure = cluster.get("insecure-skip-tls-verify", False)
    if not isinstance(insecure, bool):
        raise KubeconfigRefused(f"{path}.insecure-skip-tls-verify must be true or false")
    if insecure and cluster.get("certificate-authority-data"):
        raise KubeconfigRefused(f"{path}.insecure-skip-tls-verify cannot be given with certificate-authority-data")
    return insecure


def _text(body: dict[str, Any], key: str, path: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise KubeconfigRefused(f"{path}.{key} must be a non-empty string")
    return value


def _decode(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise KubeconfigRefused(f"{path} must be a base64 string")
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise KubeconfigRefused(f"{path} is not valid base64") from None


def _certificate(body: dict[str, Any], key: str, path: str) -> bytes | None:
    if body.get(key) is None:
        return None
    pem = _decode(body[key], f"{path}.{key}")
    try:
        x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise KubeconfigRefused(f"{path}.{key} is not base64 of PEM certificates") from None
    return pem


def _ca(cluster: dict[str, Any], path: str) -> bytes | None:
    return _certificate(cluster, "certificate-authority-data", path)


def _key(user: dict[str, Any], path: str) -> bytes | None:
    if user.get("client-key-data") is None:
        return None
    pem = _decode(user["client-key-data"], f"{path}.client-key-data")
    try:
        serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise KubeconfigRefused(f"{path}.client-key-data is not base64 of an unencrypted PEM private key") from None
    except Exception:  # noqa: BLE001 - cryptography raises UnsupportedAlgorithm for odd keys
        raise KubeconfigRefused(f"{path}.client-key-data is not a supported private key") from None
    return pem


def _check_user(user: dict[str, Any], path: str) -> None:
    """The user's fields make one way to authenticate (kubectl's rule: token or basic auth, not both)."""
    if ("username" in user) != ("password" in user):
        raise KubeconfigRefused(f"{path}.username and {path}.password go together")
    if "token" in user and "username" in user:
        raise KubeconfigRefused(f"{path} has both token and username/password; give one")
    if ("client-certificate-data" in user) != ("client-key-data" in user):
        raise KubeconfigRefused(f"{path}.client-certificate-data and {path}.client-key-data go together")
