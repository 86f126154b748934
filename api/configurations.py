"""Source control configuration endpoints: PUT/GET/DELETE one, LIST a cluster's (SPEC section 2)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import azure.durable_functions as df
import azure.functions as func

from api import routes
from api.clusters import cluster_not_found
from api.http import API_VERSION, arm_endpoint, json_response, origin_of, read_json_body, require_api_version
from shared.clusters import ClusterRecord, get_cluster
from shared.configurations import (
    ComplianceStatus,
    ConfigurationRecord,
    SystemData,
    get_configuration,
    list_configurations,
    remove_configuration,
    save_configuration,
)
from shared.errors import ResourceNotFoundError, ValidationError
from shared.manifests import configuration_hash
from shared.operations import (
    IN_PROGRESS,
    OperationRecord,
    create_operation,
    discard_operation,
    new_operation_id,
)
from shared.protected_settings import seal_protected_settings
from shared.resource_ids import ClusterId
from shared.resources import configuration_resource, public_properties
from shared.secrets import SecretBox
from shared.settings import Settings
from shared.timestamps import format_timestamp, utc_now
from shared.validation import ConfigurationInput, validate_configuration_body
from shared.workflows import (
    CREATE_ORCHESTRATOR,
    DELETE_ORCHESTRATOR,
    ConfigurationRef,
    create_instance_id,
    delete_instance_id,
)

bp = df.Blueprint()
log = logging.getLogger("gitops.api.configurations")
MAX_PAGE_SIZE = 1000


def registered_cluster(cluster: ClusterId) -> ClusterRecord:
    record = get_cluster(cluster)
    if record is None:
        raise cluster_not_found(cluster)
    return record


@bp.function_name("configurations_list")
@bp.route(route=routes.CONFIGURATIONS, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@arm_endpoint
def list_endpoint(req: func.HttpRequest) -> func.HttpResponse:
    version = require_api_version(req)
    cluster = routes.cluster_id_of(req)
    page_size = page_size_of(req)
    cluster_record = registered_cluster(cluster)
    page = list_configurations(cluster, page_size=page_size, skip_token=req.params.get("$skipToken"))
    body: dict = {"value": [configuration_resource(record) for record in page.records]}
    if page.skip_token:
        body["nextLink"] = (f"{origin_of(req)}/api{cluster_record.cluster.configurations_url_path}"
                            f"?api-version={version}&$top={page_size}&$skipToken={page.skip_token}")
    return json_response(200, body)


def page_size_of(req: func.HttpRequest) -> int:
    text = req.params.get("$top")
    if text is None:
        return Settings.from_environment().list_page_size
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise ValidationError("InvalidArgumentValue", f"$top must be an integer from 1 to {MAX_PAGE_SIZE}.", "$top")
    return int(text)


@bp.function_name("configuration")
@bp.route(route=routes.CONFIGURATION, methods=["GET", "PUT", "DELETE"], auth_level=func.AuthLevel.FUNCTION)
@bp.durable_client_input(client_name="client")
@arm_endpoint
async def configuration_endpoint(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Storage work runs on a worker thread; the durable client (async) on the host's loop."""
    if req.method == "PUT":
        record, created = await asyncio.to_thread(put_configuration, req)
        await start_create_workflow(client, record)
        return json_response(201 if created else 200, configuration_resource(record))
    response, deleted = await asyncio.to_thread(read_or_delete_configuration, req)
    if deleted is not None:
        await start_delete_workflow(client, *deleted)
    return response


def read_or_delete_configuration(req: func.HttpRequest) -> tuple[func.HttpResponse,
                                                                   tuple[ConfigurationRecord, str] | None]:
    """GET's answer, or DELETE's answer with the deleted record and its operation id."""
    require_api_version(req)
    cluster = routes.cluster_id_of(req)
    name = req.route_params.get("configurationName", "")
    cluster_record = registered_cluster(cluster)
    record = get_configuration(cluster, name)
    if req.method == "GET":
        if record is None:
            raise ResourceNotFoundError(f"The source control configuration '{name}' was not found on cluster "
                                        f"'{cluster_record.cluster.id}'.", "configurationName")
        return json_response(200, configuration_resource(record)), None
    return delete_configuration(req, cluster, name)


def put_configuration(req: func.HttpRequest) -> tuple[ConfigurationRecord, bool]:
    require_api_version(req)
    cluster = routes.cluster_id_of(req)
    name = req.route_params.get("configurationName", "")
    spec = validate_configuration_body(name, read_json_body(req))
    cluster_record = registered_cluster(cluster)
    box = SecretBox(Settings.from_environment().encryption_keys)
    now = format_timestamp(utc_now())

    def build(existing: ConfigurationRecord | None) -> ConfigurationRecord:
        return next_record(existing=existing, spec=spec, cluster_record=cluster_record, name=name, now=now, box=box)

    record, created = save_configuration(cluster=cluster, name=name, build=build)
    log.info("configuration saved: configuration=%s created=%s generation=%s", record.id, created,
             record.generation)
    return record, created


