"""The cluster registry: which Kubernetes clusters exist, and their kubeconfigs, sealed at rest.

Table `clusters`: PartitionKey = subscription, RowKey = the rest of the cluster's storage key. The kubeconfig
is write-only: a record read for the API never opens it; only workflows that talk to the cluster do.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from shared.errors import ValidationError
from shared.kubeconfigs import KubeconfigRefused, vet_kubeconfig
from shared.resource_ids import ClusterId
from shared.secrets import SecretBox
from shared.tables import CLUSTERS_TABLE, get_long_text, put_long_text, table

MAX_KUBECONFIG_CHARS = 512 * 1024
_ALLOWED_TOP_LEVEL = {"properties", "id", "name", "type", "location", "tags", "systemData"}


@dataclass(frozen=True)
class ClusterRecord:
    cluster: ClusterId
    created_at: str
    last_modified_at: str
    sealed_kubeconfig: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.cluster.id,
            "name": self.cluster.name,
            "type": self.cluster.type,
            "systemData": {
                "createdAt": self.created_at, "createdBy": None, "createdByType": None,
                "lastModifiedAt": self.last_modified_at, "lastModifiedBy": None, "lastModifiedByType": None,
            },
            "properties": {"provisioningState": "Succeeded"},
        }

    def kubeconfig(self, box: SecretBox) -> str:
        """The kubeconfig text; for workflows that talk to the cluster, never for API answers."""
        return box.open(self.sealed_kubeconfig)


def parse_kubeconfig_body(body: object) -> str:
    """The kubeconfig text from a cluster PUT body `{"properties": {"kubeconfig": "<base64>"}}`.

    The kubeconfig must keep the allow-list of shared/kubeconfigs.py: a 400 naming the first field
    that breaks it, before anything is stored.
    """
    if not isinstance(body, dict):
        raise ValidationError("InvalidRequestContent", "The request body must be a JSON object.")
    unknown = sorted(set(body) - _ALLOWED_TOP_LEVEL)
    if unknown:
        raise ValidationError("InvalidRequestContent", f"Unknown property '{unknown[0]}'.", unknown[0])
    properties = body.get("properties")
    if not isinstance(properties, dict):
        raise ValidationError("InvalidRequestContent", "The request body must have a 'properties' object.",
                              "properties")
    unknown = sorted(set(properties) - {"kubeconfig"})
    if unknown:
        raise ValidationError("InvalidRequestContent", f"Unknown property 'properties.{unknown[0]}'.",
                              f"properties.{unknown[0]}")
    encoded = properties.get("kubeconfig")
    target = "properties.kubeconfig"
    if not isinstance(encoded, str) or not encoded.strip():
        raise ValidationError("RequiredArgumentMissing", "properties.kubeconfig (a base64 kubeconfig) is required.",
                              target)
    if len(encoded) > MAX_KUBECONFIG_CHARS:
        raise ValidationError("InvalidArgumentValue",
                              f"properties.kubeconfig is longer than {MAX_KUBECONFIG_CHARS} characters.", target)
    try:
        text = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise ValidationError("InvalidArgumentValue", "properties.kubeconfig is not a valid utf-8 base64 "
                              "encoded string.", target) from None
    try:
        vet_kubeconfig(text)
    except KubeconfigRefused as error:
        raise ValidationError("InvalidArgumentValue", f"properties.kubeconfig is refused: {error}.", target) from None
    return text


def _keys(storage_key: str) -> tuple[str, str]:
    """(PartitionKey, RowKey) of a cluster: its subscription, then the rest of its storage key."""
    partition, _, row = storage_key.partition("|")
    return partition, row


def get_cluster(cluster: ClusterId) -> ClusterRecord | None:
    return get_cluster_by_key(cluster.storage_key)


def get_cluster_by_key(storage_key: str) -> ClusterRecord | None:
    """The cluster whose `ClusterId.storage_key` this is (what configuration records point at)."""
    partition, row = _keys(storage_key)
    try:
        entity = table(CLUSTERS_TABLE).get_entity(partition, row)
    except ResourceNotFoundError:
        return None
    return cluster_of(entity)


def put_cluster(*, cluster: ClusterId, sealed_kubeconfig: str, now: str) -> tuple[ClusterRecord, bool]:
    """Register or replace; the first registration's id casing and creation time are kept."""
    existing = get_cluster(cluster)
    record = ClusterRecord(existing.cluster if existing else cluster,
                           existing.created_at if existing else now, now, sealed_kubeconfig)
    partition, row = _keys(cluster.storage_key)
    entity: dict[str, Any] = {
        "PartitionKey": partition, "RowKey": row, "ClusterId": json.dumps(record.cluster.__dict__),
        "CreatedAt": record.created_at, "LastModifiedAt": record.last_modified_at,
    }
    put_long_text(entity, "Kubeconfig", sealed_kubeconfig)
    table(CLUSTERS_TABLE).upsert_entity(entity)
    return record, existing is None


def delete_cluster(cluster: ClusterId) -> None:
    partition, row = _keys(cluster.storage_key)
    table(CLUSTERS_TABLE).delete_entity(partition, row)


def list_clusters(subscription: str, *, resource_group: str | None, provider: str,
                  resource_type: str) -> list[ClusterRecord]:
    """A subscription's (or one resource group's) clusters of one type, in id order.

    NB: one partition (the subscription), narrowed to the group by a RowKey range: rows are `rg|provider|...`.
    """
    parameters = {"pk": subscription.lower()}
    query = "PartitionKey eq @pk"
    if resource_group is not None:
        query += " and RowKey ge @low and RowKey lt @high"
        parameters |= {"low": f"{resource_group.lower()}|", "high": f"{resource_group.lower()}|~"}
    records = (cluster_of(entity) for entity in table(CLUSTERS_TABLE).query_entities(query, parameters=parameters))
    return [record for record in records if record.cluster.provider.lower() == provider.lower()
            and record.cluster.resource_type.lower() == resource_type.lower()]


def iterate_clusters() -> Iterator[ClusterRecord]:
    """Every registered cluster (the cleanup timer sweeps each for orphaned operator objects)."""
    for entity in table(CLUSTERS_TABLE).list_entities():
        yield cluster_of(entity)


def cluster_of(entity: Any) -> ClusterRecord:
    return ClusterRecord(ClusterId(**json.loads(entity["ClusterId"])), entity["CreatedAt"], entity["LastModifiedAt"],
                         get_long_text(entity, "Kubeconfig") or "")
