"""Unregistering a cluster: refused while anything of the service may still be on it, unless forced.

Why: the delete workflows and the cleanup timer reach a cluster only through its registration. Unregistering
a cluster under a configuration or a running deletion would leave their objects behind while the deletion
ends as if it had removed them.
"""

from __future__ import annotations

import logging

from shared import pending
from shared.configurations import get_configuration_by_keys, iterate_configurations, remove_configuration
from shared.deletion import finish_deletion
from shared.operations import FAILED
from shared.resource_ids import ClusterId
from shared.workflows import delete_instance_id

log = logging.getLogger("gitops.unregistration")
FORCED_MESSAGE = ("The cluster was unregistered with force=true before this deletion ended: the configuration's "
                  "objects may remain on the cluster.")


def what_remains(cluster: ClusterId) -> list[str]:
    """Names of the cluster's configurations and of the ones whose deletion is still running."""
    names = {record.name for record in iterate_configurations(cluster)}
    names |= {f"{entry.name} (being deleted)" for entry in pending.deletes_on(cluster.storage_key)}
    return sorted(names)


def abandon_everything_on(cluster: ClusterId) -> int:
    """For `?force=true`: every configuration is marked deleted and every running deletion ends Failed, saying
    that objects may remain. Returns how many were abandoned."""
    abandoned = 0
    for record in list(iterate_configurations(cluster)):
        current = get_configuration_by_keys(record.cluster_key, record.name)
        if current is not None and remove_configuration(current):
            pending.settle_create(current.cluster_key, current.name, current.generation)
            abandoned += 1
    for entry in pending.deletes_on(cluster.storage_key):
        finish_deletion(operation_id=entry.operation_id, instance_id=delete_instance_id(entry.operation_id),
                        status=FAILED, message=FORCED_MESSAGE, finished_by="forced unregistration")
        abandoned += 1
    log.warning("cluster unregistered by force: cluster=%s abandoned=%d", cluster.id, abandoned)
    return abandoned
