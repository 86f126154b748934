"""The stored configuration record and its table: create/replace with ETag concurrency, read, list, remove.

One entity per configuration in table `configurations`: PartitionKey = the cluster's storage key, RowKey =
the configuration name. Protected settings are sealed (encrypted) before they enter the entity; a record
read back carries the sealed token only, never plain secrets.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.errors import ValidationError
from shared.resource_ids import ClusterId
from shared.tables import CONFIGURATIONS_TABLE, get_long_text, put_long_text, table
from shared.timestamps import NEVER_APPLIED

INITIAL_MESSAGE = '{"OperatorMessage":null,"ClusterState":null}'
INITIAL_MESSAGE_LEVEL = "3"
WRITE_ATTEMPTS = 20


@dataclass(frozen=True)
class ComplianceStatus:
    compliance_state: str = "Pending"
    last_config_applied: str = NEVER_APPLIED
    message: str = INITIAL_MESSAGE
    message_level: str = INITIAL_MESSAGE_LEVEL
    observed_at: str | None = None  # the agent's clock of the event that set this; orders events

    def to_json(self) -> dict[str, Any]:
        return {
            "complianceState": self.compliance_state,
            "lastConfigApplied": self.last_config_applied,
            "message": self.message,
            "messageLevel": self.message_level,
        }


@dataclass(frozen=True)
class SystemData:
    created_at: str
    last_modified_at: str
    created_by: str | None = None
    created_by_type: str | None = None
    last_modified_by: str | None = None
    last_modified_by_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "createdAt": self.created_at,
            "createdBy": self.created_by,
            "createdByType": self.created_by_type,
            "lastModifiedAt": self.last_modified_at,
            "lastModifiedBy": self.last_modified_by,
            "lastModifiedByType": self.last_modified_by_type,
        }


@dataclass(frozen=True)
class ConfigurationRecord:
    """What is stored about one configuration. `properties` holds the public, client-set properties."""

    cluster_id: str
    cluster_key: str
    name: str
    properties: dict[str, Any]
    sealed_protected_settings: str | None
    repository_public_key: str
    provisioning_state: str
    compliance: ComplianceStatus
    system_data: SystemData
    generation: int = 1
    sealed_generated_key: str | None = None  # the Flux deploy key the service made; kept across PUTs
    etag: str | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return f"{self.cluster_id}/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations/{self.name}"

    def to_entity(self) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": self.cluster_key,
            "RowKey": self.name,
            "ClusterId": self.cluster_id,
            "RepositoryPublicKey": self.repository_public_key,
            "ProvisioningState": self.provisioning_state,
            "Compliance": json.dumps(self.compliance.__dict__),
            "SystemData": json.dumps(self.system_data.__dict__),
            "Generation": self.generation,
        }
        put_long_text(entity, "Properties", json.dumps(self.properties))
        put_long_text(entity, "ProtectedSettings", self.sealed_protected_settings)
        put_long_text(entity, "GeneratedKey", self.sealed_generated_key)
        return entity

    @classmethod
    def from_entity(cls, entity: Any) -> ConfigurationRecord:
        return cls(
            cluster_id=entity["ClusterId"],
            cluster_key=entity["PartitionKey"],
            name=entity["RowKey"],
            properties=json.loads(get_long_text(entity, "Properties") or "{}"),
            sealed_protected_settings=get_long_text(entity, "ProtectedSettings"),
            repository_public_key=entity.get("RepositoryPublicKey", ""),
            provisioning_state=entity["ProvisioningState"],
            compliance=ComplianceStatus(**json.loads(entity["Compliance"])),
            system_data=SystemData(**json.loads(entity["SystemData"])),
            generation=int(entity.get("Generation", 1)),
            sealed_generated_key=get_long_text(entity, "GeneratedKey"),
            etag=entity.metadata.get("etag") if hasattr(entity, "metadata") else None,
        )


def get_configuration(cluster: ClusterId, name: str) -> ConfigurationRecord | None:
    return get_configuration_by_keys(cluster.storage_key, name)


def save_configuration(*, cluster: ClusterId, name: str, build) -> tuple[ConfigurationRecord, bool]:
    """Create or replace one record; `build(existing_or_None) -> record` is re-run on every conflict.

    NB: the write is conditional (create-if-absent or replace-if-ETag-matches), so two concurrent PUTs
    are serialised: each lands whole, in some order, and neither can tear the other's record.
    Returns the stored record and whether it was created. The first attempt assumes a new name (an insert
    that fails with 409 when it exists): a create costs one request, an update one more than it would.
    """
    client = table(CONFIGURATIONS_TABLE)
    for attempt in range(WRITE_ATTEMPTS):
        existing = get_configuration(cluster, name) if attempt else None
        record: ConfigurationRecord = build(existing)
        try:
            if existing is None:
                metadata = client.create_entity(record.to_entity())
            else:
                metadata = client.update_entity(record.to_entity(), mode=UpdateMode.REPLACE,
                                                etag=existing.etag, match_condition=MatchConditions.IfNotModified)
        except (ResourceExistsError, ResourceModifiedError):
            continue
        return replace(record, etag=metadata.get("etag")), existing is None
    raise ConcurrencyError(f"configuration {name} kept changing under {WRITE_ATTEMPTS} attempts to write it")


def update_configuration(record: ConfigurationRecord, change) -> ConfigurationRecord | None:
    """Apply `change(current) -> new | None` to the stored record of `record`, retrying on ETag conflicts.

    Returns the stored result, or None when the configuration is gone or `change` declined (returned None).
    Workflows use it so that their writes never overwrite a newer PUT.
    """
    return update_configuration_by_keys(record.cluster_key, record.name, change,
                                        known=record if record.etag else None)


def update_configuration_by_keys(cluster_key: str, name: str, change, *,
                                 known: ConfigurationRecord | None = None) -> ConfigurationRecord | None:
    """`update_configuration` for a caller that has only the keys: the stored record is read once, here.

    `known`: a record just read (with its ETag), tried first without reading it again; a conflict reads."""
    client = table(CONFIGURATIONS_TABLE)
    for _ in range(WRITE_ATTEMPTS):
        if known is not None:
            current, known = known, None
        else:
            try:
                current = ConfigurationRecord.from_entity(client.get_entity(cluster_key, name))
            except ResourceNotFoundError:
                return None
        updated = change(current)
        if updated is None:
            return None
        try:
            metadata = client.update_entity(updated.to_entity(), mode=UpdateMode.REPLACE, etag=current.etag,
                                            match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceNotFoundError):
            continue
        return replace(updated, etag=metadata.get("etag"))
    raise ConcurrencyError(f"configuration {name} kept changing under {WRITE_ATTEMPTS} attempts to write it")


def get_configuration_by_keys(cluster_key: str, name: str) -> ConfigurationRecord | None:
    try:
        return ConfigurationRecord.from_entity(table(CONFIGURATIONS_TABLE).get_entity(cluster_key, name))
    except ResourceNotFoundError:
        return None


def remove_configuration(record: ConfigurationRecord) -> bool:
    """Delete the record if it is still the version read; False when someone changed it meanwhile."""
    try:
        table(CONFIGURATIONS_TABLE).delete_entity(record.cluster_key, record.name, etag=record.etag,
                                                  match_condition=MatchConditions.IfNotModified)
    except ResourceModifiedError:
        return False
    return True


@dataclass(frozen=True)
class ConfigurationPage:
    records: list[ConfigurationRecord]
    skip_token: str | None


def list_configurations(cluster: ClusterId, *, page_size: int, skip_token: str | None) -> ConfigurationPage:
    """One page of a cluster's configurations in name order; `skip_token` continues a previous page."""
    continuation = decode_skip_token(skip_token) if skip_token else None
    client = table(CONFIGURATIONS_TABLE)
    pages = client.query_entities("PartitionKey eq @pk", parameters={"pk": cluster.storage_key},
                                  results_per_page=page_size).by_page(continuation_token=continuation)
    page = next(pages, [])
    records = [ConfigurationRecord.from_entity(entity) for entity in page]
    token = pages.continuation_token
    return ConfigurationPage(records, encode_skip_token(token) if token else None)


def configuration_names(cluster_key: str) -> set[str]:
    """The names of every configuration stored for a cluster: one query (keys only) instead of a read each."""
    query = table(CONFIGURATIONS_TABLE).query_entities("PartitionKey eq @pk", parameters={"pk": cluster_key},
                                                       select=["RowKey"])
    return {entity["RowKey"] for entity in query}


def iterate_configurations(cluster: ClusterId) -> Iterator[ConfigurationRecord]:
    client = table(CONFIGURATIONS_TABLE)
    for entity in client.query_entities("PartitionKey eq @pk", parameters={"pk": cluster.storage_key}):
        yield ConfigurationRecord.from_entity(entity)


def encode_skip_token(token: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")


def decode_skip_token(text: str) -> dict[str, Any]:
    try:
        token = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except ValueError:
        token = None
    if not isinstance(token, dict) or not all(isinstance(v, str) for v in token.values()):
        raise ValidationError("InvalidSkipToken", "The $skipToken query parameter is not one this service issued.",
                              "$skipToken")
    return token


class ConcurrencyError(RuntimeError):
    """Writers kept colliding; retried enough that this means something is wrong, not a client error."""
