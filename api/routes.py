"""Route templates of the API (under the host's `api` prefix) and the cluster id they carry."""

from __future__ import annotations

import azure.functions as func

from shared.errors import ValidationError
from shared.resource_ids import ClusterId

# The error code of a route parameter holding a character no ARM name has.
ROUTE_PARAMETER_CODES = {"subscriptionId": "InvalidSubscriptionId", "resourceGroupName": "InvalidResourceGroup",
                         "clusterRp": "InvalidResourceType", "clusterResourceName": "InvalidResourceType",
                         "clusterName": "InvalidResourceName", "configurationName": "InvalidResourceName"}

CLUSTER = ("subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"
           "/providers/{clusterRp}/{clusterResourceName}/{clusterName}")
CONFIGURATIONS = CLUSTER + "/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations"
CONFIGURATION = CONFIGURATIONS + "/{configurationName}"
CONFIGURATION_WORKFLOW = CONFIGURATION + "/workflow"
CONFIGURATION_OPERATOR_OBJECTS = CONFIGURATION + "/operatorObjects"
CONNECTED_CLUSTERS_IN_GROUP = ("subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"
                              "/providers/Microsoft.Kubernetes/connectedClusters")
CONNECTED_CLUSTERS = "subscriptions/{subscriptionId}/providers/Microsoft.Kubernetes/connectedClusters"
OPERATION = "operations/{operationId}"
OPENAPI = "openapi.json"


def route_value(req: func.HttpRequest, parameter: str) -> str:
    """A route parameter, refused (400) when it holds a control, format or other non-printable character.

    NB: the id patterns of shared.resource_ids end in `$`, which also matches before a final line feed, so
    `name%0A` would otherwise pass them and reach storage keys (where Azure Tables refuse it with a 500).
    """
    value = req.route_params.get(parameter, "")
    if not value.isprintable():
        raise ValidationError(ROUTE_PARAMETER_CODES[parameter],
                              f"The {parameter} in the request path contains a control or formatting character.",
                              parameter)
    return value


def cluster_id_of(req: func.HttpRequest) -> ClusterId:
    return ClusterId.parse(subscription=route_value(req, "subscriptionId"),
                           resource_group=route_value(req, "resourceGroupName"),
                           provider=route_value(req, "clusterRp"),
                           resource_type=route_value(req, "clusterResourceName"),
                           name=route_value(req, "clusterName"))
