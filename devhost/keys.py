"""Function keys, kept where the real host keeps them: blob container `azure-webjobs-secrets`.

Layout (the real host's BlobStorageSecretsRepository, serializer format V1):

    azure-webjobs-secrets/{hostId}/host.json
        {"masterKey": {"name": "master", "value": "...", "encrypted": false},
         "functionKeys": [{"name": "default", "value": "...", "encrypted": false}],
         "systemKeys": [], "hostName": "...", "instanceId": "...", "source": "runtime",
         "decryptionKeyId": ""}
    azure-webjobs-secrets/{hostId}/{functionname}.json      (function name lowercased)
        {"keys": [{"name": "default", "value": "...", "encrypted": false}],
         "hostName": "...", "instanceId": "...", "source": "runtime", "decryptionKeyId": ""}

Missing files are created on first use with `If-None-Match: *` (upload with overwrite=False); when two
hosts race, the loser re-reads the winner's file, so every process ends up with the same keys. Keys are
read once and kept in memory (`KeySet`); edit the blobs and restart the host to change them.
Encrypted keys (`"encrypted": true`, the cloud's AzureWebEncryptionKey) are not supported.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import BlobServiceClient

from devhost.settings import StorageAccount

SECRETS_CONTAINER = "azure-webjobs-secrets"
HOST_SECRETS_FILE = "host.json"
MASTER_KEY_NAME = "master"
DEFAULT_KEY_NAME = "default"

# Authorization levels in the real host's order (AuthorizationLevel enum).
LEVEL_ORDER = {"anonymous": 0, "user": 1, "function": 2, "system": 3, "admin": 4}


class KeyStoreError(Exception):
    pass


def generate_key() -> str:
    """40 random bytes as URL-safe base64 with its `=` padding: 56 characters, like the real host's keys.

    (The real host also embeds an `AzFu` signature and a Marvin checksum; devhost keys are plain random.)
    """
    return base64.urlsafe_b64encode(secrets.token_bytes(40)).decode("ascii")


def _instance_id() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:32].upper()


def _key(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value, "encrypted": False}


def new_host_secrets(host_name: str) -> dict[str, Any]:
    return {
        "masterKey": _key(MASTER_KEY_NAME, generate_key()),
        "functionKeys": [_key(DEFAULT_KEY_NAME, generate_key())],
        "systemKeys": [],
        "hostName": host_name,
        "instanceId": _instance_id(),
        "source": "runtime",
        "decryptionKeyId": "",
    }


def new_function_secrets(host_name: str) -> dict[str, Any]:
    return {
        "keys": [_key(DEFAULT_KEY_NAME, generate_key())],
        "hostName": host_name,
        "instanceId": _instance_id(),
        "source": "runtime",
        "decryptionKeyId": "",
    }


def _plain_value(entry: Any, where: str) -> str:
    if isinstance(entry, str):  # serializer format V0
        return entry
    if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
        raise KeyStoreError(f"{where}: malformed key entry")
    if entry.get("encrypted"):
        raise KeyStoreError(f"{where}: encrypted keys are not supported by devhost; "
                            "replace them with plain ones (\"encrypted\": false)")
    return entry["value"]


def _named_keys(entries: Any, where: str) -> dict[str, str]:
    if not entries:
        return {}
    if not isinstance(entries, list):
        raise KeyStoreError(f"{where}: expected a list of keys")
    return {str(e.get("name")): _plain_value(e, where) for e in entries if isinstance(e, dict)}


def parse_host_secrets(doc: Mapping[str, Any], where: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """(master key, host function keys, system keys) from a host secrets document (V1, or V0)."""
    if "masterKey" not in doc:
        raise KeyStoreError(f"{where}: no masterKey")
    master = _plain_value(doc["masterKey"], where)
    if isinstance(doc.get("functionKey"), str):  # V0: {"masterKey": "...", "functionKey": "..."}
        return master, {DEFAULT_KEY_NAME: doc["functionKey"]}, {}
    return master, _named_keys(doc.get("functionKeys"), where), _named_keys(doc.get("systemKeys"), where)


def parse_function_secrets(doc: Mapping[str, Any], where: str) -> dict[str, str]:
    if isinstance(doc.get("key"), str):  # V0
        return {DEFAULT_KEY_NAME: doc["key"]}
    return _named_keys(doc.get("keys"), where)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class KeySet:
    """Immutable snapshot of the keys, used for every authorization check (no storage call per request)."""

    host_id: str
    master_key: str = field(repr=False)
    host_function_keys: Mapping[str, str] = field(repr=False)
    system_keys: Mapping[str, str] = field(repr=False)
    # Keyed by lowercased function name.
    function_keys: Mapping[str, Mapping[str, str]] = field(repr=False)
    # Lowercased name -> the function's own spelling, for display.
    function_names: Mapping[str, str] = field(default_factory=dict)

    def level_of(self, key: str | None, function_name: str) -> str:
        """The authorization level a presented key grants for `function_name` (real host's rules)."""
        if not key:
            return "anonymous"
        if _same(key, self.master_key):
            return "admin"
        if any(_same(key, v) for v in self.host_function_keys.values()):
            return "function"
        if any(_same(key, v) for v in self.system_keys.values()):
            return "system"
        if any(_same(key, v) for v in self.function_keys.get(function_name.lower(), {}).values()):
            return "function"
        return "anonymous"

    def allows(self, *, required: str, key: str | None, function_name: str) -> bool:
        """anonymous: anyone; function: function/host key or master; admin: master key only."""
        required = required.lower()
        if required == "anonymous":
            return True
        if required == "user":  # never issued by this host; treat like function
            required = "function"
        granted = self.level_of(key, function_name)
        return LEVEL_ORDER[granted] >= LEVEL_ORDER.get(required, LEVEL_ORDER["admin"])

    def to_json(self) -> dict[str, Any]:
        """The `python -m devhost keys --json` document."""
        return {
            "hostId": self.host_id,
            "masterKey": self.master_key,
            "functionKeys": dict(self.host_function_keys),
            "systemKeys": dict(self.system_keys),
            "functions": {self.function_names.get(name, name): dict(keys)
                          for name, keys in self.function_keys.items()},
        }


class KeyStore:
    """Reads (and on first use creates) the key files in blob storage."""

    def __init__(self, *, storage: StorageAccount, host_id: str, host_name: str = "localhost") -> None:
        self.storage = storage
        self.host_id = host_id.lower()
        self.host_name = host_name
        self._service = BlobServiceClient.from_connection_string(storage.connection_string)
        self._container = self._service.get_container_client(SECRETS_CONTAINER)

    def blob_path(self, function_name: str | None = None) -> str:
        name = HOST_SECRETS_FILE if function_name is None else f"{function_name.lower()}.json"
        return f"{self.host_id}/{name}"

    async def close(self) -> None:
        await self._service.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def load(self, function_names: Iterable[str]) -> KeySet:
        """Read or create the host keys and the keys of each named function."""
        try:
            await self._container.create_container()
        except ResourceExistsError:
            pass
        host_path = self.blob_path()
        host_doc = await self._read_or_create(host_path, lambda: new_host_secrets(self.host_name))
        master, host_keys, system_keys = parse_host_secrets(host_doc, host_path)
        spelled = {n.lower(): n for n in function_names}
        names = sorted(spelled)
        docs = await asyncio.gather(*(
            self._read_or_create(self.blob_path(n), lambda: new_function_secrets(self.host_name)) for n in names
        ))
        function_keys = {n: parse_function_secrets(d, self.blob_path(n)) for n, d in zip(names, docs)}
        return KeySet(host_id=self.host_id, master_key=master, host_function_keys=host_keys,
                      system_keys=system_keys, function_keys=function_keys, function_names=spelled)

    async def _read(self, path: str) -> dict[str, Any] | None:
        try:
            stream = await self._container.download_blob(path)
            data = await stream.readall()
        except ResourceNotFoundError:
            return None
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise KeyStoreError(f"{SECRETS_CONTAINER}/{path} is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise KeyStoreError(f"{SECRETS_CONTAINER}/{path} must hold a JSON object")
        return doc

    async def _read_or_create(self, path: str, factory) -> dict[str, Any]:
        doc = await self._read(path)
        if doc is not None:
            return doc
        doc = factory()
        try:
            await self._container.upload_blob(
                path, json.dumps(doc, indent=2), overwrite=False,
                content_settings=ContentSettings(content_type="application/json"),
            )
            return doc
        except ResourceExistsError:
            # NB: another host created it between our read and write: its keys win.
            won = await self._read(path)
            if won is None:
                raise KeyStoreError(f"{SECRETS_CONTAINER}/{path} vanished while being created") from None
            return won
