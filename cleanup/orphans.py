"""Orphaned operator objects: labelled as a configuration's, on a cluster, with no configuration behind them.

An object counts as ours only when it carries both our label and our id annotation and they agree (the
label is the id's hash), so objects that merely look similar are never touched. A configuration that
still exists, or whose deletion or create is pending, owns its objects and is skipped. Namespaces are never
deleted here (deleting one would take everything in it) and neither is anything synced from Git.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared import pending
from shared.cluster_access import client_for_record
from shared.clusters import ClusterRecord, iterate_clusters
from shared.configurations import configuration_names
from shared.deletion import keeps
from shared.errors import ValidationError
from shared.kube import delete_owned_objects, list_labelled_objects
from shared.manifests import CONFIGURATION_ID_ANNOTATION, CONFIGURATION_LABEL, configuration_hash
from shared.resource_ids import parse_configuration_id

log = logging.getLogger("gitops.cleanup.orphans")
PARALLEL_CLUSTERS = 4


def owners_on(objects: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """`{label hash: configuration id}` of the configurations with removable objects here (provably ours)."""
    keep = keeps(namespace_scope=True)
    owners: dict[str, str] = {}
    for kind, obj in objects:
        meta = obj["metadata"]
        label = (meta.get("labels") or {}).get(CONFIGURATION_LABEL, "")
        configuration_id = (meta.get("annotations") or {}).get(CONFIGURATION_ID_ANNOTATION, "")
        if configuration_id and configuration_hash(configuration_id) == label and not keep(kind, obj):
            owners[label] = configuration_id
    return owners


def orphans_among(owners: dict[str, str]) -> dict[str, str]:
    """The owners whose configuration no longer exists and has no deletion or create pending.

    NB: one keys-only query per cluster named in the ids (not a point read per configuration), so a sweep
    of a cluster carrying the objects of a thousand configurations costs a request, not a thousand."""
    parsed: dict[str, tuple[str, str]] = {}
    for label, configuration_id in owners.items():
        try:
            cluster, name = parse_configuration_id(configuration_id)
        except ValidationError:
            continue
        parsed[label] = (cluster.storage_key, name)
    existing = {key: configuration_names(key) for key in {key for key, _ in parsed.values()}}
    return {label: owners[label] for label, (key, name) in parsed.items()
            if name not in existing[key] and not pending.deletes_of(key, name)
            and pending.get_pending_create(key, name) is None}


def sweep_cluster(cluster: ClusterRecord) -> int:
    """Remove the orphans on one cluster; returns how many orphaned configurations' objects were removed."""
    try:
        client = client_for_record(cluster)
        owners = owners_on(list_labelled_objects(client, CONFIGURATION_LABEL))
    except Exception as error:  # noqa: BLE001 - an unreachable cluster is swept on a later run
        log.info("orphan sweep skipped: cluster=%s reason=%s", cluster.cluster.id, type(error).__name__)
        return 0
    removed = 0
    for label, configuration_id in orphans_among(owners).items():
        try:
            remaining = delete_owned_objects(client, label_selector=f"{CONFIGURATION_LABEL}={label}",
                                             keep=keeps(namespace_scope=True))
        except Exception as error:  # noqa: BLE001 - retried on the next run
            log.warning("orphans not removed: cluster=%s configuration=%s reason=%s", cluster.cluster.id,
                        configuration_id, type(error).__name__)
            continue
        removed += 1
        log.info("orphans removed: cluster=%s configuration=%s remaining=%d", cluster.cluster.id,
                 configuration_id, len(remaining))
    return removed


def sweep_orphans() -> int:
    """Sweep every registered cluster, a few at a time; returns the orphaned configurations cleaned."""
    with ThreadPoolExecutor(PARALLEL_CLUSTERS) as pool:
        return sum(pool.map(sweep_cluster, list(iterate_clusters())))
