"""The resource JSON of SPEC section 2, built from stored records: one definition for API, CLI and tests."""

from __future__ import annotations

from typing import Any

from shared.configurations import ConfigurationRecord
from shared.resource_ids import CONFIGURATION_TYPE
from shared.validation import ConfigurationInput

PUBLIC_PROPERTY_ORDER = (
    "repositoryUrl", "operatorNamespace", "operatorInstanceName", "operatorType", "operatorParams",
    "operatorScope", "sshKnownHostsContents", "enableHelmOperator", "helmOperatorProperties",
)


def public_properties(spec: ConfigurationInput) -> dict[str, Any]:
    """The client-set properties that may be shown back: everything but the protected settings."""
    return {
        "repositoryUrl": spec.repository_url,
        "operatorNamespace": spec.operator_namespace,
        "operatorInstanceName": spec.operator_instance_name,
        "operatorType": spec.operator_type,
        "operatorParams": spec.operator_params,
        "operatorScope": spec.operator_scope,
        "sshKnownHostsContents": spec.ssh_known_hosts_contents or "",
        "enableHelmOperator": spec.enable_helm_operator,
        "helmOperatorProperties": spec.helm_operator_properties,
    }


def configuration_resource(record: ConfigurationRecord) -> dict[str, Any]:
    """The ARM resource; `configurationProtectedSettings` is write-only and always reads `{}`."""
    properties: dict[str, Any] = {key: record.properties.get(key) for key in PUBLIC_PROPERTY_ORDER}
    properties.update({
        "configurationProtectedSettings": {},
        "repositoryPublicKey": record.repository_public_key,
        "provisioningState": record.provisioning_state,
        "complianceStatus": record.compliance.to_json(),
    })
    return {
        "id": record.id,
        "name": record.name,
        "type": CONFIGURATION_TYPE,
        "systemData": record.system_data.to_json(),
        "properties": properties,
    }
