"""host.json: the host's own configuration, with the real host's environment overrides.

Like the real host, any host.json value can be overridden by an app setting named
`AzureFunctionsJobHost__<path>__<to>__<key>` (e.g. `AzureFunctionsJobHost__extensions__http__routePrefix`).
Keys are matched case-insensitively, as .NET configuration does.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("devhost.hostconfig")

HOST_JSON = "host.json"
OVERRIDE_PREFIX = "AzureFunctionsJobHost__"
DEFAULT_ROUTE_PREFIX = "api"

# host.json logLevel names (Microsoft.Extensions.Logging) -> Python logging levels.
LOG_LEVELS = {
    "trace": logging.DEBUG, "debug": logging.DEBUG, "information": logging.INFO,
    "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL,
    "none": logging.CRITICAL + 10,
}


class HostConfigError(Exception):
    pass


def lookup(section: Mapping[str, Any] | None, *path: str, default: Any = None) -> Any:
    """Case-insensitive nested lookup: `lookup(raw, "extensions", "http", "routePrefix")`."""
    node: Any = section
    for key in path:
        if not isinstance(node, Mapping):
            return default
        match = next((k for k in node if k.lower() == key.lower()), None)
        if match is None:
            return default
        node = node[match]
    return node


@dataclass(frozen=True)
class HostConfig:
    raw: Mapping[str, Any]

    def get(self, *path: str, default: Any = None) -> Any:
        return lookup(self.raw, *path, default=default)

    @property
    def route_prefix(self) -> str:
        """`extensions.http.routePrefix`, default `api`; an empty string means no prefix."""
        value = self.get("extensions", "http", "routePrefix")
        if value is None:
            return DEFAULT_ROUTE_PREFIX
        return str(value).strip().strip("/")

    @property
    def log_level(self) -> int:
        name = self.get("logging", "logLevel", "default", default="Information")
        return LOG_LEVELS.get(str(name).lower(), logging.INFO)

    @property
    def function_log_level(self) -> int:
        """`logging.logLevel.Function` if set, else the default level."""
        name = self.get("logging", "logLevel", "Function")
        return LOG_LEVELS.get(str(name).lower(), self.log_level) if name is not None else self.log_level


def apply_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Apply `AzureFunctionsJobHost__a__b=value` settings onto the parsed host.json (in place)."""
    for name, value in environ.items():
        if not name.startswith(OVERRIDE_PREFIX) or len(name) == len(OVERRIDE_PREFIX):
            continue
        path = [p for p in name[len(OVERRIDE_PREFIX):].split("__") if p]
        node = raw
        for key in path[:-1]:
            match = next((k for k in node if k.lower() == key.lower()), None)
            if match is None or not isinstance(node[match], dict):
                match = match or key
                node[match] = {}
            node = node[match]
        leaf = next((k for k in node if k.lower() == path[-1].lower()), path[-1])
        node[leaf] = value
    return raw


def load_host_config(app_dir: Path, environ: Mapping[str, str] | None = None) -> HostConfig:
    environ = os.environ if environ is None else environ
    path = Path(app_dir) / HOST_JSON
    if path.exists():
        try:
            raw = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as exc:
            raise HostConfigError(f"cannot read {path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise HostConfigError(f"{path} must hold a JSON object")
        if str(raw.get("version", "")) != "2.0":
            log.warning("%s: version should be \"2.0\" (found %r)", HOST_JSON, raw.get("version"))
    else:
        log.warning("%s not found in %s; using defaults", HOST_JSON, app_dir)
        raw = {"version": "2.0"}
    return HostConfig(raw=apply_overrides(raw, environ))
