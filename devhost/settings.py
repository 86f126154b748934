"""App settings: `local.settings.json`, the process environment and the storage connection string.

Precedence copies Core Tools: a variable already set in the environment WINS over the same name in
`local.settings.json` `Values` (Core Tools prints "Skipping '<name>' from local settings as it's already
defined in current environment variables."). Tests rely on this to point the host at their own Azurite.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger("devhost.settings")

LOCAL_SETTINGS_FILE = "local.settings.json"
STORAGE_SETTING = "AzureWebJobsStorage"
# NB: the real setting name is `AzureFunctionsWebHost:hostid`; environments spell `:` as `__`.
HOST_ID_SETTINGS = ("AzureFunctionsWebHost__hostid", "AzureFunctionsWebHost:hostid")
SCRIPT_FILE_SETTING = "PYTHON_SCRIPT_FILE_NAME"
DEFAULT_SCRIPT_FILE = "function_app.py"
DEFAULT_HTTP_PORT = 7071

DEVSTORE_ACCOUNT_NAME = "devstoreaccount1"
# NB: the well-known development storage key, published by Microsoft; not a secret.
DEVSTORE_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEVSTORE_PORTS = {"blob": 10000, "queue": 10001, "table": 10002}


class SettingsError(Exception):
    """The app's settings cannot be used (bad file, missing or malformed connection string)."""


@dataclass(frozen=True)
class StorageAccount:
    """A storage account as the SDKs need it: explicit endpoints, never `UseDevelopmentStorage=true`."""

    account_name: str
    blob_endpoint: str
    queue_endpoint: str
    table_endpoint: str
    account_key: str | None = field(default=None, repr=False)
    sas_token: str | None = field(default=None, repr=False)

    @property
    def connection_string(self) -> str:
        """Explicit connection string understood by azure-storage-blob/-queue and azure-data-tables."""
        parts = [f"DefaultEndpointsProtocol={urlsplit(self.blob_endpoint).scheme or 'https'}",
                 f"AccountName={self.account_name}"]
        if self.account_key:
            parts.append(f"AccountKey={self.account_key}")
        if self.sas_token:
            parts.append(f"SharedAccessSignature={self.sas_token}")
        parts += [f"BlobEndpoint={self.blob_endpoint}", f"QueueEndpoint={self.queue_endpoint}",
                  f"TableEndpoint={self.table_endpoint}"]
        return ";".join(parts) + ";"


def parse_connection_string(value: str) -> StorageAccount:
    """Parse a storage connection string; `UseDevelopmentStorage=true` means Azurite's default ports."""
    pairs: dict[str, str] = {}
    for item in value.strip().split(";"):
        if not item.strip():
            continue
        name, sep, val = item.partition("=")
        if not sep:
            raise SettingsError(f"malformed storage connection string near {name.strip()!r}")
        pairs[name.strip().lower()] = val.strip()

    if pairs.get("usedevelopmentstorage", "").lower() == "true":
        proxy = pairs.get("developmentstorageproxyuri", "http://127.0.0.1").rstrip("/")
        host = urlsplit(proxy)
        base = f"{host.scheme or 'http'}://{host.hostname or '127.0.0.1'}"
        return StorageAccount(
            account_name=DEVSTORE_ACCOUNT_NAME,
            account_key=DEVSTORE_ACCOUNT_KEY,
            blob_endpoint=f"{base}:{DEVSTORE_PORTS['blob']}/{DEVSTORE_ACCOUNT_NAME}",
            queue_endpoint=f"{base}:{DEVSTORE_PORTS['queue']}/{DEVSTORE_ACCOUNT_NAME}",
            table_endpoint=f"{base}:{DEVSTORE_PORTS['table']}/{DEVSTORE_ACCOUNT_NAME}",
        )

    protocol = pairs.get("defaultendpointsprotocol", "https")
    suffix = pairs.get("endpointsuffix", "core.windows.net")
    name = pairs.get("accountname")
    explicit = {kind: pairs.get(f"{kind}endpoint") for kind in ("blob", "queue", "table")}
    if not name:
        name = _account_from_endpoint(next((e for e in explicit.values() if e), None))
    if not name:
        raise SettingsError("storage connection string has neither AccountName nor endpoints")
    endpoints = {
        kind: (explicit[kind] or f"{protocol}://{name}.{kind}.{suffix}").rstrip("/")
        for kind in ("blob", "queue", "table")
    }
    key = pairs.get("accountkey")
    sas = pairs.get("sharedaccesssignature")
    if not key and not sas:
        raise SettingsError("storage connection string has neither AccountKey nor SharedAccessSignature")
    return StorageAccount(
        account_name=name, account_key=key, sas_token=sas,
        blob_endpoint=endpoints["blob"], queue_endpoint=endpoints["queue"], table_endpoint=endpoints["table"],
    )


