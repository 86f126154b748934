"""The Flux operator objects a configuration asks for (SPEC section 4, step 4), without a cluster."""

from __future__ import annotations

import base64
from dataclasses import replace

from cryptography.hazmat.primitives import serialization

from shared.deploy_keys import generate_deploy_key
from shared.manifests import (
    CONFIGURATION_ID_ANNOTATION,
    CONFIGURATION_LABEL,
    OperatorSpec,
    configuration_hash,
    flux_args,
    operator_manifests,
)

CONFIGURATION_ID = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/AzureArcTest/providers/"
                    "Microsoft.Kubernetes/connectedClusters/AzureArcTest1/providers/"
                    "Microsoft.KubernetesConfiguration/sourceControlConfigurations/cluster-config")


def seed_spec(**changes) -> OperatorSpec:
    seed = OperatorSpec(configuration_id=CONFIGURATION_ID, name="cluster-config",
                        repository_url="https://github.com/Azure/arc-k8s-demo", operator_namespace="cluster-config",
                        operator_instance_name="cluster-config", operator_params="--git-readonly",
                        operator_scope="cluster", enable_helm_operator=False, helm_operator_properties=None)
    return replace(seed, **changes)


def by_kind(objects: list[dict]) -> dict[str, list[dict]]:
    kinds: dict[str, list[dict]] = {}
    for obj in objects:
        kinds.setdefault(obj["kind"], []).append(obj)
    return kinds


def test_cluster_scope_seed_objects_have_the_contract_names_image_labels_and_binding():
    objects = operator_manifests(seed_spec())
    kinds = by_kind(objects)

    assert objects[0] == {"apiVersion": "v1", "kind": "Namespace", "metadata": objects[0]["metadata"]}
    assert objects[0]["metadata"]["name"] == "cluster-config"
    assert [sa["metadata"]["name"] for sa in kinds["ServiceAccount"]] == ["cluster-config"]
    (binding,) = kinds["ClusterRoleBinding"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": "cluster-admin"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "cluster-config", "namespace": "cluster-config"}]
    assert "Role" not in kinds and "RoleBinding" not in kinds
    assert [s["metadata"]["name"] for s in kinds["Secret"]] == ["flux-git-deploy"]
    deployments = {d["metadata"]["name"]: d for d in kinds["Deployment"]}
    flux = deployments["cluster-config"]
    assert flux["metadata"]["labels"]["instanceName"] == "cluster-config"
    assert flux["metadata"]["labels"]["name"] == "flux"
    (container,) = flux["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "docker.io/fluxcd/flux:1.16.0"
    assert container["args"][0] == "--git-url=https://github.com/Azure/arc-k8s-demo"
    assert container["args"][-1] == "--git-readonly"
    memcached = deployments["memcached"]["spec"]["template"]["spec"]["containers"][0]
    assert memcached["image"] == "memcached:1.5.15"
    assert [s["metadata"]["name"] for s in kinds["Service"]] == ["memcached"]
    for obj in objects:
        assert obj["metadata"]["labels"][CONFIGURATION_LABEL] == configuration_hash(CONFIGURATION_ID)
        assert obj["metadata"]["annotations"][CONFIGURATION_ID_ANNOTATION] == CONFIGURATION_ID


def test_namespace_scope_uses_a_role_and_binding_and_limits_flux_to_its_namespace():
    kinds = by_kind(operator_manifests(seed_spec(operator_scope="namespace", operator_namespace="team-a")))

    assert "ClusterRoleBinding" not in kinds
    (role,) = kinds["Role"]
    (binding,) = kinds["RoleBinding"]
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "team-a"
    assert binding["roleRef"]["kind"] == "Role"
    flux = next(d for d in kinds["Deployment"] if d["metadata"]["labels"].get("name") == "flux")
    assert "--k8s-allow-namespace=team-a" in flux["spec"]["template"]["spec"]["containers"][0]["args"]


def test_ssh_key_and_known_hosts_go_into_the_deploy_secret():
    key = generate_deploy_key("ed25519")
    kinds = by_kind(operator_manifests(seed_spec(repository_url="git@github.com:Azure/arc-k8s-demo.git",
                                                 ssh_private_key=key.private_openssh.encode(),
                                                 ssh_known_hosts=b"github.com ssh-ed25519 AAAA\n")))

    (secret,) = kinds["Secret"]
    assert base64.b64decode(secret["data"]["identity"]).decode() == key.private_openssh
    assert base64.b64decode(secret["data"]["known_hosts"]) == b"github.com ssh-ed25519 AAAA\n"


def test_https_credentials_become_an_env_secret_referenced_in_the_url():
    kinds = by_kind(operator_manifests(seed_spec(https_user=b"flux", https_key=b"token-123")))

    auth = next(s for s in kinds["Secret"] if s["metadata"]["name"] == "flux-git-auth")
    assert base64.b64decode(auth["data"]["GIT_AUTHKEY"]) == b"token-123"
    flux = next(d for d in kinds["Deployment"] if d["metadata"]["labels"].get("name") == "flux")
    container = flux["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "--git-url=https://$(GIT_AUTHUSER):$(GIT_AUTHKEY)@github.com/Azure/arc-k8s-demo"
    assert container["envFrom"] == [{"secretRef": {"name": "flux-git-auth"}}]
    assert "token-123" not in str(container)


def test_helm_operator_only_when_enabled_with_its_chart_version():
    plain = by_kind(operator_manifests(seed_spec()))
    helm = by_kind(operator_manifests(seed_spec(enable_helm_operator=True, helm_operator_properties={
        "chartVersion": "1.4.0", "chartValues": "--set helm.versions=v3"})))

    assert len(helm["Deployment"]) == len(plain["Deployment"]) + 1
    operator = next(d for d in helm["Deployment"] if d["metadata"]["name"] == "cluster-config-helm-operator")
    assert operator["spec"]["template"]["spec"]["containers"][0]["image"] == "docker.io/fluxcd/helm-operator:1.4.0"
    values = next(c for c in helm["ConfigMap"] if c["metadata"]["name"].endswith("-values"))
    assert values["data"]["chartValues"] == "--set helm.versions=v3"


def test_generated_keys_are_rsa_4096_by_default_and_ed25519_on_request():
    rsa_key = generate_deploy_key()
    loaded = serialization.load_ssh_private_key(rsa_key.private_openssh.encode(), password=None)
    assert rsa_key.public_openssh.startswith("ssh-rsa ")
    assert loaded.key_size == 4096
    assert loaded.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                            serialization.PublicFormat.OpenSSH).decode() == rsa_key.public_openssh
    assert generate_deploy_key("ed25519").public_openssh.startswith("ssh-ed25519 ")


def test_operator_params_reach_fluxd_as_one_flag_value_argument_whichever_form_was_written():
    spaced = flux_args(seed_spec(operator_params="--git-branch main --git-poll-interval 30s --git-readonly"))
    joined = flux_args(seed_spec(operator_params="--git-branch=main --git-poll-interval=30s --git-readonly"))
    assert spaced == joined
    assert spaced[-3:] == ["--git-branch=main", "--git-poll-interval=30s", "--git-readonly"]
