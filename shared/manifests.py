"""The Flux v1 operator objects a configuration puts on its cluster (SPEC section 4, step 4).

Pure functions: a configuration's public properties (and references to its secrets) in, Kubernetes
objects out. Every object carries labels and an annotation naming its configuration, so the delete
workflow and the cleanup timer can find it, and orphans can be told from objects synced from Git.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from shared.operator_params import parse_operator_params

FLUX_IMAGE = "docker.io/fluxcd/flux:1.16.0"
MEMCACHED_IMAGE = "memcached:1.5.15"
HELM_OPERATOR_IMAGE = "docker.io/fluxcd/helm-operator:{version}"
GIT_DEPLOY_SECRET = "flux-git-deploy"
GIT_AUTH_SECRET = "flux-git-auth"

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "gitops-config-service"
CONFIGURATION_LABEL = "gitops.azure.local/configuration"
CONFIGURATION_NAME_LABEL = "gitops.azure.local/configuration-name"
CONFIGURATION_ID_ANNOTATION = "gitops.azure.local/configuration-id"
# NB: which PUT (generation) the objects were last applied for: re-applying a re-PUT changes it, so the agent
# sees the Deployment change and reports its state again for the workflow of that generation.
GENERATION_ANNOTATION = "gitops.azure.local/configuration-generation"


def configuration_hash(configuration_id: str) -> str:
    """A label-safe fingerprint of the (case-insensitive) configuration id."""
    return hashlib.sha256(configuration_id.lower().encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class OperatorSpec:
    """What the manifests need; secrets are present only while an activity applies them."""

    configuration_id: str
    name: str
    repository_url: str
    operator_namespace: str
    operator_instance_name: str
    operator_params: str
    operator_scope: str
    enable_helm_operator: bool
    helm_operator_properties: dict[str, Any] | None
    ssh_private_key: bytes | None = None
    ssh_known_hosts: bytes | None = None
    https_user: bytes | None = None
    https_key: bytes | None = None
    generation: int = 1


def ownership_labels(spec: OperatorSpec) -> dict[str, str]:
    return {
        MANAGED_BY_LABEL: MANAGED_BY,
        CONFIGURATION_LABEL: configuration_hash(spec.configuration_id),
        CONFIGURATION_NAME_LABEL: spec.name,
    }


def metadata(spec: OperatorSpec, name: str, *, namespaced: bool = True,
             labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "labels": {**ownership_labels(spec), **(labels or {})},
        "annotations": {CONFIGURATION_ID_ANNOTATION: spec.configuration_id,
                        GENERATION_ANNOTATION: str(spec.generation)},
    }
    if namespaced:
        meta["namespace"] = spec.operator_namespace
    return meta


def flux_args(spec: OperatorSpec) -> list[str]:
    """The flux daemon's arguments: what the service decides, then the user's operatorParams."""
    url = spec.repository_url
    if spec.https_user is not None:
        scheme, rest = url.split("://", 1)
        url = f"{scheme}://$(GIT_AUTHUSER):$(GIT_AUTHKEY)@{rest}"
    args = [
        f"--git-url={url}",
        f"--k8s-secret-name={GIT_DEPLOY_SECRET}",
        f"--memcached-hostname=memcached.{spec.operator_namespace}",
        "--memcached-service=",
        "--listen-metrics=:3031",
        "--ssh-keygen-dir=/var/fluxd/keygen",
    ]
    if spec.operator_scope == "namespace":
        args.append(f"--k8s-allow-namespace={spec.operator_namespace}")
    # NB: one `--flag=value` argument per parameter, whichever form the user wrote, so fluxd and the agent's
    # local sync read the same flags.
    return args + [param.as_arg() for param in parse_operator_params(spec.operator_params)]


def namespace_manifest(spec: OperatorSpec) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(spec, spec.operator_namespace,
                                                                          namespaced=False)}


def service_account_manifest(spec: OperatorSpec) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": metadata(spec, spec.operator_instance_name)}


def rbac_manifests(spec: OperatorSpec) -> list[dict[str, Any]]:
    """cluster scope: a ClusterRoleBinding to cluster-admin; namespace scope: a Role and RoleBinding only."""
    subject = [{"kind": "ServiceAccount", "name": spec.operator_instance_name,
                "namespace": spec.operator_namespace}]
    if spec.operator_scope == "cluster":
        name = f"{spec.operator_instance_name}-{spec.operator_namespace}"
        return [{
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": metadata(spec, name, namespaced=False),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": subject,
        }]
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": metadata(spec, spec.operator_instance_name),
         "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": metadata(spec, spec.operator_instance_name),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": spec.operator_instance_name},
         "subjects": subject},
    ]


def git_deploy_secret(spec: OperatorSpec) -> dict[str, Any]:
    """`identity` (the SSH private key) and `known_hosts`, as flux mounts them; empty for https/git URLs."""
    data = {}
    if spec.ssh_private_key is not None:
        data["identity"] = base64.b64encode(spec.ssh_private_key).decode("ascii")
    if spec.ssh_known_hosts is not None:
        data["known_hosts"] = base64.b64encode(spec.ssh_known_hosts).decode("ascii")
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": metadata(spec, GIT_DEPLOY_SECRET), "data": data}


def git_auth_secret(spec: OperatorSpec) -> dict[str, Any] | None:
    if spec.https_user is None or spec.https_key is None:
        return None
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": metadata(spec, GIT_AUTH_SECRET),
            "data": {"GIT_AUTHUSER": base64.b64encode(spec.https_user).decode("ascii"),
                     "GIT_AUTHKEY": base64.b64encode(spec.https_key).decode("ascii")}}


def flux_deployment(spec: OperatorSpec) -> dict[str, Any]:
    selector = {"instanceName": spec.operator_instance_name, "name": "flux"}
    container: dict[str, Any] = {
        "name": "flux",
        "image": FLUX_IMAGE,
        "args": flux_args(spec),
        "ports": [{"containerPort": 3030, "name": "http"}],
        "volumeMounts": [{"name": "git-key", "mountPath": "/etc/fluxd/ssh", "readOnly": True},
                         {"name": "git-keygen", "mountPath": "/var/fluxd/keygen"}],
    }
    if spec.https_user is not None:
        container["envFrom"] = [{"secretRef": {"name": GIT_AUTH_SECRET}}]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": metadata(spec, spec.operator_instance_name, labels=selector),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"labels": {**selector, **ownership_labels(spec)}},
                "spec": {
                    "serviceAccountName": spec.operator_instance_name,
                    "volumes": [{"name": "git-key", "secret": {"secretName": GIT_DEPLOY_SECRET,
                                                               "defaultMode": 0o400}},
                                {"name": "git-keygen", "emptyDir": {"medium": "Memory"}}],
                    "containers": [container],
                },
            },
        },
    }


def memcached_manifests(spec: OperatorSpec) -> list[dict[str, Any]]:
    selector = {"name": "memcached", "instanceName": spec.operator_instance_name}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(spec, "memcached", labels=selector),
         "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                  "template": {"metadata": {"labels": {**selector, **ownership_labels(spec)}},
                               "spec": {"containers": [{
                                   "name": "memcached", "image": MEMCACHED_IMAGE,
                                   "args": ["-m 512", "-I 5m", "-p 11211"],
                                   "ports": [{"name": "clients", "containerPort": 11211}]}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": metadata(spec, "memcached", labels=selector),
         "spec": {"ports": [{"name": "memcached", "port": 11211}], "selector": selector}},
    ]


def helm_operator_manifests(spec: OperatorSpec) -> list[dict[str, Any]]:
    if not spec.enable_helm_operator:
        return []
    properties = spec.helm_operator_properties or {}
    version = properties.get("chartVersion") or "1.2.0"
    name = f"{spec.operator_instance_name}-helm-operator"
    selector = {"name": "helm-operator", "instanceName": spec.operator_instance_name}
    values = properties.get("chartValues") or ""
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(spec, f"{name}-values"),
         "data": {"chartValues": values, "chartVersion": version}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata(spec, name, labels=selector),
         "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                  "template": {"metadata": {"labels": {**selector, **ownership_labels(spec)}},
                               "spec": {"serviceAccountName": spec.operator_instance_name,
                                        "containers": [{"name": "flux-helm-operator",
                                                        "image": HELM_OPERATOR_IMAGE.format(version=version),
                                                        "args": ["--enabled-helm-versions=v3"]}]}}}},
    ]


def operator_manifests(spec: OperatorSpec) -> list[dict[str, Any]]:
    """Every object, in the order they must be applied (namespace first, workloads last)."""
    objects = [namespace_manifest(spec), service_account_manifest(spec), *rbac_manifests(spec),
               git_deploy_secret(spec)]
    auth = git_auth_secret(spec)
    if auth is not None:
        objects.append(auth)
    return objects + memcached_manifests(spec) + [flux_deployment(spec)] + helm_operator_manifests(spec)