def _account_from_endpoint(endpoint: str | None) -> str | None:
    """Azurite style `http://host:port/account`, or cloud style `https://account.blob.core.windows.net`."""
    if not endpoint:
        return None
    parts = urlsplit(endpoint)
    path = parts.path.strip("/")
    if path:
        return path.split("/")[0]
    return (parts.hostname or "").split(".")[0] or None


def default_host_id(app_dir: Path) -> str:
    """Stable host id from the app folder name, sanitized like the real host's (lowercase, <= 32 chars).

    The real host derives it from the site name (or machine name + script path hash under Core Tools);
    the folder name keeps it stable across checkouts so tools can find the keys without asking the host.
    """
    text = re.sub(r"[^a-z0-9]+", "-", app_dir.resolve().name.lower()).strip("-")
    text = text[:32].rstrip("-")
    return text or "devhost"


@dataclass(frozen=True)
class HostSettings:
    app_dir: Path
    host_id: str
    script_file: str
    storage: StorageAccount | None
    local_http_port: int | None
    # Names (never values) of local settings skipped because the environment already had them.
    skipped_local_settings: tuple[str, ...] = ()

    def report(self) -> None:
        """Log what a user should know about the settings (call once logging is configured)."""
        for name in self.skipped_local_settings:
            log.info("Skipping '%s' from local settings as it's already defined in current environment "
                     "variables.", name)

    def require_storage(self) -> StorageAccount:
        if self.storage is None:
            raise SettingsError(
                f"{STORAGE_SETTING} is not set (environment or {LOCAL_SETTINGS_FILE} Values): the host keeps "
                "its function keys in blob storage; use `UseDevelopmentStorage=true` for Azurite"
            )
        return self.storage


def read_local_settings(app_dir: Path) -> dict:
    """The parsed `local.settings.json`, or `{}` when the file is missing (environment-only setups)."""
    path = app_dir / LOCAL_SETTINGS_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path} must hold a JSON object")
    if data.get("IsEncrypted"):
        raise SettingsError(f"{path} is encrypted (IsEncrypted: true); devhost reads plain settings only")
    return data


def apply_local_settings(values: Mapping[str, object], environ: MutableMapping[str, str]) -> tuple[str, ...]:
    """Copy `Values` into the environment where not already set; return the names that were skipped."""
    skipped = []
    for name, value in values.items():
        if name in environ:
            skipped.append(name)
            continue
        environ[name] = "" if value is None else str(value)
    return tuple(skipped)


def load_settings(app_dir: Path, environ: MutableMapping[str, str] | None = None) -> HostSettings:
    """Read DIR/local.settings.json into `environ` (default `os.environ`) and derive the host settings."""
    environ = os.environ if environ is None else environ
    app_dir = Path(app_dir).resolve()
    local = read_local_settings(app_dir)
    values = local.get("Values") or {}
    if not isinstance(values, dict):
        raise SettingsError(f"{LOCAL_SETTINGS_FILE}: Values must be an object")
    skipped = apply_local_settings(values, environ)

    runtime = environ.get("FUNCTIONS_WORKER_RUNTIME")
    if runtime and runtime.lower() != "python":
        log.warning("FUNCTIONS_WORKER_RUNTIME is %r; devhost runs Python apps only", runtime)

    conn = environ.get(STORAGE_SETTING, "").strip()
    storage = parse_connection_string(conn) if conn else None

    host_id = next((environ[name].strip() for name in HOST_ID_SETTINGS if environ.get(name, "").strip()), None)
    host_section = local.get("Host") or {}
    port = host_section.get("LocalHttpPort") if isinstance(host_section, dict) else None
    return HostSettings(
        app_dir=app_dir,
        host_id=(host_id or default_host_id(app_dir)).lower(),
        script_file=environ.get(SCRIPT_FILE_SETTING) or DEFAULT_SCRIPT_FILE,
        storage=storage,
        local_http_port=int(port) if port else None,
        skipped_local_settings=skipped,
    )


def is_function_disabled(function_name: str, environ: Mapping[str, str] | None = None) -> bool:
    """The real host's `AzureWebJobs.<FunctionName>.Disabled` app setting."""
    environ = os.environ if environ is None else environ
    for name in (f"AzureWebJobs.{function_name}.Disabled", f"AzureWebJobs__{function_name}__Disabled"):
        if environ.get(name, "").strip().lower() in ("true", "1"):
            return True
    return False
