"""The one validation of a sourceControlConfiguration PUT, shared by the HTTP API, the CLI and the workflows.

It mirrors the `az k8s-configuration` CLI for Flux v1 (azext_k8s_configuration: validators.py,
consts.py, providers/SourceControlConfigurationProvider.py) so that a request the real service
would refuse is refused here with the same words, and adds the checks the CLI leaves to the
resource provider (JSON shape, URL forms, operatorParams, the helm chart version).

Message texts: where SPEC section 3 quotes a text it is used verbatim (the CLI's "Error! " prefix
is not part of it); the private-key message keeps the CLI's recommendation so the user can act.

Check order (the first failure is reported):

1. Body shape, field by field in the order of `_PROPERTY_READERS`: JSON object, known keys, JSON
   types, length caps (`InvalidRequestContent`, target = JSON path).
2. Names, as the CLI's argument validators run: `--name`, `--operator-instance-name`,
   `--operator-namespace`; each: length, then hyphen at either end, then the character set.
3. `operatorType`, `operatorScope` values.
4. `repositoryUrl` form.
5. URL / credential exclusions, in the order of az `validate_url_with_params`: SSH key with an
   http(s) URL, known_hosts with an http(s) URL, https auth with a non-http(s) URL, then
   https user and key given separately.
6. Protected settings contents: `sshPrivateKey`, then `httpsUser`, `httpsKey` (az
   `get_protected_settings` runs after `validate_url_with_params`).
7. `sshKnownHostsContents` (az `validate_known_hosts`, after the protected settings).
8. `operatorParams`, then `helmOperatorProperties.chartVersion`.

Choices where the contract is silent: `null` means "absent" for every optional property; an empty
string means absent for `operatorNamespace`, `operatorInstanceName`, `sshKnownHostsContents` and the
protected settings (the CLI skips its checks on empty values too); `enableHelmOperator` also takes
the strings "true"/"false" (any case), as API 2019-11-01-preview typed it as a string; the
operatorInstanceName default (the configuration name) is not held to the 23-character limit,
exactly like the CLI, which validates only a given `--operator-instance-name`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared import operator_params, sshkeys
from shared.errors import ValidationError

# Error codes (those of azure.cli.core.azclierror, without the "Error" suffix, plus ARM's).
INVALID_REQUEST_CONTENT = "InvalidRequestContent"
INVALID_ARGUMENT_VALUE = "InvalidArgumentValue"
MUTUALLY_EXCLUSIVE_ARGUMENTS = "MutuallyExclusiveArguments"
REQUIRED_ARGUMENT_MISSING = "RequiredArgumentMissing"

# Texts of SPEC section 3 / the az CLI.
NAME_TOO_LONG = "Parameter {p} can be a maximum of {n} characters"
NAME_HYPHEN = "Parameter {p} cannot begin or end with a hyphen"
NAME_CHARACTERS = "Parameter {p} can only contain lowercase alphanumeric characters and hyphens"
SSH_KEY_WITH_HTTP_URL = "An --ssh-private-key cannot be used with an http(s) url"
KNOWN_HOSTS_WITH_HTTP_URL = "--ssh-known-hosts cannot be used with an http(s) url"
HTTPS_AUTH_WITH_NON_HTTP_URL = ("https auth (--https-user and --https-key) cannot be used with a "
                                "non-http(s) url")
HTTPS_USER_KEY_SEPARATELY = "--https-user and --https-key cannot be used separately"
SSH_KEY_INVALID = ("--ssh-private-key provided in invalid format. Verify the key provided is a valid "
                   "PEM-formatted key of type RSA, ECC, DSA, or Ed25519")
KNOWN_HOSTS_NOT_BASE64 = "ssh known_hosts is not a valid utf-8 base64 encoded string"
KNOWN_HOSTS_WRONG_FORMAT = "ssh known_hosts provided in wrong format"
# Texts of this service.
SSH_KEY_ENCRYPTED = ("--ssh-private-key is protected by a passphrase, which Flux cannot use. "
                     "Provide the key without a passphrase")
HTTPS_USER_NOT_BASE64 = "--https-user is not a valid utf-8 base64 encoded string"
HTTPS_KEY_NOT_BASE64 = "--https-key is not a valid utf-8 base64 encoded string"
REPOSITORY_URL_FORMS = ("http[s]://server/repo[.git], git://server/repo[.git], ssh://user@server/repo[.git], "
                        "user@server:repo[.git] (git@ may replace user@; a :port may follow the server "
                        "in the :// forms)")
REPOSITORY_URL_INVALID = f"Invalid --repository-url: use one of {REPOSITORY_URL_FORMS}"
OPERATOR_TYPE_INVALID = "Invalid --operator-type: only Flux is supported"
OPERATOR_SCOPE_INVALID = "Invalid --scope: use cluster or namespace"
OPERATOR_PARAMS_INVALID = "Invalid --operator-params: {reason}"
CHART_VERSION_INVALID = ("Invalid --helm-operator-chart-version: use a semantic version 1.2.0 or later, "
                         "such as 1.2.0")
BODY_NOT_JSON = "The request body is not valid JSON"
BODY_NOT_OBJECT = "The request body must be a JSON object"
BODY_DUPLICATE_KEY = "The request body repeats the key {key}; each key may appear once per object"
BODY_FORBIDDEN_CHARACTER = ("{target} contains the character U+{code:04X}; control characters (other than tab, "
                            "line feed and carriage return), unpaired surrogates and bidirectional formatting "
                            "characters are not allowed")

DEFAULT_OPERATOR_NAMESPACE = "default"
DEFAULT_OPERATOR_TYPE = "Flux"
DEFAULT_OPERATOR_SCOPE = "cluster"
DEFAULT_CHART_VERSION = "1.2.0"
MINIMUM_CHART_VERSION = (1, 2, 0)

NAME_MAX_LENGTH = 63
OPERATOR_NAME_MAX_LENGTH = 23

# Length caps, in characters as sent, chosen so a valid resource always fits one Azure Table entity
# (1 MiB in all; each string property at most 64 KiB, i.e. 32 Ki UTF-16 characters).
MAX_LENGTHS = {
    "repositoryUrl": 2048,
    "operatorNamespace": 256,
    "operatorInstanceName": 256,
    "operatorType": 256,
    "operatorScope": 256,
    "operatorParams": 8192,
    "sshPrivateKey": 16384,
    "httpsUser": 1024,
    "httpsKey": 8192,
    "sshKnownHostsContents": 32000,
    "chartVersion": 64,
    "chartValues": 32000,
}

IGNORED_TOP_LEVEL_KEYS = frozenset({"id", "name", "type", "systemData"})
READ_ONLY_PROPERTY_KEYS = frozenset({"provisioningState", "complianceStatus", "repositoryPublicKey"})
PROTECTED_SETTING_KEYS = ("sshPrivateKey", "httpsUser", "httpsKey")
HELM_OPERATOR_KEYS = ("chartVersion", "chartValues")

_KUBERNETES_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_HOST = (r"(?P<host>\[[0-9A-Fa-f:.]+\]"
         r"|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)")
_PORT = r"(?::(?P<port>[0-9]{1,5}))?"
_SEGMENT = r"[A-Za-z0-9._~%+-]+"
_PATH = rf"(?P<path>(?:/{_SEGMENT})+)/?"
_USER = r"[A-Za-z0-9._~-]+"
_REPOSITORY_URL_FORMS = {
    "http": re.compile(rf"(?i:https?)://{_HOST}{_PORT}{_PATH}"),
    "git": re.compile(rf"(?i:git)://{_HOST}{_PORT}{_PATH}"),
    "ssh": re.compile(rf"(?i:ssh)://{_USER}@{_HOST}{_PORT}{_PATH}"),
    "scp": re.compile(rf"{_USER}@{_HOST}:(?P<path>/?{_SEGMENT}(?:/{_SEGMENT})*)/?"),
}
# C0 controls but tab, LF and CR; DEL and C1 controls; unpaired surrogates; bidirectional formatting (Trojan Source).
_FORBIDDEN_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u061c\u200e\u200f"
                                  "\u202a-\u202e\u2066-\u2069]")
_SEMANTIC_VERSION = re.compile(
    r"(?P<major>0|[1-9][0-9]*)\.(?P<minor>0|[1-9][0-9]*)\.(?P<patch>0|[1-9][0-9]*)"
    r"(?:-(?P<prerelease>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?")


@dataclass(frozen=True)
class ProtectedSettings:
    """Base64 strings exactly as the client sent them; None when absent."""

    ssh_private_key: str | None
    https_user: str | None
    https_key: str | None
    cleared: frozenset[str] = frozenset()  # settings sent as "": stored values of these are dropped, not kept


@dataclass(frozen=True)
class ConfigurationInput:
    """A valid PUT with every default applied; `operator_params` as stored (after the --git-readonly rule)."""

    name: str
    repository_url: str
    operator_namespace: str
    operator_instance_name: str
    operator_type: str
    operator_params: str
    operator_scope: str
    ssh_known_hosts_contents: str | None
    enable_helm_operator: bool
    helm_operator_properties: dict | None
    protected_settings: ProtectedSettings


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """NB: a repeated key is ambiguous (parsers disagree on which one wins), so it is refused, never resolved."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def parse_request_body(raw: bytes | str) -> object:
    """The JSON value of a request body: strict RFC 8259 JSON (no NaN/Infinity, no repeated keys), every key and
    string free of control and bidirectional formatting characters; anything else -> 400 InvalidRequestContent."""
    try:
        value = json.loads(raw, object_pairs_hook=_object_without_duplicate_keys, parse_constant=_refuse_constant)
    except _DuplicateKeyError as error:
        shown = json.dumps(error.key[:64], ensure_ascii=True)
        raise ValidationError(INVALID_REQUEST_CONTENT, BODY_DUPLICATE_KEY.format(key=shown)) from None
    except (ValueError, RecursionError) as error:
        raise ValidationError(INVALID_REQUEST_CONTENT, BODY_NOT_JSON) from error
    _check_characters(value)
    return value


