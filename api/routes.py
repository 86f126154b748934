"""Route templates of the API (under the host's `api` prefix) and the cluster id they carry."""

from __future__ import annotations

import azure.functions as func

from shared.resource_ids import ClusterId

CLUSTER = ("subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"
           "/providers/{clusterRp}/{clusterResourceName}/{clusterName}")
CONFIGURATIONS = CLUSTER + "/providers/Microsoft.KubernetesConfiguration/sourceControlConfigurations"
CONFIGURATION = CONFIGURATIONS + "/{configurationName}"
CONNECTED_CLUSTERS_IN_GROUP = ("subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"
                              "/providers/Microsoft.Kubernetes/connectedClusters")
CONNECTED_CLUSTERS = "subscriptions/{subscriptionId}/providers/Microsoft.Kubernetes/connectedClusters"
OPERATION = "operations/{operationId}"
OPENAPI = "openapi.json"


def cluster_id_of(req: func.HttpRequest) -> ClusterId:
    params = req.route_params
    return ClusterId.parse(subscription=params.get("subscriptionId", ""),
                           resource_group=params.get("resourceGroupName", ""),
                           provider=params.get("clusterRp", ""),
                           resource_type=params.get("clusterResourceName", ""),
                           name=params.get("clusterName", ""))
