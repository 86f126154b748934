"""Every case of the shared validation table, run straight against `shared.validation` (no servers)."""

from __future__ import annotations

import json
import re

import pytest

from shared.errors import ValidationError
from shared.validation import ConfigurationInput, parse_request_body, validate_configuration_body
from tests.api.validation_cases import CASES, Case


def _body(case: Case) -> object:
    if case.raw_body is None:
        return {"properties": case.properties}
    return json.loads(case.raw_body)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _sent_protected_settings(case: Case) -> dict:
    properties = case.properties if case.raw_body is None else json.loads(case.raw_body)["properties"]
    return properties.get("configurationProtectedSettings") or {}


@pytest.mark.parametrize(
    "case",
    [case for case in CASES if case.raw_body is None or _is_json(case.raw_body)],
    ids=lambda case: case.id,
)
def test_case(case: Case) -> None:
    if case.status != 201:
        with pytest.raises(ValidationError) as caught:
            validate_configuration_body(case.name, _body(case))
        assert (caught.value.code, caught.value.message, caught.value.target) == (
            case.code,
            case.message,
            case.target,
        )
        assert caught.value.status == case.status == 400
        return
    result = validate_configuration_body(case.name, _body(case))
    assert isinstance(result, ConfigurationInput)
    assert result.name == case.name
    if case.expect_operator_params is not None:
        assert result.operator_params == case.expect_operator_params
    for name, expected in (case.expect_properties or {}).items():
        if name == "sshKnownHostsContents":
            expected = expected or None  # the resource JSON shows "" for what the input holds as None
        assert getattr(result, _snake(name)) == expected, name
    sent = _sent_protected_settings(case)
    assert result.protected_settings.ssh_private_key == (sent.get("sshPrivateKey") or None)
    assert result.protected_settings.https_user == (sent.get("httpsUser") or None)
    assert result.protected_settings.https_key == (sent.get("httpsKey") or None)


@pytest.mark.parametrize(
    "case",
    [case for case in CASES if case.raw_body is not None and not _is_json(case.raw_body)],
    ids=lambda case: case.id,
)
def test_malformed_json_case_through_parse_request_body(case: Case) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_request_body(case.raw_body)
    assert (caught.value.code, caught.value.message, caught.value.target) == (
        case.code,
        case.message,
        case.target,
    )


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize(
    "body",
    [
        None,
        0,
        1.5,
        True,
        "x",
        [],
        [{}],
        {"properties": None},
        {"properties": 3},
        {"properties": {"repositoryUrl": None}},
        {"properties": {"repositoryUrl": "https://a/b", "helmOperatorProperties": []}},
        {
            "properties": {
                "repositoryUrl": "https://a/b",
                "enableHelmOperator": True,
                "helmOperatorProperties": {"chartVersion": "9" * 61 + ".0.0"},
            }
        },
        {
            "properties": {
                "repositoryUrl": "git@a:b",
                "configurationProtectedSettings": {"sshPrivateKey": "=" * 8},
            }
        },
        {"properties": {"repositoryUrl": "git@a:b", "sshKnownHostsContents": "===="}},
        {1: 2},
    ],
)
def test_any_json_value_raises_only_validation_error(body: object) -> None:
    with pytest.raises(ValidationError):
        validate_configuration_body("cfg", body)


def test_route_name_is_validated_alone() -> None:
    from shared.validation import validate_configuration_name

    validate_configuration_name("cluster-config")
    for bad in ("", "-a", "A", "a" * 64, "a\n"):
        with pytest.raises(ValidationError):
            validate_configuration_name(bad)
