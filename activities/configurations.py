"""Activities of the create workflow: each does one thing, reads what it needs by reference, may run twice."""

from __future__ import annotations

import base64
import logging
from dataclasses import replace
from typing import Any

import azure.durable_functions as df
from kubernetes.client.exceptions import ApiException

from shared.agent_keys import ensure_agent_key, push_agent_key
from shared.cluster_access import cluster_client
from shared.configurations import (
    ConfigurationRecord,
    get_configuration_by_keys,
    update_configuration,
)
from shared.deploy_keys import generate_deploy_key
from shared.kube import ClusterUnreachableError, apply_objects, describe_api_error, server_version
from shared.manifests import OperatorSpec, operator_manifests
from shared.secrets import SecretBox
from shared.settings import Settings
from shared.validation import repository_url_kind
from shared.verdicts import record_verdict
from shared.workflows import ConfigurationRef

bp = df.Blueprint()
log = logging.getLogger("gitops.workflow")


def current_record(ref: ConfigurationRef) -> ConfigurationRecord | None:
    """The record this workflow works for, or None when it was deleted or re-specified since."""
    record = get_configuration_by_keys(ref.cluster_key, ref.name)
    if record is None or record.generation != ref.generation:
        return None
    return record


def secret_box() -> SecretBox:
    return SecretBox(Settings.from_environment().encryption_keys)


@bp.activity_trigger(input_name="ref")
def check_cluster_reachable(ref: dict[str, Any]) -> dict[str, Any]:
    """`{"ok": true, "version": ...}` or `{"ok": false, "message": ...}`; a finding, not a failure."""
    configuration = ConfigurationRef.from_json(ref)
    try:
        version = server_version(cluster_client(configuration.cluster_key))
    except ClusterUnreachableError as error:
        log.warning("cluster unreachable: configuration=%s reason=%s", configuration.configuration_id, error)
        return {"ok": False, "message": str(error)}
    return {"ok": True, "version": version}


@bp.activity_trigger(input_name="ref")
def ensure_deploy_key(ref: dict[str, Any]) -> str | None:
    """The public half of the configuration's generated deploy key, making it once if it has none.

    NB: generation and storage race only with themselves: the key is stored by a conditional write that
    keeps an already stored key, so a retried or replayed activity returns the same key every time.
    """
    configuration = ConfigurationRef.from_json(ref)
    record = current_record(configuration)
    if record is None or not needs_generated_key(record, secret_box()):
        return record.repository_public_key if record else None
    if record.sealed_generated_key:
        return record.repository_public_key
    algorithm = Settings.from_environment().ssh_key_algorithm
    key = generate_deploy_key(algorithm)
    sealed = secret_box().seal(key.private_openssh)

    def keep_first_key(current: ConfigurationRecord) -> ConfigurationRecord | None:
        if current.sealed_generated_key:
            return None
        return replace(current, sealed_generated_key=sealed, repository_public_key=key.public_openssh)

    stored = update_configuration(record, keep_first_key)
    final = stored or get_configuration_by_keys(configuration.cluster_key, configuration.name)
    log.info("deploy key ready: configuration=%s algorithm=%s", configuration.configuration_id, algorithm)
    return final.repository_public_key if final else None


def needs_generated_key(record: ConfigurationRecord, box: SecretBox) -> bool:
    if repository_url_kind(record.properties["repositoryUrl"]) != "ssh":
        return False
    settings = box.open(record.sealed_protected_settings) if record.sealed_protected_settings else {}
    return not settings.get("sshPrivateKey")


def operator_spec(record: ConfigurationRecord, box: SecretBox) -> OperatorSpec:
    """The manifests' input, with secrets decoded for this activity's lifetime only."""
    settings = box.open(record.sealed_protected_settings) if record.sealed_protected_settings else {}
    properties = record.properties

    def decoded(value: str | None) -> bytes | None:
        return base64.b64decode(value) if value else None

    private_key = decoded(settings.get("sshPrivateKey"))
    if private_key is None and record.sealed_generated_key:
        private_key = box.open(record.sealed_generated_key).encode("ascii")
    return OperatorSpec(
        configuration_id=record.id, name=record.name, repository_url=properties["repositoryUrl"],
        operator_namespace=properties["operatorNamespace"], operator_instance_name=properties["operatorInstanceName"],
        operator_params=properties["operatorParams"], operator_scope=properties["operatorScope"],
        enable_helm_operator=properties["enableHelmOperator"],
        helm_operator_properties=properties["helmOperatorProperties"],
        ssh_private_key=private_key, ssh_known_hosts=decoded(properties.get("sshKnownHostsContents")),
        https_user=decoded(settings.get("httpsUser")), https_key=decoded(settings.get("httpsKey")),
        generation=record.generation,
    )


@bp.activity_trigger(input_name="ref")
def apply_operator_manifests(ref: dict[str, Any]) -> dict[str, Any]:
    """Create or update every operator object; `{"applied": [...]}` or `{"error": ...}` for a cluster refusal."""
    configuration = ConfigurationRef.from_json(ref)
    record = current_record(configuration)
    if record is None:
        return {"stale": True, "applied": []}
    box = secret_box()
    try:
        client = cluster_client(configuration.cluster_key)
        push_agent_key(client, ensure_agent_key(box, configuration.cluster_key))
        applied = apply_objects(client, operator_manifests(operator_spec(record, box)))
    except ClusterUnreachableError as error:
        return {"error": str(error)}
    except ApiException as error:
        if error.status and 400 <= error.status < 500:
            return {"error": f"the cluster refused an operator object: {describe_api_error(error)}"}
        raise  # 5xx and connection trouble: the workflow retries
    log.info("operator applied: configuration=%s objects=%d", configuration.configuration_id, len(applied))
    return {"applied": applied}


@bp.activity_trigger(input_name="update")
def record_compliance(update: dict[str, Any]) -> bool:
    """Store the workflow's verdict on the configuration it works for; False when that one is stale."""
    return record_verdict(ConfigurationRef.from_json(update["ref"]), state=update["state"],
                          message=update.get("message") or "", message_level=update.get("messageLevel"),
                          last_config_applied=update.get("lastConfigApplied"), observed_at=update.get("observedAt"),
                          claim=update.get("claim"), recorded=bool(update.get("recorded")))
