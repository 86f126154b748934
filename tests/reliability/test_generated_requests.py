"""Schemathesis-generated requests against every operation of `/api/openapi.json`, valid and invalid ones.

Why: the OpenAPI document is the contract clients code against, and SPEC section 2 says anything a client
sends is answered, never with a 5xx. Generated requests find the inputs nobody thought to write a test for.
Every answer must be a documented status code with the documented content type and body schema.

NB: generated kubeconfigs and protected settings cannot be recorded in SENT_SECRETS: they are random bytes
of a few dozen characters that never contain the `kubetoken-<hex>` / key texts the suite's own secrets are
made of, so they cannot hide or fake a hit of the final storage scan.
"""

from __future__ import annotations

from collections import Counter

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import ApiClient
from tests.fixtures.devhost_process import DevHost
from tests.reliability.conftest import Cluster

MINIMUM_REQUESTS = 1000
EXAMPLES_PER_OPERATION_AND_MODE = 60
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
FUZZ_SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION_AND_MODE, deadline=None, database=None, derandomize=True,
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate], suppress_health_check=list(HealthCheck),
)


def describe(label: str, response: requests.Response, failure: BaseException, case: schemathesis.Case) -> str:
    found = getattr(failure, "exceptions", (failure,))
    titles = ", ".join(sorted({getattr(f, "title", type(f).__name__) for f in found}))
    return f"{label} -> {response.status_code} ({titles}): {response.text[:200]!r}\n  {case.as_curl_command()}"


def on_registered_cluster(cluster: Cluster) -> dict[str, str]:
    """Path parameters naming a registered cluster, so configuration requests get past the cluster lookup."""
    _, _, subscription, _, group, _, provider, kind, name = cluster.path.split("/")
    return {"subscriptionId": subscription, "resourceGroupName": group, "clusterRp": provider,
            "clusterResourceName": kind, "clusterName": name}


def test_generated_requests_get_documented_answers_and_never_a_server_error(app_host: DevHost, api: ApiClient,
                                                                           cluster: Cluster):
    schema = schemathesis.openapi.from_url(f"{app_host.base_url}/api/openapi.json", timeout=30)
    operations = [result.ok() for result in schema.get_all_operations()]
    # Every operation with generated paths (mostly unknown clusters), then the configuration operations again
    # on a registered cluster, where bodies reach the full validation and storage.
    runs = [(operation, None) for operation in operations] + [
        (operation, on_registered_cluster(cluster)) for operation in operations
        if "{configurationName}" in operation.path or operation.path.endswith("/sourceControlConfigurations")]
    session = requests.Session()
    sent: list[str] = []
    statuses: Counter[int] = Counter()
    failures: list[str] = []

    for operation, path_parameters in runs:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            @FUZZ_SETTINGS
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
            def exchange(case: schemathesis.Case) -> None:
                response = case.call(base_url=f"{app_host.base_url}/api", session=session,
                                     headers={"x-functions-key": api.function_key}, timeout=30)
                sent.append(case.operation.label)
                statuses[response.status_code] += 1
                try:
                    case.validate_response(response, checks=CHECKS)
                except (AssertionError, BaseExceptionGroup) as failure:  # collected: one report lists them all
                    failures.append(describe(case.operation.label, response, failure, case))

            exchange()

    print(f"\nschemathesis: {len(sent)} requests over {len(set(sent))} operations, {len(failures)} failures; "
          f"statuses {dict(sorted(statuses.items()))}")
    assert not failures, f"{len(failures)} failing exchanges:\n" + "\n".join(failures[:40])
    assert len(sent) >= MINIMUM_REQUESTS
