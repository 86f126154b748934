"""Source control configuration endpoints: PUT/GET/DELETE one, LIST a cluster's (SPEC section 2)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import azure.durable_functions as df
import azure.functions as func

from api import routes
from api.clusters import cluster_not_found
from api.http import arm_endpoint, json_response, origin_of, read_json_body, require_api_version
from shared import pending
from shared.clusters import ClusterRecord, get_cluster
from shared.configurations import (
    ComplianceStatus,
    ConfigurationRecord,
    SystemData,
    decode_skip_token,
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
from shared.validation import ConfigurationInput, validate_configuration_body, validate_configuration_name
from shared.workflow_starts import request_create, retire_workflow, start_delete_workflow
from shared.workflows import create_instance_id

bp = df.Blueprint()
log = logging.getLogger("gitops.api.configurations")
MAX_PAGE_SIZE = 1000


def registered_cluster(cluster: ClusterId) -> ClusterRecord:
    record = get_cluster(cluster)
    if record is None:
        raise cluster_not_found(cluster)
    return record


def configuration_not_found(name: str, cluster_record: ClusterRecord) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"The source control configuration '{name}' was not found on cluster "
                                 f"'{cluster_record.cluster.id}'.", "configurationName")


def routed_configuration(req: func.HttpRequest) -> tuple[ClusterId, ClusterRecord, str]:
    """The route's cluster id, its registration and the configuration name (api-version checked first)."""
    require_api_version(req)
    cluster = routes.cluster_id_of(req)
    name = routes.route_value(req, "configurationName")
    return cluster, registered_cluster(cluster), name


def existing_configuration(req: func.HttpRequest) -> ConfigurationRecord:
    """The configuration the route names; 404 when it (or its cluster) does not exist or cannot exist."""
    cluster, cluster_record, name = routed_configuration(req)
    try:
        validate_configuration_name(name)
    except ValidationError:
        raise configuration_not_found(name, cluster_record) from None
    record = get_configuration(cluster, name)
    if record is None:
        raise configuration_not_found(name, cluster_record)
    return record


