"""Function-level routes need a key; the key `python -m devhost keys` prints opens them."""

from __future__ import annotations

import requests

from tests.api.conftest import API_VERSION, cluster_path
from tests.fixtures.devhost_process import DevHost


def test_function_route_needs_the_key_printed_by_devhost_keys(app_host: DevHost):
    url = f"{app_host.base_url}/api{cluster_path('auth-check')}"
    params = {"api-version": API_VERSION}

    assert requests.get(url, params=params, timeout=30).status_code == 401
    assert requests.get(url, params=params, headers={"x-functions-key": "wrong"}, timeout=30).status_code == 401

    key = app_host.keys()["functionKeys"]["default"]
    with_header = requests.get(url, params=params, headers={"x-functions-key": key}, timeout=30)
    with_query = requests.get(url, params={**params, "code": key}, timeout=30)
    assert with_header.status_code == 404  # authorised: the cluster simply is not registered
    assert with_header.json()["error"]["code"] == "ResourceNotFound"
    assert with_query.status_code == 404


def test_openapi_document_is_anonymous_and_valid(app_host: DevHost):
    from openapi_spec_validator import validate

    response = requests.get(f"{app_host.base_url}/api/openapi.json", timeout=30)

    assert response.status_code == 200
    document = response.json()
    validate(document)
    paths = document["paths"]
    assert any(p.endswith("/sourceControlConfigurations/{configurationName}") for p in paths)
    assert "/operations/{operationId}" in paths
