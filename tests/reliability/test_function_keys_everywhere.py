"""Every function-level route refuses every method it accepts without a key and with a wrong one (401).

Why: a route added later with a missing or wrong auth level would silently open the API. The routes come
from the app's own indexing (what the Functions host registers), not from a list kept by hand; the only
anonymous routes are the OpenAPI document and the GitOps page (static files; the page sends the key on its API
calls), and that is asserted explicitly.
"""

from __future__ import annotations

import re

import pytest
import requests

from tests.api.conftest import API_VERSION, SUBSCRIPTION
from tests.fixtures.devhost_process import DevHost
from tests.reliability.conftest import HttpFunction, http_functions_of_the_app

FUNCTIONS = http_functions_of_the_app()
ANONYMOUS = {"openapi_document", "gitops_page"}
SAMPLE_ROUTE_VALUES = {"subscriptionId": SUBSCRIPTION, "resourceGroupName": "AzureArcTest",
                       "clusterRp": "Microsoft.Kubernetes", "clusterResourceName": "connectedClusters",
                       "clusterName": "auth-probe", "configurationName": "auth-probe",
                       "operationId": "00000000-0000-0000-0000-000000000001"}
WRONG_KEYS = {"no key": {}, "wrong header key": {"x-functions-key": "not-the-key"}, "empty header key": {
    "x-functions-key": ""}}


def url_of(host: DevHost, function: HttpFunction) -> str:
    route = re.sub(r"\{(\w+)(?::[^}]*)?\}", lambda m: SAMPLE_ROUTE_VALUES[m.group(1)], function.route)
    return f"{host.base_url}/api/{route}"


PROTECTED = [(f, method) for f in FUNCTIONS if f.name not in ANONYMOUS for method in f.methods]


def test_the_app_declares_exactly_two_anonymous_routes_and_no_admin_only_surprises():
    levels = {f.name: f.auth_level for f in FUNCTIONS}
    assert {name for name, level in levels.items() if level == "ANONYMOUS"} == ANONYMOUS
    assert {level for name, level in levels.items() if name not in ANONYMOUS} == {"FUNCTION"}
    assert len(PROTECTED) >= 9  # cluster GET/PUT/DELETE, two cluster lists, configuration list/GET/PUT/DELETE, ...


@pytest.mark.parametrize(("function", "method"), PROTECTED, ids=[f"{f.name}-{m}" for f, m in PROTECTED])
def test_a_function_level_route_refuses_a_missing_or_wrong_key(app_host: DevHost, function: HttpFunction,
                                                                method: str):
    url = url_of(app_host, function)
    for how, headers in WRONG_KEYS.items():
        response = requests.request(method, url, params={"api-version": API_VERSION}, headers=headers,
                                    data=b"{}", timeout=30)
        assert response.status_code == 401, (how, response.status_code, response.text[:200])
    wrong_query_key = requests.request(method, url, params={"api-version": API_VERSION, "code": "not-the-key"},
                                       timeout=30)
    assert wrong_query_key.status_code == 401


def test_the_openapi_document_and_the_page_are_the_routes_served_without_a_key(app_host: DevHost):
    (document,) = [f for f in FUNCTIONS if f.name == "openapi_document"]
    (page,) = [f for f in FUNCTIONS if f.name == "gitops_page"]
    assert document.methods == ("GET",)
    assert page.methods == ("GET", "HEAD")
    assert page.route == "gitops/{*asset}"

    response = requests.get(url_of(app_host, document), timeout=30)

    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")
