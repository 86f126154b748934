"""ARM resource ids of clusters and configurations: parsing, validation, canonical text and storage keys.

ARM ids are case-insensitive; storage keys are lowercased so `AzureArcTest` and `azurearctest` name one
cluster, while the id shown to clients keeps the casing of the first registration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.errors import ValidationError

CONFIGURATION_PROVIDER = "Microsoft.KubernetesConfiguration"
CONFIGURATION_COLLECTION = "sourceControlConfigurations"
CONFIGURATION_TYPE = f"{CONFIGURATION_PROVIDER}/{CONFIGURATION_COLLECTION}"

# (provider namespace, resource type) of the clusters a configuration can live on, keyed lowercase.
CLUSTER_TYPES = {
    ("microsoft.kubernetes", "connectedclusters"): ("Microsoft.Kubernetes", "connectedClusters"),
    ("microsoft.containerservice", "managedclusters"): ("Microsoft.ContainerService", "managedClusters"),
}

_SUBSCRIPTION = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_RESOURCE_GROUP = re.compile(r"^[-\w._()]{0,89}[-\w_()]$")
_CLUSTER_NAME = re.compile(r"^[a-zA-Z0-9][-_a-zA-Z0-9]{0,62}$")


def check_subscription(subscription: str) -> None:
    if not _SUBSCRIPTION.match(subscription or ""):
        raise ValidationError("InvalidSubscriptionId",
                              f"The provided subscription identifier '{subscription}' is malformed or invalid.",
                              "subscriptionId")


def check_resource_group(resource_group: str) -> None:
    if not _RESOURCE_GROUP.match(resource_group or ""):
        raise ValidationError("InvalidResourceGroup",
                              f"The provided resource group name '{resource_group}' has these invalid "
                              "characters or length. The name can be 1-90 characters of letters, digits, "
                              "underscores, hyphens, periods and parentheses, and cannot end in a period.",
                              "resourceGroupName")


def parse_list_scope(subscription: str, resource_group: str | None) -> tuple[str, str | None]:
    """The (validated) subscription and optional resource group a list route is scoped to."""
    check_subscription(subscription)
    if resource_group is not None:
        check_resource_group(resource_group)
    return subscription.lower(), resource_group


@dataclass(frozen=True)
class ClusterId:
    subscription: str
    resource_group: str
    provider: str
    resource_type: str
    name: str

    @classmethod
    def parse(cls, *, subscription: str, resource_group: str, provider: str, resource_type: str,
              name: str) -> ClusterId:
        """Validate the parts of a cluster id taken from a route; a bad part is the client's 400."""
        check_subscription(subscription)
        check_resource_group(resource_group)
        canonical = CLUSTER_TYPES.get(((provider or "").lower(), (resource_type or "").lower()))
        if canonical is None:
            accepted = ", ".join(f"{p}/{t}" for p, t in CLUSTER_TYPES.values())
            raise ValidationError("InvalidResourceType",
                                  f"The resource type '{provider}/{resource_type}' cannot hold source control "
                                  f"configurations. Accepted cluster types: {accepted}.",
                                  "clusterResourceName")
        if not _CLUSTER_NAME.match(name or ""):
            raise ValidationError("InvalidResourceName",
                                  f"The cluster name '{name}' is invalid. It can be 1-63 characters of letters, "
                                  "digits, hyphens and underscores, starting with a letter or digit.",
                                  "clusterName")
        return cls(subscription.lower(), resource_group, canonical[0], canonical[1], name)

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
                f"/providers/{self.provider}/{self.resource_type}/{self.name}")

    @property
    def type(self) -> str:
        return f"{self.provider}/{self.resource_type}"

    @property
    def storage_key(self) -> str:
        """Lowercase and free of the characters table keys forbid (`/ \\ # ?`)."""
        return f"{self.subscription}|{self.resource_group}|{self.provider}|{self.resource_type}|{self.name}".lower()

    def configuration_id(self, name: str) -> str:
        return f"{self.id}/providers/{CONFIGURATION_TYPE}/{name}"

    @property
    def configurations_url_path(self) -> str:
        return f"{self.id}/providers/{CONFIGURATION_TYPE}"


_CONFIGURATION_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<resource_group>[^/]+)"
    r"/providers/(?P<provider>[^/]+)/(?P<resource_type>[^/]+)/(?P<name>[^/]+)"
    rf"/providers/{CONFIGURATION_PROVIDER}/{CONFIGURATION_COLLECTION}/(?P<configuration>[^/]+)$",
    re.IGNORECASE,
)


def parse_configuration_id(text: str) -> tuple[ClusterId, str]:
    """The cluster and configuration name of a full configuration id (as the agent sends it)."""
    match = _CONFIGURATION_ID.match(text or "")
    if match is None:
        raise ValidationError("InvalidResourceId", "not a source control configuration id", "configurationId")
    parts = match.groupdict()
    configuration = parts.pop("configuration")
    return ClusterId.parse(**parts), configuration
