"""A Kubernetes client for a registered cluster, reused across the activities of this process.

Why: every create and delete runs several activities against the same cluster. Reading the cluster row,
decrypting its kubeconfig and building a new `ApiClient` each time (YAML parse, temporary certificate
files, a fresh connection pool and TLS handshake) was a fifth of the host's CPU on the create path and
two table reads per create (bench/README.md).

- Clients are kept per kubeconfig (by its SHA-256), so re-registering a cluster with a new kubeconfig
  gets a new client, and connections are reused otherwise. `ApiClient` is safe to share between the
  worker threads (urllib3's pool manager is thread-safe; we never mutate the client after creating it).
- A cluster's kubeconfig is remembered for `KUBECONFIG_TTL` only: a re-registration or an unregistration
  reaches the workflows within that time. A cluster that is not registered is never remembered. The API
  itself always reads the cluster row (it decides whether a PUT is accepted).
- Decrypted kubeconfigs live in this process's memory only, as they did for an activity's lifetime.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict

from kubernetes import client as k8s

from shared.clusters import ClusterRecord, get_cluster_by_key
from shared.kube import ClusterUnreachableError, api_client
from shared.secrets import SecretBox
from shared.settings import Settings

KUBECONFIG_TTL = 5.0  # seconds
MAX_CLIENTS = 32

_lock = threading.Lock()
_kubeconfigs: dict[str, tuple[float, str]] = {}  # cluster key -> (expires at, kubeconfig)
_clients: OrderedDict[str, k8s.ApiClient] = OrderedDict()  # kubeconfig digest -> client


def client_for_kubeconfig(kubeconfig: str) -> k8s.ApiClient:
    """A shared client for this kubeconfig (made on first use; the least recently used are dropped)."""
    digest = hashlib.sha256(kubeconfig.encode("utf-8")).hexdigest()
    with _lock:
        client = _clients.get(digest)
        if client is not None:
            _clients.move_to_end(digest)
            return client
    client = api_client(kubeconfig)
    with _lock:
        client = _clients.setdefault(digest, client)
        _clients.move_to_end(digest)
        while len(_clients) > MAX_CLIENTS:
            _clients.popitem(last=False)  # NB: not closed: another thread may still be using it
    return client


def decrypted_kubeconfig(cluster: ClusterRecord) -> str:
    return cluster.kubeconfig(SecretBox(Settings.from_environment().encryption_keys))


def client_for_record(cluster: ClusterRecord) -> k8s.ApiClient:
    return client_for_kubeconfig(decrypted_kubeconfig(cluster))


def cluster_client(cluster_key: str) -> k8s.ApiClient:
    """The client of the cluster a configuration points at; `ClusterUnreachableError` if it is gone."""
    now = time.monotonic()
    with _lock:
        cached = _kubeconfigs.get(cluster_key)
    if cached is not None and cached[0] > now:
        return client_for_kubeconfig(cached[1])
    cluster = get_cluster_by_key(cluster_key)
    if cluster is None:
        with _lock:
            _kubeconfigs.pop(cluster_key, None)
        raise ClusterUnreachableError("the cluster is no longer registered")
    kubeconfig = decrypted_kubeconfig(cluster)
    with _lock:
        _kubeconfigs[cluster_key] = (now + KUBECONFIG_TTL, kubeconfig)
    return client_for_kubeconfig(kubeconfig)
