"""What workflows carry between steps: references to a configuration, never its secrets.

A workflow is bound to one generation of a configuration: when a newer PUT (or a DELETE) has happened,
its activities find the stored generation changed and stand down instead of overwriting newer state.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from shared.manifests import configuration_hash

CREATE_ORCHESTRATOR = "create_configuration_workflow"
DELETE_ORCHESTRATOR = "delete_configuration_workflow"
STATUS_EVENT = "ComplianceStatus"
# Runtime statuses of an orchestration that has not ended (the Durable management API's names).
LIVE_RUNTIME_STATUSES = ("Pending", "Running", "ContinuedAsNew")
SETTLED_STATES = {"Installed": "Installed", "Compliant": "Installed", "Failed": "Failed", "Noncompliant": "Failed"}


@dataclass(frozen=True)
class ConfigurationRef:
    configuration_id: str
    cluster_key: str
    name: str
    generation: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ConfigurationRef:
        return cls(value["configuration_id"], value["cluster_key"], value["name"], int(value["generation"]))


def create_instance_id(configuration_id: str, generation: int) -> str:
    """One create workflow per configuration generation: a re-sent start finds the same instance."""
    return f"create-{configuration_hash(configuration_id)}-{generation}"


def delete_instance_id(operation_id: str) -> str:
    return f"delete-{operation_id}"
