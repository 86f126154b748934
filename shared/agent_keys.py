"""Per-cluster agent keys (SPEC section 5): the HMAC key a cluster's agent signs its status events with.

Issued once when a cluster is first registered (a re-registration keeps it, so running agents go on
working), kept sealed in table `agentkeys` (PartitionKey/RowKey as the cluster's), and written into the
Secret `gitops-agent-key` (data key `key`) in the agent's namespace `azure-arc` on that cluster, where the
agent reads it with its own kubeconfig. Only the sealed form is stored; the key never leaves this module
except towards that Secret and the status handler's verification.
"""

from __future__ import annotations

import base64
import logging
import secrets
import threading
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from kubernetes import client as k8s

from shared.cluster_access import client_for_kubeconfig
from shared.kube import apply_objects
from shared.secrets import SecretBox, SecretsKeyError
from shared.settings import Settings
from shared.tables import table

AGENT_KEYS_TABLE = "agentkeys"
AGENT_NAMESPACE = "azure-arc"
AGENT_KEY_SECRET = "gitops-agent-key"
AGENT_KEY_DATA = "key"
AGENT_KEY_LABEL = "gitops.azure.local/agent-key"
KEY_BYTES = 32
REGISTRATION_PUSH_TIMEOUT = 3.0  # seconds a cluster registration waits for the Secret to be written

log = logging.getLogger("gitops.agentkeys")


def _keys(storage_key: str) -> tuple[str, str]:
    partition, _, row = storage_key.partition("|")
    return partition, row


def agent_key(box: SecretBox, storage_key: str) -> bytes | None:
    """The cluster's key, or None when it has none (or one sealed with keys this service no longer has)."""
    partition, row = _keys(storage_key)
    try:
        entity = table(AGENT_KEYS_TABLE).get_entity(partition, row)
    except ResourceNotFoundError:
        return None
    try:
        return base64.b64decode(box.open(entity["SealedKey"]))
    except (SecretsKeyError, KeyError, ValueError):
        return None


def ensure_agent_key(box: SecretBox, storage_key: str) -> bytes:
    """The cluster's key, issuing it on first use. Idempotent and race-safe: an insert-only write, so two
    callers end up with the same stored key. A key this service cannot open any more is replaced."""
    existing = agent_key(box, storage_key)
    if existing is not None:
        return existing
    partition, row = _keys(storage_key)
    key = secrets.token_bytes(KEY_BYTES)
    entity = {"PartitionKey": partition, "RowKey": row, "SealedKey": box.seal(base64.b64encode(key).decode())}
    try:
        table(AGENT_KEYS_TABLE).create_entity(entity)
    except ResourceExistsError:
        stored = agent_key(box, storage_key)
        if stored is not None:
            return stored
        table(AGENT_KEYS_TABLE).upsert_entity(entity)
        log.warning("agent key replaced: cluster=%s reason=unreadable-with-current-keys", storage_key)
        return key
    log.info("agent key issued: cluster=%s", storage_key)
    return key


def agent_key_manifests(key: bytes) -> list[dict[str, Any]]:
    """The agent's namespace and the Secret holding its key, labelled as the service's (not a configuration's:
    no configuration label, so neither a delete nor the orphan sweep ever selects them)."""
    labels = {"app.kubernetes.io/managed-by": "gitops-config-service", AGENT_KEY_LABEL: "true"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": AGENT_NAMESPACE, "labels": labels}},
        {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
         "metadata": {"name": AGENT_KEY_SECRET, "namespace": AGENT_NAMESPACE, "labels": labels},
         "data": {AGENT_KEY_DATA: base64.b64encode(key).decode("ascii")}},
    ]


def push_agent_key(client: k8s.ApiClient, key: bytes) -> None:
    """Create or update the agent's Secret on the cluster (the create workflow's apply step calls it too)."""
    apply_objects(client, agent_key_manifests(key))


def issue_at_registration(storage_key: str, kubeconfig: str) -> None:
    """Issue (or keep) the cluster's key and try to write it to the cluster, waiting a few seconds at most.

    NB: a registration of a cluster that cannot be reached yet still succeeds; the create workflow's
    apply step writes the Secret before any operator needs reporting.
    """
    key = ensure_agent_key(SecretBox(Settings.from_environment().encryption_keys), storage_key)
    outcome: dict[str, str] = {}

    def push() -> None:
        try:
            push_agent_key(client_for_kubeconfig(kubeconfig), key)
            outcome["result"] = "written"
        except Exception as error:  # noqa: BLE001 - any failure: the workflow's apply step writes it later
            outcome["result"] = f"deferred ({type(error).__name__})"

    worker = threading.Thread(target=push, name="agent-key-push", daemon=True)
    worker.start()
    worker.join(REGISTRATION_PUSH_TIMEOUT)
    log.info("agent key secret: cluster=%s result=%s", storage_key, outcome.get("result", "deferred (timeout)"))
