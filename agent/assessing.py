"""What a flux Deployment says about its configuration: Installed, Failed (with why) or still pending.

Pure functions over the Deployment as the API server returns it (a JSON dict).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INSTALLED = "Installed"
FAILED = "Failed"

# NB: the agent must not import the app, so these copy shared/manifests.py's names.
CONFIGURATION_LABEL = "gitops.azure.local/configuration"
CONFIGURATION_ID_ANNOTATION = "gitops.azure.local/configuration-id"
GENERATION_ANNOTATION = "gitops.azure.local/configuration-generation"
FLUX_SELECTOR = "name=flux"


@dataclass(frozen=True)
class Assessment:
    compliance_state: str
    message: str
    # NB: the configuration generation the Deployment was applied for: a re-PUT's state is news even when it
    # equals the previous one, because the re-PUT's workflow waits for it.
    generation: str | None = None


def configuration_id(deployment: dict[str, Any]) -> str | None:
    annotations = (deployment.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(CONFIGURATION_ID_ANNOTATION)
    return value or None


def belongs_to_cluster(config_id: str, cluster_id: str) -> bool:
    """Case-insensitive: ARM ids compare without regard to case."""
    prefix = cluster_id.rstrip("/").lower() + "/"
    return config_id.lower().startswith(prefix)


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type", ""): c for c in status.get("conditions") or []}


def assess(deployment: dict[str, Any]) -> Assessment | None:
    """Failed when the rollout cannot finish, Installed when it has and a replica is available.

    None means pending (still progressing, or the controller has not seen the latest spec yet):
    nothing is to be reported.
    """
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    if metadata.get("deletionTimestamp"):
        return None
    generation = (metadata.get("annotations") or {}).get(GENERATION_ANNOTATION)
    conditions = _conditions(status)
    failure = conditions.get("ReplicaFailure")
    if failure and failure.get("status") == "True":
        return Assessment(FAILED, _failure_message(failure), generation)
    progressing = conditions.get("Progressing")
    if progressing and progressing.get("status") == "False":
        return Assessment(FAILED, _failure_message(progressing), generation)
    if int(status.get("observedGeneration") or 0) < int(metadata.get("generation") or 0):
        return None
    available = conditions.get("Available")
    if available and available.get("status") != "True":
        return None
    desired = spec.get("replicas", 1)
    if int(status.get("availableReplicas") or 0) >= 1 and int(status.get("updatedReplicas") or 0) >= desired:
        return Assessment(INSTALLED, "flux deployment available", generation)
    return None


def _failure_message(condition: dict[str, Any]) -> str:
    parts = [p for p in (condition.get("reason"), condition.get("message")) if p]
    return "flux deployment unavailable: " + (": ".join(parts) or "unknown reason")
