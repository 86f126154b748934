"""Every validation case of SPEC section 3 sent as a real PUT: status, code, message, target, and for a
rejection, that storage did not change at all."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.api.conftest import (
    SENT_SECRETS,
    SUBSCRIPTION,
    ApiClient,
    cluster_path,
    configuration_path,
    without_compliance,
)
from tests.api.validation_cases import ALL_SECRETS, CASES, Case
from tests.fixtures.storage_scan import state_a_request_may_not_change

SENT_SECRETS.extend(ALL_SECRETS)


def fresh_cluster(api: ApiClient) -> tuple[str, str]:
    """A newly registered cluster's path and the PartitionKey its configurations are stored under."""
    name = f"validation-{uuid.uuid4().hex[:10]}"
    api.register_cluster(cluster_path(name))
    return cluster_path(name), f"{SUBSCRIPTION}|azurearctest|microsoft.kubernetes|connectedclusters|{name}"


def request_body(case: Case) -> str:
    return case.raw_body if case.raw_body is not None else json.dumps({"properties": case.properties})


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_validation_case(api: ApiClient, storage_connection_string: str, case: Case):
    cluster, cluster_key = fresh_cluster(api)
    before = state_a_request_may_not_change(storage_connection_string, cluster_key)

    response = api.request("PUT", configuration_path(cluster, case.name), raw=request_body(case))

    assert response.status_code == case.status, response.text
    if case.status >= 400:
        error = response.json()["error"]
        assert error["code"] == case.code
        assert error["message"] == case.message
        assert error.get("target") == case.target
        after = state_a_request_may_not_change(storage_connection_string, cluster_key)
        assert after == before, "a rejected PUT changed storage or started a workflow"
        assert api.request("GET", configuration_path(cluster, case.name)).status_code in (400, 404)
    else:
        properties = response.json()["properties"]
        assert properties["configurationProtectedSettings"] == {}
        if case.expect_operator_params is not None:
            assert properties["operatorParams"] == case.expect_operator_params
        stored = api.request("GET", configuration_path(cluster, case.name))
        assert stored.status_code == 200
        assert without_compliance(stored.json()) == without_compliance(response.json())


def test_oversized_body_is_400_and_persists_nothing(api: ApiClient, storage_connection_string: str):
    cluster, cluster_key = fresh_cluster(api)
    before = state_a_request_may_not_change(storage_connection_string, cluster_key)
    body = json.dumps({"properties": {"repositoryUrl": "https://example.com/repo", "operatorParams": "x" * (1 << 20)}})

    response = api.request("PUT", configuration_path(cluster, "huge"), raw=body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "RequestBodyTooLarge"
    assert state_a_request_may_not_change(storage_connection_string, cluster_key) == before


@pytest.mark.parametrize("raw", [b"\xff\xfe not utf-8", b"", b"   ", b"{\"properties\": ", b"null", b"[]", b"\"text\""])
def test_unparseable_bodies_are_400(api: ApiClient, storage_connection_string: str, raw: bytes):
    cluster, cluster_key = fresh_cluster(api)
    before = state_a_request_may_not_change(storage_connection_string, cluster_key)

    response = api.request("PUT", configuration_path(cluster, "cfg"), raw=raw)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidRequestContent"
    assert state_a_request_may_not_change(storage_connection_string, cluster_key) == before