async def start_create_workflow(client: df.DurableOrchestrationClient, record: ConfigurationRecord) -> None:
    """Start this generation's create workflow; only references travel, never secrets.

    NB: a start that fails leaves the configuration Pending with no workflow; the PUT still succeeds
    (the resource is stored) and the cleanup timer fails creates stuck in Pending past their timeout.
    """
    settings = Settings.from_environment()
    ref = ConfigurationRef(record.id, record.cluster_key, record.name, record.generation)
    instance_id = create_instance_id(record.id, record.generation)
    start = {"ref": ref.to_json(), "statusWaitSeconds": settings.status_wait_timeout.total_seconds(),
             "operatorInstanceName": record.properties["operatorInstanceName"],
             "operatorNamespace": record.properties["operatorNamespace"]}
    try:
        await client.start_new(CREATE_ORCHESTRATOR, instance_id, start)
    except Exception:
        log.exception("create workflow not started: configuration=%s instance=%s", record.id, instance_id)
        return
    log.info("create workflow started: configuration=%s instance=%s", record.id, instance_id)
    if record.generation > 1:
        await retire_workflow(client, create_instance_id(record.id, record.generation - 1))


async def retire_workflow(client: df.DurableOrchestrationClient, instance_id: str) -> None:
    """Stop a create workflow that no longer counts (a newer PUT or a DELETE came); best effort.

    NB: a workflow missed here stands down by itself: its activities check the configuration's generation.
    """
    try:
        status = await client.get_status(instance_id)
        if status and status.runtime_status in (df.OrchestrationRuntimeStatus.Running,
                                                df.OrchestrationRuntimeStatus.Pending):
            await client.terminate(instance_id, "superseded by a newer PUT or a DELETE")
    except Exception:  # noqa: BLE001 - best effort, see the docstring
        log.warning("superseded workflow not terminated: instance=%s", instance_id)


def next_record(*, existing: ConfigurationRecord | None, spec: ConfigurationInput, cluster_record: ClusterRecord,
                name: str, now: str, box: SecretBox) -> ConfigurationRecord:
    """The record a PUT stores: new (Pending) or the existing one re-specified and back to Pending.

    NB: protected settings are write-only, so a PUT that sends none (a GET-then-PUT round trip) keeps
    the stored ones where they still fit the repository URL; the generated key pair is always kept.
    """
    sealed = seal_protected_settings(spec, box=box, previous=existing.sealed_protected_settings if existing else None)
    if existing is None:
        return ConfigurationRecord(
            cluster_id=cluster_record.cluster.id, cluster_key=cluster_record.cluster.storage_key, name=name,
            properties=public_properties(spec), sealed_protected_settings=sealed, repository_public_key="",
            provisioning_state="Succeeded", compliance=ComplianceStatus(),
            system_data=SystemData(created_at=now, last_modified_at=now),
        )
    return replace(
        existing, properties=public_properties(spec), sealed_protected_settings=sealed,
        provisioning_state="Succeeded",
        compliance=ComplianceStatus(last_config_applied=existing.compliance.last_config_applied),
        system_data=replace(existing.system_data, last_modified_at=now), generation=existing.generation + 1,
    )


def delete_configuration(req: func.HttpRequest, cluster: ClusterId,
                         name: str) -> tuple[func.HttpResponse, tuple[ConfigurationRecord, str] | None]:
    """Gone from GET/LIST at once; the operation record (with a sealed snapshot) tracks the cluster cleanup."""
    operation_id = new_operation_id()
    while True:
        record = get_configuration(cluster, name)
        if record is None:
            discard_operation(operation_id)  # a concurrent DELETE won: it owns the operation
            return func.HttpResponse(status_code=204), None
        operation = OperationRecord(operation_id=operation_id, kind="delete", resource_id=record.id,
                                    status=IN_PROGRESS, start_time=format_timestamp(utc_now()))
        create_operation(operation, snapshot=record.to_entity())
        if remove_configuration(record):
            break
    log.info("configuration deleted: configuration=%s operation=%s", record.id, operation.operation_id)
    status_url = f"{origin_of(req)}/api/operations/{operation.operation_id}?api-version={API_VERSION}"
    headers = {"Azure-AsyncOperation": status_url, "Location": status_url, "Retry-After": "5"}
    return func.HttpResponse(status_code=202, headers=headers), (record, operation_id)


async def start_delete_workflow(client: df.DurableOrchestrationClient, record: ConfigurationRecord,
                                operation_id: str) -> None:
    """Cancel the configuration's create workflow and start its delete workflow (references only).

    The window is DELETE_WINDOW, or DELETE_WINDOW_FAILED when the configuration was Failed at deletion.
    """
    settings = Settings.from_environment()
    failed = record.compliance.compliance_state in ("Failed", "Noncompliant")
    window = settings.delete_window_failed if failed else settings.delete_window
    target = {"operationId": operation_id, "configurationId": record.id, "clusterKey": record.cluster_key,
              "configurationHash": configuration_hash(record.id),
              "operatorScope": record.properties["operatorScope"], "deadlineSeconds": window.total_seconds()}
    await retire_workflow(client, create_instance_id(record.id, record.generation))
    try:
        await client.start_new(DELETE_ORCHESTRATOR, delete_instance_id(operation_id), target)
    except Exception:
        log.exception("delete workflow not started: configuration=%s operation=%s", record.id, operation_id)
        return
    log.info("delete workflow started: configuration=%s operation=%s window=%s", record.id, operation_id, window)