def _check_characters(value: object) -> None:
    """Every key and string of a parsed body, walked without recursion; the first forbidden character is a 400."""
    pending: list[tuple[str, object]] = [("", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, dict):
            for key, member in item.items():
                target = f"{path}.{key}" if path else key
                _check_text(key, target)
                pending.append((target, member))
        elif isinstance(item, list):
            pending.extend((f"{path}[{index}]", member) for index, member in enumerate(item))
        elif isinstance(item, str):
            _check_text(item, path)


def _check_text(text: str, target: str) -> None:
    found = _FORBIDDEN_CHARACTER.search(text)
    if found:
        shown = _FORBIDDEN_CHARACTER.sub("?", target)[:256]
        raise ValidationError(INVALID_REQUEST_CONTENT, BODY_FORBIDDEN_CHARACTER.format(
            target=shown or "The request body", code=ord(found.group())), shown or None)


def validate_configuration_name(name: str) -> None:
    """The configuration name of a route or a PUT (`--name`, at most 63 characters)."""
    _check_kubernetes_name(name, parameter="--name", max_length=NAME_MAX_LENGTH, target="name")


def validate_configuration_body(name: str, body: object) -> ConfigurationInput:
    """The configuration a PUT asks for, with defaults applied; raises only `ValidationError`."""
    raw = _read_body(body)
    validate_configuration_name(name)
    _check_operator_names(raw)
    operator_type = _operator_type(raw.get("operatorType"))
    operator_scope = _operator_scope(raw.get("operatorScope"))
    url_kind = repository_url_kind(raw["repositoryUrl"])
    settings = _protected_settings(raw.get("configurationProtectedSettings"))
    known_hosts = raw.get("sshKnownHostsContents") or None
    _check_url_with_params(url_kind, settings, known_hosts)
    _check_protected_settings(settings)
    if known_hosts is not None:
        _check_known_hosts(known_hosts)
    stored_params = _stored_operator_params(raw.get("operatorParams") or "")
    enable_helm_operator = raw.get("enableHelmOperator", False)
    helm_properties = None
    if enable_helm_operator:
        helm_properties = _helm_operator_properties(raw.get("helmOperatorProperties"))
    return ConfigurationInput(
        name=name,
        repository_url=raw["repositoryUrl"],
        operator_namespace=raw.get("operatorNamespace") or DEFAULT_OPERATOR_NAMESPACE,
        operator_instance_name=raw.get("operatorInstanceName") or name,
        operator_type=operator_type,
        operator_params=stored_params,
        operator_scope=operator_scope,
        ssh_known_hosts_contents=known_hosts,
        enable_helm_operator=enable_helm_operator,
        helm_operator_properties=helm_properties,
        protected_settings=settings,
    )


def repository_url_kind(url: str) -> str:
    """The URL's transport: `http` (http/https), `git` (git://) or `ssh` (ssh:// and user@server:repo).

    Any other form is a 400 that lists the accepted forms. The URL itself is never echoed: it may
    carry credentials a client should not have put there.
    """
    for kind, form in _REPOSITORY_URL_FORMS.items():
        match = form.fullmatch(url)
        if match and _is_plausible_url_match(match):
            return "ssh" if kind == "scp" else kind
    raise ValidationError(INVALID_ARGUMENT_VALUE, REPOSITORY_URL_INVALID, "properties.repositoryUrl")


_DEFAULT_PORTS = {"http": 80, "https": 443, "git": 9418, "ssh": 22}


def repository_endpoint(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a repository URL that `repository_url_kind` accepts; `user@server:repo` is ssh
    on port 22. Credentials are bound to it: a URL with another endpoint is another server."""
    for kind, form in _REPOSITORY_URL_FORMS.items():
        match = form.fullmatch(url)
        if match and _is_plausible_url_match(match):
            scheme = "ssh" if kind == "scp" else url.split("://", 1)[0].lower()
            host = match["host"]
            port = match.groupdict().get("port")
            return scheme, host.lower(), int(port) if port else _DEFAULT_PORTS[scheme]
    raise ValidationError(INVALID_ARGUMENT_VALUE, REPOSITORY_URL_INVALID, "properties.repositoryUrl")


def _is_plausible_url_match(match: re.Match[str]) -> bool:
    port = match.groupdict().get("port")
    if port is not None and not 0 < int(port) <= 65535:
        return False
    segments = match["path"].strip("/").split("/")
    return not any(set(segment) == {"."} for segment in segments)


# ---- 1. body shape -------------------------------------------------------------------------------

def _read_body(body: object) -> dict[str, Any]:
    """The `properties` of the body, typed and capped; absent and null optional values are left out."""
    if not isinstance(body, dict):
        raise ValidationError(INVALID_REQUEST_CONTENT, BODY_NOT_OBJECT)
    for key in body:
        if key != "properties" and key not in IGNORED_TOP_LEVEL_KEYS:
            raise ValidationError(INVALID_REQUEST_CONTENT,
                                  f"{key} is not a known property of the request body", key)
    if body.get("properties") is None:
        raise ValidationError(INVALID_REQUEST_CONTENT, "properties is required", "properties")
    properties = _require_object(body["properties"], "properties")
    for key in properties:
        if key not in _PROPERTY_READERS and key not in READ_ONLY_PROPERTY_KEYS:
            raise ValidationError(INVALID_REQUEST_CONTENT, f"properties.{key} is not a known property",
                                  f"properties.{key}")
    raw: dict[str, Any] = {}
    for key, read in _PROPERTY_READERS.items():
        value = properties.get(key)
        if value is not None:
            raw[key] = read(value, f"properties.{key}")
    if "repositoryUrl" not in raw:
        raise ValidationError(INVALID_REQUEST_CONTENT, "properties.repositoryUrl is required",
                              "properties.repositoryUrl")
    return raw


def _require_object(value: object, target: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(INVALID_REQUEST_CONTENT, f"{target} must be a JSON object", target)
    return value


def _read_string(value: object, target: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(INVALID_REQUEST_CONTENT, f"{target} must be a string", target)
    cap = MAX_LENGTHS[target.rsplit(".", 1)[-1]]
    if len(value) > cap:
        raise ValidationError(INVALID_REQUEST_CONTENT, f"{target} must be at most {cap} characters", target)
    return value


def _read_boolean(value: object, target: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValidationError(INVALID_REQUEST_CONTENT, f"{target} must be a boolean", target)


def _read_string_object(keys: tuple[str, ...]) -> Callable[[object, str], dict[str, str]]:
    """A reader for an object whose only members are `keys`, each a string or null."""
    def read(value: object, target: str) -> dict[str, str]:
        members = _require_object(value, target)
        result = {}
        for key, member in members.items():
            if key not in keys:
                raise ValidationError(INVALID_REQUEST_CONTENT, f"{target}.{key} is not a known property",
                                      f"{target}.{key}")
            if member is not None:
                result[key] = _read_string(member, f"{target}.{key}")
        return result
    return read


_PROPERTY_READERS: dict[str, Callable[[object, str], Any]] = {
    "repositoryUrl": _read_string,
    "operatorNamespace": _read_string,
    "operatorInstanceName": _read_string,
    "operatorType": _read_string,
    "operatorParams": _read_string,
    "operatorScope": _read_string,
    "configurationProtectedSettings": _read_string_object(PROTECTED_SETTING_KEYS),
    "sshKnownHostsContents": _read_string,
    "enableHelmOperator": _read_boolean,
    "helmOperatorProperties": _read_string_object(HELM_OPERATOR_KEYS),
}


# ---- 2. names ------------------------------------------------------------------------------------

def _check_operator_names(raw: dict[str, Any]) -> None:
    if raw.get("operatorInstanceName"):
        _check_kubernetes_name(raw["operatorInstanceName"], parameter="--operator-instance-name",
                               max_length=OPERATOR_NAME_MAX_LENGTH, target="properties.operatorInstanceName")
    if raw.get("operatorNamespace"):
        _check_kubernetes_name(raw["operatorNamespace"], parameter="--operator-namespace",
                               max_length=OPERATOR_NAME_MAX_LENGTH, target="properties.operatorNamespace")


def _check_kubernetes_name(value: object, *, parameter: str, max_length: int, target: str) -> None:
    """az `__validate_k8s_name`: length first, then a hyphen at either end, then the character set."""
    if not isinstance(value, str):
        raise ValidationError(INVALID_ARGUMENT_VALUE, NAME_CHARACTERS.format(p=parameter), target)
    if len(value) > max_length:
        raise ValidationError(INVALID_ARGUMENT_VALUE, NAME_TOO_LONG.format(p=parameter, n=max_length), target)
    if not _KUBERNETES_NAME.fullmatch(value):
        if value.startswith("-") or value.endswith("-"):
            raise ValidationError(INVALID_ARGUMENT_VALUE, NAME_HYPHEN.format(p=parameter), target)
        raise ValidationError(INVALID_ARGUMENT_VALUE, NAME_CHARACTERS.format(p=parameter), target)


# ---- 3. operator type and scope ------------------------------------------------------------------

def _operator_type(value: str | None) -> str:
    if value is None or value.lower() == DEFAULT_OPERATOR_TYPE.lower():
        return DEFAULT_OPERATOR_TYPE
    raise ValidationError(INVALID_ARGUMENT_VALUE, OPERATOR_TYPE_INVALID, "properties.operatorType")


def _operator_scope(value: str | None) -> str:
    if value is None:
        return DEFAULT_OPERATOR_SCOPE
    if value.lower() in ("cluster", "namespace"):
        return value.lower()
    raise ValidationError(INVALID_ARGUMENT_VALUE, OPERATOR_SCOPE_INVALID, "properties.operatorScope")


# ---- 5. URL / credential exclusions --------------------------------------------------------------

def _protected_settings(values: dict[str, str] | None) -> ProtectedSettings:
    values = values or {}
    return ProtectedSettings(
        ssh_private_key=values.get("sshPrivateKey") or None,
        https_user=values.get("httpsUser") or None,
        https_key=values.get("httpsKey") or None,
        cleared=frozenset(key for key, value in values.items() if value == ""),
    )


def _check_url_with_params(url_kind: str, settings: ProtectedSettings, known_hosts: str | None) -> None:
    """az `validate_url_with_params`."""
    https_auth = settings.https_user is not None or settings.https_key is not None
    if url_kind == "http":
        if settings.ssh_private_key is not None:
            raise ValidationError(MUTUALLY_EXCLUSIVE_ARGUMENTS, SSH_KEY_WITH_HTTP_URL,
                                  "properties.configurationProtectedSettings.sshPrivateKey")
        if known_hosts is not None:
            raise ValidationError(MUTUALLY_EXCLUSIVE_ARGUMENTS, KNOWN_HOSTS_WITH_HTTP_URL,
                                  "properties.sshKnownHostsContents")
    elif https_auth:
        raise ValidationError(MUTUALLY_EXCLUSIVE_ARGUMENTS, HTTPS_AUTH_WITH_NON_HTTP_URL,
                              "properties.configurationProtectedSettings")
    if https_auth and (settings.https_user is None or settings.https_key is None):
        raise ValidationError(REQUIRED_ARGUMENT_MISSING, HTTPS_USER_KEY_SEPARATELY,
                              "properties.configurationProtectedSettings")


# ---- 6. protected settings -----------------------------------------------------------------------

def _check_protected_settings(settings: ProtectedSettings) -> None:
    target = "properties.configurationProtectedSettings"
    if settings.ssh_private_key is not None:
        _check_private_key(settings.ssh_private_key, f"{target}.sshPrivateKey")
    if settings.https_user is not None and _decode_base64_text(settings.https_user) is None:
        raise ValidationError(INVALID_ARGUMENT_VALUE, HTTPS_USER_NOT_BASE64, f"{target}.httpsUser")
    if settings.https_key is not None and _decode_base64_text(settings.https_key) is None:
        raise ValidationError(INVALID_ARGUMENT_VALUE, HTTPS_KEY_NOT_BASE64, f"{target}.httpsKey")


def _check_private_key(encoded: str, target: str) -> None:
    data = _decode_base64(encoded)
    if data is None:
        raise ValidationError(INVALID_ARGUMENT_VALUE, SSH_KEY_INVALID, target)
    try:
        sshkeys.load_private_key(data)
    except sshkeys.EncryptedKeyError as error:
        raise ValidationError(INVALID_ARGUMENT_VALUE, SSH_KEY_ENCRYPTED, target) from error
    except sshkeys.InvalidKeyError as error:
        raise ValidationError(INVALID_ARGUMENT_VALUE, SSH_KEY_INVALID, target) from error


def _decode_base64(text: str) -> bytes | None:
    """Strict base64, ignoring the line breaks and spaces `base64` and editors put in; None if invalid."""
    compact = "".join(text.split())
    if not compact:
        return None
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None


def _decode_base64_text(text: str) -> str | None:
    data = _decode_base64(text)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# ---- 7. known_hosts ------------------------------------------------------------------------------

def _check_known_hosts(encoded: str) -> None:
    target = "properties.sshKnownHostsContents"
    text = _decode_base64_text(encoded)
    if text is None:
        raise ValidationError(INVALID_ARGUMENT_VALUE, KNOWN_HOSTS_NOT_BASE64, target)
    try:
        sshkeys.parse_known_hosts(text)
    except sshkeys.KnownHostsError as error:
        raise ValidationError(INVALID_ARGUMENT_VALUE, KNOWN_HOSTS_WRONG_FORMAT, target) from error


# ---- 8. operatorParams and the helm operator -----------------------------------------------------

def _stored_operator_params(text: str) -> str:
    try:
        params = operator_params.parse_operator_params(text)
    except operator_params.OperatorParamsError as error:
        raise ValidationError(INVALID_ARGUMENT_VALUE, OPERATOR_PARAMS_INVALID.format(reason=error),
                              "properties.operatorParams") from error
    return operator_params.with_readonly_rule(text, params)


def _helm_operator_properties(values: dict[str, str] | None) -> dict[str, str]:
    values = values or {}
    chart_version = values.get("chartVersion", "").strip() or DEFAULT_CHART_VERSION
    if not _is_supported_chart_version(chart_version):
        raise ValidationError(INVALID_ARGUMENT_VALUE, CHART_VERSION_INVALID,
                              "properties.helmOperatorProperties.chartVersion")
    return {"chartVersion": chart_version, "chartValues": values.get("chartValues", "").strip()}


def _is_supported_chart_version(text: str) -> bool:
    """A semantic version >= 1.2.0; a pre-release of 1.2.0 (1.2.0-rc1) comes before 1.2.0."""
    version = _SEMANTIC_VERSION.fullmatch(text)
    if version is None:
        return False
    number = (int(version["major"]), int(version["minor"]), int(version["patch"]))
    if number == MINIMUM_CHART_VERSION:
        return version["prerelease"] is None
    return number > MINIMUM_CHART_VERSION
