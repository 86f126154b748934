"""Resource paths the CLI calls and the az-style flattened view of an ARM resource."""

from __future__ import annotations

import re
from typing import Any

from cli.client import path_of

CLUSTER_TYPES = {
    "connectedClusters": ("Microsoft.Kubernetes", "connectedClusters"),
    "managedClusters": ("Microsoft.ContainerService", "managedClusters"),
}
CONFIGURATIONS_PROVIDER = ("providers", "Microsoft.KubernetesConfiguration", "sourceControlConfigurations")
_RESOURCE_GROUP = re.compile(r"/resourceGroups/([^/]+)", re.IGNORECASE)


def cluster_path(*, subscription: str, resource_group: str, cluster_type: str, name: str) -> str:
    provider, resource_type = CLUSTER_TYPES[cluster_type]
    return path_of("subscriptions", subscription, "resourceGroups", resource_group, "providers", provider,
                   resource_type, name)


def configurations_path(cluster: str) -> str:
    return cluster + path_of(*CONFIGURATIONS_PROVIDER)


def configuration_path(cluster: str, name: str) -> str:
    return configurations_path(cluster) + path_of(name)


def flatten(resource: dict[str, Any]) -> dict[str, Any]:
    """What az prints for an ARM resource: `properties` at top level, plus `resourceGroup` from the id."""
    flat = {key: value for key, value in resource.items() if key != "properties"}
    flat.update(resource.get("properties") or {})
    match = _RESOURCE_GROUP.search(resource.get("id") or "")
    if match:
        flat["resourceGroup"] = match.group(1)
    return flat
