"""Encryption of everything secret before it touches storage: protected settings and kubeconfigs.

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`, keyed by the `SECRETS_ENCRYPTION_KEY` setting.
The setting may hold several comma-separated keys: the first encrypts, all decrypt (key rotation).
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretsKeyError(RuntimeError):
    """The service has no usable encryption key: an operator's mistake, never the client's."""


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


class SecretBox:
    def __init__(self, keys: tuple[str, ...] | list[str]):
        if not keys:
            raise SecretsKeyError("SECRETS_ENCRYPTION_KEY is not set; secrets cannot be stored")
        try:
            self._fernet = MultiFernet([Fernet(key.encode("ascii")) for key in keys])
        except (ValueError, TypeError) as error:
            raise SecretsKeyError("SECRETS_ENCRYPTION_KEY is not a valid Fernet key") from error

    def seal(self, value: Any) -> str:
        """JSON-encode and encrypt `value`; the token is ASCII and safe for any storage."""
        return self._fernet.encrypt(json.dumps(value).encode("utf-8")).decode("ascii")

    def open(self, token: str) -> Any:
        try:
            return json.loads(self._fernet.decrypt(token.encode("ascii")))
        except InvalidToken as error:
            raise SecretsKeyError("a stored secret cannot be decrypted with the configured keys") from error
