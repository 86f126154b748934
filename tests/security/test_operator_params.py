"""An attack through operatorParams (issue 17 point 5): Kubernetes expands `$(VAR)` in container arguments, so
`--git-label=$(GIT_AUTHKEY)` would put the https key into a flag fluxd pushes as a Git tag. Refused at PUT."""

from __future__ import annotations

import uuid

import pytest

from tests.api.conftest import ApiClient, cluster_path, configuration_path


@pytest.mark.parametrize("params", ["--git-label=$(GIT_AUTHKEY)", "--git-branch $(GIT_AUTHUSER)",
                                    "--git-path='$(HOME)'"])
def test_variable_expansion_in_operator_params_is_refused_and_nothing_is_stored(api: ApiClient, params: str):
    cluster = cluster_path(f"sec-{uuid.uuid4().hex[:10]}")
    api.register_cluster(cluster)
    path = configuration_path(cluster, "expands")
    body = {"properties": {"repositoryUrl": "https://example.com/org/repo", "operatorParams": params}}
    response = api.request("PUT", path, body=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["target"] == "properties.operatorParams" and "$(" in error["message"], error
    assert api.request("GET", path).status_code == 404