@bp.function_name("configurations_list")
@bp.route(route=routes.CONFIGURATIONS, methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@arm_endpoint
def list_endpoint(req: func.HttpRequest) -> func.HttpResponse:
    version = require_api_version(req)
    cluster = routes.cluster_id_of(req)
    page_size = page_size_of(req)
    cluster_record = registered_cluster(cluster)
    skip_token = req.params.get("$skipToken")
    if skip_token is not None:
        check_skip_token(skip_token)
    page = list_configurations(cluster, page_size=page_size, skip_token=skip_token)
    body: dict = {"value": [configuration_resource(record) for record in page.records]}
    if page.skip_token:
        body["nextLink"] = (f"{origin_of(req)}/api{cluster_record.cluster.configurations_url_path}"
                            f"?api-version={version}&$top={page_size}&$skipToken={page.skip_token}")
    return json_response(200, body)


def check_skip_token(text: str) -> None:
    """A $skipToken has the shape of the table continuation this service issues: PartitionKey and RowKey.

    NB: list_configurations accepts any JSON object of strings; one with other members is the client's 400.
    The partition itself cannot be compared (the table service encodes it); the query stays filtered to the
    route's cluster, so a forged continuation can only skip within that cluster's own configurations.
    """
    if set(decode_skip_token(text)) != {"PartitionKey", "RowKey"}:
        raise ValidationError("InvalidSkipToken", "The $skipToken query parameter is not one this service issued.",
                              "$skipToken")


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
        await request_create(client, record)
        return json_response(201 if created else 200, configuration_resource(record))
    response, deleted = await asyncio.to_thread(read_or_delete_configuration, req)
    if deleted is not None:
        record, entry = deleted
        await retire_workflow(client, create_instance_id(record.id, record.generation))
        await start_delete_workflow(client, entry)
    return response


def read_or_delete_configuration(req: func.HttpRequest) -> tuple[func.HttpResponse, Deleted | None]:
    """GET's answer, or DELETE's answer with the deleted record and its pending deletion."""
    if req.method == "GET":
        return json_response(200, configuration_resource(existing_configuration(req))), None
    cluster, _, name = routed_configuration(req)
    # NB: a name no PUT accepts cannot exist and never becomes a storage key: GET finds nothing (404) and
    # DELETE is refused (400) rather than claiming a deletion (204).
    validate_configuration_name(name)
    return delete_configuration(req, cluster, name)


def put_configuration(req: func.HttpRequest) -> tuple[ConfigurationRecord, bool]:
    require_api_version(req)
    cluster = routes.cluster_id_of(req)
    name = routes.route_value(req, "configurationName")
    spec = validate_configuration_body(name, read_json_body(req))
    cluster_record = registered_cluster(cluster)
    box = SecretBox(Settings.from_environment().encryption_keys)
    now = format_timestamp(utc_now())
    # NB: a name re-created while its old cleanup runs continues the old generations, so a workflow of the
    # deleted configuration can never mistake the new record for its own.
    first_generation = 1 + max((d.generation for d in pending.deletes_of(cluster.storage_key, name)), default=0)

    def build(existing: ConfigurationRecord | None) -> ConfigurationRecord:
        return next_record(existing=existing, spec=spec, cluster_record=cluster_record, name=name, now=now, box=box,
                           first_generation=first_generation)

    record, created = save_configuration(cluster=cluster, name=name, build=build)
    log.info("configuration saved: configuration=%s created=%s generation=%s", record.id, created,
             record.generation)
    return record, created


def next_record(*, existing: ConfigurationRecord | None, spec: ConfigurationInput, cluster_record: ClusterRecord,
                name: str, now: str, box: SecretBox, first_generation: int = 1) -> ConfigurationRecord:
    """The record a PUT stores: new (Pending) or the existing one re-specified and back to Pending.

    NB: protected settings are write-only, so a PUT that sends none (a GET-then-PUT round trip) keeps
    the stored ones where they still fit the repository URL; the generated key pair is always kept.
    """
    sealed = seal_protected_settings(spec, box=box, previous=existing.sealed_protected_settings if existing else None,
                                     previous_url=existing.properties["repositoryUrl"] if existing else None)
    if existing is None:
        return ConfigurationRecord(
            cluster_id=cluster_record.cluster.id, cluster_key=cluster_record.cluster.storage_key, name=name,
            properties=public_properties(spec), sealed_protected_settings=sealed, repository_public_key="",
            provisioning_state="Succeeded", compliance=ComplianceStatus(),
            system_data=SystemData(created_at=now, last_modified_at=now), generation=first_generation,
        )
    return replace(
        existing, properties=public_properties(spec), sealed_protected_settings=sealed,
        provisioning_state="Succeeded",
        compliance=ComplianceStatus(last_config_applied=existing.compliance.last_config_applied),
        system_data=replace(existing.system_data, last_modified_at=now), generation=existing.generation + 1,
    )


Deleted = tuple[ConfigurationRecord, pending.PendingDelete]


def delete_configuration(req: func.HttpRequest, cluster: ClusterId, name: str) -> tuple[func.HttpResponse,
                                                                                       Deleted | None]:
    """Gone from GET/LIST at once; the operation record and the pending deletion track the cluster cleanup.

    The window is DELETE_WINDOW, or DELETE_WINDOW_FAILED when the configuration was Failed at deletion.
    """
    settings = Settings.from_environment()
    operation_id = new_operation_id()
    while True:
        record = get_configuration(cluster, name)
        if record is None:
            discard_operation(operation_id)  # a concurrent DELETE won: it owns the operation
            pending.forget_delete(operation_id)
            return func.HttpResponse(status_code=204), None
        started = utc_now()
        failed = record.compliance.compliance_state in ("Failed", "Noncompliant")
        window = settings.delete_window_failed if failed else settings.delete_window
        entry = pending.PendingDelete(
            operation_id=operation_id, configuration_id=record.id, cluster_key=record.cluster_key, name=record.name,
            generation=record.generation, configuration_hash=configuration_hash(record.id),
            operator_scope=record.properties["operatorScope"], window_seconds=window.total_seconds(),
            due_at=format_timestamp(started + window))
        operation = OperationRecord(operation_id=operation_id, kind="delete", resource_id=record.id,
                                    status=IN_PROGRESS, start_time=format_timestamp(started))
        create_operation(operation, snapshot=record.to_entity())
        pending.note_delete(entry)
        if remove_configuration(record):
            break
    pending.settle_create(record.cluster_key, record.name, record.generation)  # its create is void now
    log.info("configuration deleted: configuration=%s operation=%s", record.id, operation.operation_id)
    # NB: 200 with no body, as ARM's sourceControlConfigurations answer (Microsoft's SDK accepts only 200 and
    # 204 here); the SDK's poller then follows Azure-AsyncOperation at the api-version the client called with.
    status_url = (f"{origin_of(req)}/api/operations/{operation.operation_id}"
                  f"?api-version={require_api_version(req)}")
    headers = {"Azure-AsyncOperation": status_url, "Location": status_url, "Retry-After": "5"}
    return func.HttpResponse(status_code=200, headers=headers), (record, entry)
