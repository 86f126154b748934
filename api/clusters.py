"""Cluster registry endpoints: PUT/GET/DELETE `/api{cluster id}`. The kubeconfig is write-only."""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from api import routes
from api.http import arm_endpoint, json_response, read_json_body, require_api_version
from shared.agent_keys import issue_at_registration
from shared.clusters import (
    ClusterRecord,
    delete_cluster,
    get_cluster,
    list_clusters,
    parse_kubeconfig_body,
    put_cluster,
)
from shared.configurations import configuration_names
from shared.errors import ConflictError, ResourceNotFoundError
from shared.kubeconfigs import server_identity
from shared.resource_ids import ClusterId, parse_list_scope
from shared.secrets import SecretBox
from shared.settings import Settings
from shared.timestamps import format_timestamp, utc_now
from shared.unregistration import abandon_everything_on, what_remains

bp = df.Blueprint()
log = logging.getLogger("gitops.api.clusters")
MAX_NAMED = 20  # configurations named in a 409


def cluster_not_found(cluster: ClusterId) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"The cluster '{cluster.id}' is not registered. Register it with "
                                 f"PUT /api{cluster.id} (azlocal connectedk8s connect).", "clusterName")


@bp.function_name("cluster")
@bp.route(route=routes.CLUSTER, methods=["GET", "PUT", "DELETE"], auth_level=func.AuthLevel.FUNCTION)
@arm_endpoint
def cluster_endpoint(req: func.HttpRequest) -> func.HttpResponse:
    require_api_version(req)
    cluster = routes.cluster_id_of(req)
    if req.method == "PUT":
        kubeconfig = parse_kubeconfig_body(read_json_body(req))
        box = SecretBox(Settings.from_environment().encryption_keys)
        refuse_moving_configurations(get_cluster(cluster), kubeconfig, box)
        sealed = box.seal(kubeconfig)
        record, created = put_cluster(cluster=cluster, sealed_kubeconfig=sealed, now=format_timestamp(utc_now()))
        issue_at_registration(record.cluster.storage_key, kubeconfig)
        log.info("cluster registered: cluster=%s created=%s", record.cluster.id, created)
        return json_response(201 if created else 200, record.to_json())
    record = get_cluster(cluster)
    if req.method == "GET":
        if record is None:
            raise cluster_not_found(cluster)
        return json_response(200, record.to_json())
    if record is None:
        return func.HttpResponse(status_code=204)
    remaining = what_remains(cluster)
    if remaining and not forced(req):
        raise ConflictError("ClusterHasConfigurations",
                            f"The cluster '{record.cluster.id}' still has source control configurations "
                            f"({named(remaining)}); delete them and wait for their deletion to end before "
                            "unregistering the cluster, or unregister with force=true (their objects may remain "
                            "on the cluster).", "clusterName")
    if remaining:
        abandon_everything_on(cluster)
    delete_cluster(cluster)
    log.info("cluster unregistered: cluster=%s", record.cluster.id)
    return json_response(200, record.to_json())


def forced(req: func.HttpRequest) -> bool:
    return (req.params.get("force") or "").lower() == "true"


def named(names: list[str]) -> str:
    """At most MAX_NAMED quoted names, and how many more."""
    return ", ".join(f"'{name}'" for name in names[:MAX_NAMED]) + (
        f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")


def refuse_moving_configurations(existing: ClusterRecord | None, kubeconfig: str, box: SecretBox) -> None:
    """409 when a re-registration points at another API server or CA while configurations exist.

    Why: the workflows would push those configurations' deploy keys and https credentials to whatever
    server the new kubeconfig names. Same server and CA (a new token, say) is a plain replacement.
    """
    if existing is None:
        return
    before = server_identity(existing.kubeconfig(box))
    if before is not None and before == server_identity(kubeconfig):
        return
    names = sorted(configuration_names(existing.cluster.storage_key))
    if not names:
        return
    shown = named(names)
    raise ConflictError("ClusterHasConfigurations",
                        f"The cluster '{existing.cluster.id}' has source control configurations ({shown}); "
                        "delete them before registering it with another API server or certificate authority.",
                        "properties.kubeconfig")


@bp.function_name("connected_clusters_in_group")
@bp.route(route=routes.CONNECTED_CLUSTERS_IN_GROUP, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@arm_endpoint
def clusters_in_group_endpoint(req: func.HttpRequest) -> func.HttpResponse:
    return list_endpoint(req)


@bp.function_name("connected_clusters")
@bp.route(route=routes.CONNECTED_CLUSTERS, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@arm_endpoint
def clusters_endpoint(req: func.HttpRequest) -> func.HttpResponse:
    return list_endpoint(req)


def list_endpoint(req: func.HttpRequest) -> func.HttpResponse:
    """`az connectedk8s list`: the registered connected clusters of a subscription or resource group."""
    require_api_version(req)
    group = routes.route_value(req, "resourceGroupName") if "resourceGroupName" in req.route_params else None
    subscription, resource_group = parse_list_scope(routes.route_value(req, "subscriptionId"), group)
    records = list_clusters(subscription, resource_group=resource_group, provider="Microsoft.Kubernetes",
                            resource_type="connectedClusters")
    return json_response(200, {"value": [record.to_json() for record in records]})
