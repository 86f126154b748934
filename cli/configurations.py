"""`k8s-configuration [flux] create|show|list|delete`: source control configurations of a cluster."""

from __future__ import annotations

import argparse
from typing import Any

from cli.context import Context
from cli.credentials import key_or_file, raw_or_base64
from cli.errors import EXIT_NOT_FOUND, CliError, api_error
from cli.output import compile_query
from cli.prompt import confirm
from cli.resources import cluster_path, configuration_path, configurations_path, flatten
from cli.waiting import wait_for
from shared.errors import ValidationError
from shared.validation import validate_configuration_body

TERMINAL_PROVISIONING = ("Succeeded", "Failed", "Canceled")
DEFAULT_CHART_VERSION = "1.2.0"


def _cluster(args: argparse.Namespace) -> str:
    return cluster_path(subscription=args.subscription, resource_group=args.resource_group,
                        cluster_type=args.cluster_type, name=args.cluster_name)


def _path(args: argparse.Namespace) -> str:
    return configuration_path(_cluster(args), args.name)


def request_body(args: argparse.Namespace) -> dict[str, Any]:
    """The ARM PUT body of `create`; only what was given (the API applies the same defaults)."""
    protected = {
        "sshPrivateKey": key_or_file(args.ssh_private_key, args.ssh_private_key_file, flag="--ssh-private-key"),
        "httpsUser": raw_or_base64(args.https_user),
        "httpsKey": raw_or_base64(args.https_key),
    }
    properties: dict[str, Any] = {
        "repositoryUrl": args.repository_url,
        "operatorNamespace": args.operator_namespace,
        "operatorInstanceName": args.operator_instance_name,
        "operatorType": args.operator_type,
        "operatorParams": args.operator_params,
        "operatorScope": args.scope,
        "configurationProtectedSettings": {k: v for k, v in protected.items() if v is not None},
        "sshKnownHostsContents": key_or_file(args.ssh_known_hosts, args.ssh_known_hosts_file,
                                             flag="--ssh-known-hosts"),
        "enableHelmOperator": args.enable_helm_operator,
    }
    if args.enable_helm_operator:
        properties["helmOperatorProperties"] = {
            "chartVersion": args.helm_operator_chart_version or DEFAULT_CHART_VERSION,
            "chartValues": args.helm_operator_params or "",
        }
    return {"properties": {key: value for key, value in properties.items() if value is not None}}


def validate(name: str, body: dict[str, Any]) -> None:
    """The API's own validation, run before sending, so a refusal reads exactly as the API's would."""
    try:
        validate_configuration_body(name, body)
    except ValidationError as error:
        raise api_error(error.code, error.message, error.target) from None


def compliance_of(resource: dict[str, Any]) -> dict[str, Any]:
    return (resource.get("properties") or {}).get("complianceStatus") or {}


def is_settled(resource: dict[str, Any]) -> bool:
    """Terminal provisioning and a compliance verdict (Installed, Failed, ...) other than Pending."""
    provisioning = (resource.get("properties") or {}).get("provisioningState")
    return provisioning in TERMINAL_PROVISIONING and compliance_of(resource).get("complianceState") != "Pending"


def describe(resource: dict[str, Any]) -> str:
    provisioning = (resource.get("properties") or {}).get("provisioningState")
    return f"provisioningState={provisioning} complianceState={compliance_of(resource).get('complianceState')}"


def create(ctx: Context) -> dict[str, Any]:
    args = ctx.args
    body = request_body(args)
    validate(args.name, body)
    path = _path(args)
    resource = ctx.client.call("PUT", path, body=body).json()
    if not args.no_wait:
        resource = wait_for(lambda: ctx.client.call("GET", path).json(), settled=is_settled, describe=describe,
                            timeout=args.timeout, progress=ctx.progress(),
                            what=f"the source control configuration '{args.name}'")
        status = compliance_of(resource)
        if status.get("complianceState") == "Failed":
            ctx.warn(f"The configuration '{args.name}' failed: {status.get('message')}")
    return flatten(resource)


def show(ctx: Context) -> dict[str, Any]:
    return flatten(ctx.client.call("GET", _path(ctx.args)).json())


def list_(ctx: Context) -> list[dict[str, Any]]:
    """Every page, following `nextLink`."""
    page = ctx.client.call("GET", configurations_path(_cluster(ctx.args))).json()
    items = list(page.get("value") or [])
    while page.get("nextLink"):
        page = ctx.client.call_url("GET", page["nextLink"]).json()
        items.extend(page.get("value") or [])
    return [flatten(item) for item in items]


def delete(ctx: Context) -> None:
    """Removes the resource; unless `--no-wait`, waits for the cluster cleanup (the async operation)."""
    args = ctx.args
    if not confirm(args.yes):
        return
    response = ctx.client.call("DELETE", _path(args))
    status_url = response.headers.get("Azure-AsyncOperation")
    if response.status_code == 204 or not status_url or args.no_wait:
        return
    operation = wait_for(lambda: ctx.client.call_url("GET", status_url).json(),
                         settled=lambda op: op.get("status") != "InProgress",
                         describe=lambda op: f"status={op.get('status')}", timeout=args.timeout,
                         progress=ctx.progress(), what=f"the deletion of '{args.name}'")
    if operation.get("status") != "Succeeded":
        error = operation.get("error") or {}
        raise CliError(str(error.get("message") or f"The deletion ended {operation.get('status')}."),
                       code=error.get("code") or "DeleteFailed")


def wait(ctx: Context) -> None:
    """az's generic `wait`: poll until the condition holds (`--custom` JMESPath on the shown output,
    `--created`, `--exists`, `--deleted`); prints nothing, exits 1 past `--timeout`."""
    args = ctx.args
    path = _path(args)

    def fetch() -> dict[str, Any] | None:
        try:
            return flatten(ctx.client.call("GET", path).json())
        except CliError as error:
            if error.exit_code == EXIT_NOT_FOUND:
                return None
            raise

    wait_for(fetch, settled=wait_condition(args), describe=lambda shown: "absent" if shown is None else describe(
        {"properties": shown}), timeout=args.timeout, progress=ctx.progress(), interval=args.interval,
        what=f"the source control configuration '{args.name}' ({condition_text(args)})")


def wait_condition(args: argparse.Namespace):
    if args.deleted:
        return lambda shown: shown is None
    if args.exists:
        return lambda shown: shown is not None
    if args.created:
        return lambda shown: shown is not None and shown.get("provisioningState") == "Succeeded"
    expression = compile_query(args.custom, "--custom")
    return lambda shown: shown is not None and bool(expression.search(shown))


def condition_text(args: argparse.Namespace) -> str:
    for flag in ("deleted", "exists", "created"):
        if getattr(args, flag):
            return f"--{flag}"
    return f"--custom {args.custom}"
