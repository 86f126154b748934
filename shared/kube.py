"""Talking to a cluster through its registered kubeconfig only, with the official `kubernetes` client.

The service never knows whether the cluster is real or the local emulator. Objects are applied
idempotently: create, and on 409 AlreadyExists a JSON merge patch of our manifest (we own these objects,
so replacing their lists wholesale is what we want).
"""

from __future__ import annotations

import json
import os
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from shared.kubeconfigs import ClusterCredentials, KubeconfigRefused, vet_kubeconfig

REQUEST_TIMEOUT = (5, 30)  # connect, read seconds


@dataclass(frozen=True)
class Kind:
    group_version: str  # "v1" or "apps/v1"
    plural: str
    namespaced: bool

    def collection_path(self, namespace: str | None) -> str:
        """The kind's collection in `namespace`; with None, across all namespaces (lists only)."""
        base = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        if self.namespaced and namespace is not None:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"


KINDS: dict[str, Kind] = {
    "Namespace": Kind("v1", "namespaces", False),
    "ServiceAccount": Kind("v1", "serviceaccounts", True),
    "Secret": Kind("v1", "secrets", True),
    "ConfigMap": Kind("v1", "configmaps", True),
    "Service": Kind("v1", "services", True),
    "Deployment": Kind("apps/v1", "deployments", True),
    "ClusterRoleBinding": Kind("rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": Kind("rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": Kind("rbac.authorization.k8s.io/v1", "rolebindings", True),
}


class ClusterUnreachableError(RuntimeError):
    """The cluster could not be reached or refused our credentials; the message says which, without secrets."""


def api_client(kubeconfig_text: str) -> k8s.ApiClient:
    """A client built from the kubeconfig's vetted fields only (shared/kubeconfigs.py), never by a loader.

    NB: urllib3's own retries are off (callers retry with backoff), so an unreachable cluster is one
    error per attempt, not three "Retrying ..." warnings, and a redirect is answered, never followed.
    """
    try:
        credentials = vet_kubeconfig(kubeconfig_text)
    except KubeconfigRefused as error:
        raise ClusterUnreachableError(f"the registered kubeconfig is refused: {error}") from None
    configuration = k8s.Configuration(host=credentials.server, retries=False)
    configuration.verify_ssl = not credentials.insecure
    if credentials.ca_pem:
        configuration.ca_cert_data = credentials.ca_pem.decode("ascii")
    if credentials.token:
        configuration.api_key = {"authorization": f"Bearer {credentials.token}"}
    elif credentials.username is not None:
        basic = urllib3.util.make_headers(basic_auth=f"{credentials.username}:{credentials.password}")
        configuration.api_key = {"authorization": basic["authorization"]}
    files = _client_certificate_files(credentials, configuration)
    client = k8s.ApiClient(configuration)
    for fd in files:
        weakref.finalize(client, os.close, fd)  # the memory files live exactly as long as the client
    return client


def _client_certificate_files(credentials: ClusterCredentials, configuration: k8s.Configuration) -> list[int]:
    """The client certificate and key as anonymous memory files (`memfd`), named by `/proc/self/fd/N`.

    Why: urllib3 and `ssl` load a client certificate from a path only, on each new connection. A memory
    file is readable only through this process, is never on a disk, and is gone when the process is
    (a kill -9 included), where a temporary file would stay behind with the key in it.
    """
    if credentials.client_certificate_pem is None or credentials.client_key_pem is None:
        return []
    if not hasattr(os, "memfd_create"):
        raise ClusterUnreachableError("client certificate authentication needs Linux (memfd_create)")
    fds = []
    for name, pem in (("client-certificate", credentials.client_certificate_pem),
                      ("client-key", credentials.client_key_pem)):
        fd = os.memfd_create(name, os.MFD_CLOEXEC)
        os.write(fd, pem)
        fds.append(fd)
    configuration.cert_file, configuration.key_file = (f"/proc/self/fd/{fd}" for fd in fds)
    return fds


def server_version(client: k8s.ApiClient) -> str:
    """`/version` of the cluster: the cheapest proof that it is reachable and accepts our credentials."""
    try:
        info = k8s.VersionApi(client).get_code(_request_timeout=REQUEST_TIMEOUT)
    except ApiException as error:
        raise ClusterUnreachableError(f"the cluster answered {error.status} {error.reason} to /version") from None
    except Exception as error:  # noqa: BLE001 - urllib3 connection/TLS errors
        raise ClusterUnreachableError(f"the cluster at {client.configuration.host} is unreachable: "
                                      f"{type(error).__name__}") from None
    return info.git_version


def _call(client: k8s.ApiClient, method: str, path: str, body: Any = None,
          content_type: str = "application/json") -> Any:
    """One raw API call; a non-2xx answer raises `ApiException` with the server's `Status` body."""
    request = client.param_serialize(method, path, body=body, auth_settings=["BearerToken"],
                                     header_params={"Content-Type": content_type, "Accept": "application/json"})
    response = client.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
    response.read()
    return client.response_deserialize(response, {"2XX": "object"}).data


# The labels that say who made an object: an existing object is ours to update only when it carries the same
# values as our manifest (shared/manifests.py ownership_labels).
OWNER_LABELS = ("app.kubernetes.io/managed-by", "gitops.azure.local/configuration")


class NotOursError(ApiException):
    """An object of our manifest's name exists and was not made by us: we never take it over (or delete it)."""

    def __init__(self, where: str) -> None:
        message = f"{where} exists and is not managed by this configuration; it was left unchanged"
        super().__init__(status=409, reason="Conflict",
                         body=json.dumps({"reason": "AlreadyExists", "message": message}))


def made_by_us(manifest: dict[str, Any], existing: dict[str, Any]) -> bool:
    wanted = manifest["metadata"].get("labels") or {}
    found = existing.get("metadata", {}).get("labels") or {}
    owners = [key for key in OWNER_LABELS if key in wanted]
    return bool(owners) and all(found.get(key) == wanted[key] for key in owners)


def apply_object(client: k8s.ApiClient, manifest: dict[str, Any]) -> str:
    """Create, or merge-patch what we made before; returns "created", "updated" or "kept".

    A Namespace that already exists is kept as it is (not labelled as ours, so a delete leaves it and
    everything in it); any other existing object that we did not make raises `NotOursError`.
    """
    kind = KINDS[manifest["kind"]]
    namespace = manifest["metadata"].get("namespace")
    collection = kind.collection_path(namespace)
    try:
        _call(client, "POST", collection, body=manifest)
        return "created"
    except ApiException as error:
        if error.status != 409:
            raise
    path = f"{collection}/{manifest['metadata']['name']}"
    existing = _call(client, "GET", path)
    if not made_by_us(manifest, existing or {}):
        if manifest["kind"] == "Namespace":
            return "kept"
        raise NotOursError("/".join(p for p in (manifest["kind"], namespace, manifest["metadata"]["name"]) if p))
    _call(client, "PATCH", path, body=json.loads(json.dumps(manifest)), content_type="application/merge-patch+json")
    return "updated"


def apply_objects(client: k8s.ApiClient, manifests: Iterable[dict[str, Any]]) -> list[str]:
    """Apply in order; returns `Kind/namespace/name` of each object applied."""
    applied = []
    for manifest in manifests:
        apply_object(client, manifest)
        meta = manifest["metadata"]
        applied.append("/".join(p for p in (manifest["kind"], meta.get("namespace"), meta["name"]) if p))
    return applied


def describe_api_error(error: ApiException) -> str:
    """A one-line reason from a Kubernetes `Status` body (never the request, which may hold secrets)."""
    try:
        status = json.loads(error.body or "{}")
    except ValueError:
        status = {}
    return f"{error.status} {status.get('reason') or error.reason}: {status.get('message') or ''}".strip()


def list_labelled_objects(client: k8s.ApiClient, label_selector: str) -> list[tuple[str, dict[str, Any]]]:
    """`(kind, object)` of every object of `KINDS` matching `label_selector`, namespaces last."""
    found = []
    for kind_name in sorted(KINDS, key=lambda k: k == "Namespace"):
        kind = KINDS[kind_name]
        listing = _call(client, "GET", f"{kind.collection_path(None)}?labelSelector={quote(label_selector)}")
        found += [(kind_name, obj) for obj in listing.get("items", [])]
    return found


def delete_owned_objects(client: k8s.ApiClient, *, label_selector: str, keep) -> list[str]:
    """Delete every object of `KINDS` matching `label_selector` unless `keep(kind, obj)`; namespaces last.

    Returns `Kind/namespace/name` of each matching object still present afterwards (being deleted counts:
    a finalizer may hold it), so a caller can retry until nothing remains.
    """
    remaining: list[str] = []
    for kind_name, obj in list_labelled_objects(client, label_selector):
        meta = obj["metadata"]
        if keep(kind_name, obj):
            continue
        kind = KINDS[kind_name]
        path = f"{kind.collection_path(meta.get('namespace'))}/{meta['name']}"
        if not meta.get("deletionTimestamp"):
            try:
                _call(client, "DELETE", path, body={"propagationPolicy": "Background"})
            except ApiException as error:
                if error.status != 404:
                    raise
                continue
        try:
            _call(client, "GET", path)
        except ApiException as error:
            if error.status == 404:
                continue
            raise
        remaining.append("/".join(p for p in (kind_name, meta.get("namespace"), meta["name"]) if p))
    return remaining
