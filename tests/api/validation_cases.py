"""The table of PUT bodies the validation must accept or refuse, shared by the unit and the HTTP tests.

Each `Case` is one PUT of `/api{configuration id}` on a registered cluster: the `properties` to send
(or a `raw_body` for malformed JSON and wrong top-level shapes), the configuration name in the URL,
and what must come back: 201 for accepted bodies, else 400 with the exact ARM error
(`code`, `message`, `target`).

Key material is generated once, at import, with `cryptography` (RSA 2048, ECDSA P-256, DSA, Ed25519
in every PEM and OpenSSH form the service accepts). NB: cryptography 50 writes DSA in OpenSSH format
only for 1024-bit keys ("SSH supports only 1024 bit DSA keys"), so the OpenSSH DSA case uses a
1024-bit key and the PEM DSA cases a 2048-bit one. Every protected value a case sends is recorded
in `ALL_SECRETS` (raw text and base64) so a secret scan can prove none of them is stored or logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import warnings
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from shared.operator_params import allowed_flags


@dataclass(frozen=True)
class Case:
    id: str  # pytest id, unique
    properties: dict | None  # the "properties" object to PUT (None: use `raw_body`)
    name: str = "cfg"  # configuration name in the URL
    raw_body: str | None = None  # exact body text when testing malformed JSON / wrong top-level shapes
    status: int = 400  # 201 for accepted cases
    code: str | None = None  # expected error code (None for accepted)
    message: str | None = None  # expected EXACT error message
    target: str | None = None  # expected target
    expect_operator_params: str | None = None  # accepted: the stored operatorParams, when it matters
    # accepted: other properties that matter, as the resource JSON shows them (API names;
    # sshKnownHostsContents "" when none was given)
    expect_properties: dict | None = None


# ---- secrets -------------------------------------------------------------------------------------

ALL_SECRETS: list[str] = []


def b64(value: str | bytes) -> str:
    """Base64 text of `value` (str values are UTF-8 encoded first)."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    return base64.b64encode(data).decode("ascii")


def secret_b64(value: str | bytes) -> str:
    """`b64(value)`, with the raw value and its base64 recorded in `ALL_SECRETS`."""
    raw = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
    encoded = b64(value)
    for text in (raw, encoded):
        if text not in ALL_SECRETS:
            ALL_SECRETS.append(text)
    return encoded


def secret_as_sent(value: str) -> str:
    """A protected value sent as is (e.g. not base64); recorded in `ALL_SECRETS`."""
    if value not in ALL_SECRETS:
        ALL_SECRETS.append(value)
    return value


def _pem(
    key,
    private_format: serialization.PrivateFormat,
    encryption: serialization.KeySerializationEncryption | None = None,
) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NB: cryptography deprecates SSH DSA; the service still accepts it.
        data = key.private_bytes(
            serialization.Encoding.PEM, private_format, encryption or serialization.NoEncryption()
        )
    return data.decode("ascii")


def _openssh_public(key) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
    return data.decode("ascii")


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _encrypted_openssh_key(key: ed25519.Ed25519PrivateKey) -> str:
    """An OpenSSH key container marked aes256-ctr/bcrypt, as `ssh-keygen -N pw` writes it.

    NB: cryptography cannot write encrypted OpenSSH keys without the `bcrypt` package; the encrypted
    section is never opened by a validator (it stops at "password-protected"), so filler bytes do.
    """
    public_blob = base64.b64decode(_openssh_public(key).split()[1])
    kdf_options = _ssh_string(bytes(range(16))) + struct.pack(">I", 16)
    body = (
        b"openssh-key-v1\0"
        + _ssh_string(b"aes256-ctr")
        + _ssh_string(b"bcrypt")
        + _ssh_string(kdf_options)
        + struct.pack(">I", 1)
        + _ssh_string(public_blob)
        + _ssh_string(bytes(range(96)))
    )
    lines = [base64.b64encode(body[i : i + 54]).decode("ascii") for i in range(0, len(body), 54)]
    return (
        "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END OPENSSH PRIVATE KEY-----\n"
    )


PKCS8 = serialization.PrivateFormat.PKCS8
TRADITIONAL = serialization.PrivateFormat.TraditionalOpenSSL
OPENSSH = serialization.PrivateFormat.OpenSSH

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ECDSA_KEY = ec.generate_private_key(ec.SECP256R1())
DSA_KEY = dsa.generate_private_key(key_size=2048)
DSA_OPENSSH_KEY = dsa.generate_private_key(key_size=1024)
ED25519_KEY = ed25519.Ed25519PrivateKey.generate()

PRIVATE_KEYS: dict[str, str] = {
    "rsa-pkcs1": _pem(RSA_KEY, TRADITIONAL),
    "rsa-pkcs8": _pem(RSA_KEY, PKCS8),
    "rsa-openssh": _pem(RSA_KEY, OPENSSH),
    "ecdsa-sec1": _pem(ECDSA_KEY, TRADITIONAL),
    "ecdsa-pkcs8": _pem(ECDSA_KEY, PKCS8),
    "ecdsa-openssh": _pem(ECDSA_KEY, OPENSSH),
    "dsa-traditional": _pem(DSA_KEY, TRADITIONAL),
    "dsa-pkcs8": _pem(DSA_KEY, PKCS8),
    "dsa-openssh-1024": _pem(DSA_OPENSSH_KEY, OPENSSH),
    "ed25519-pkcs8": _pem(ED25519_KEY, PKCS8),
    "ed25519-openssh": _pem(ED25519_KEY, OPENSSH),
}
ENCRYPTED_KEYS: dict[str, str] = {
    "rsa-pkcs1-passphrase": _pem(RSA_KEY, TRADITIONAL, serialization.BestAvailableEncryption(b"passphrase")),
    "rsa-pkcs8-passphrase": _pem(RSA_KEY, PKCS8, serialization.BestAvailableEncryption(b"passphrase")),
    "ed25519-openssh-passphrase": _encrypted_openssh_key(ED25519_KEY),
}
INVALID_KEYS: dict[str, str] = {
    "garbage": "garbage-private-key-material-4c1d7e",
    "truncated-pem": PRIVATE_KEYS["rsa-pkcs1"][:200],
    "public-key": _openssh_public(ed25519.Ed25519PrivateKey.generate()) + "\n",
    "ecdsa-secp256k1": _pem(ec.generate_private_key(ec.SECP256K1()), TRADITIONAL),
    "ed448": _pem(ed448.Ed448PrivateKey.generate(), PKCS8),
}
NOT_BASE64_KEY = secret_as_sent("!!not-base64-private-key-9e2f!!")

HTTPS_USER = "gitops-https-user-5a1b9c"
HTTPS_KEY = "gitops-https-token-0d4e8f27b6c3a915"

# ---- known_hosts ---------------------------------------------------------------------------------


def _hashed_host(host: str, salt: bytes) -> str:
    digest = hmac.new(salt, host.encode("ascii"), hashlib.sha1).digest()
    return f"|1|{b64(salt)}|{b64(digest)}"


# Host keys are keys of their own: a client's private key must never show up in known_hosts.
ED25519_HOST_KEY = " ".join(_openssh_public(ed25519.Ed25519PrivateKey.generate()).split()[:2])
RSA_HOST_KEY = " ".join(
    _openssh_public(rsa.generate_private_key(public_exponent=65537, key_size=2048)).split()[:2]
)
ECDSA_HOST_KEY = " ".join(_openssh_public(ec.generate_private_key(ec.SECP384R1())).split()[:2])
ED25519_HOST_BLOB = ED25519_HOST_KEY.split()[1]

KNOWN_HOSTS = {
    "plain": f"github.com {ED25519_HOST_KEY}\n",
    "port": f"[127.0.0.1]:2222 {RSA_HOST_KEY}\n",
    "hashed": f"{_hashed_host('example.com', bytes(range(20)))} {ECDSA_HOST_KEY}\n",
    "comments": f"# known hosts of the test servers\n\n   \ngithub.com {ED25519_HOST_KEY} github's key\n",
    "multiple": (
        f"github.com,140.82.121.4 {ED25519_HOST_KEY}\r\n[127.0.0.1]:2222,[localhost]:2222 {RSA_HOST_KEY}\n"
        f"@cert-authority *.example.com {ECDSA_HOST_KEY}\n@revoked old.example.com {RSA_HOST_KEY}\n"
        f"\t*.internal\t{ECDSA_HOST_KEY}   trailing comment\n"
    ),
}
BAD_KNOWN_HOSTS = {
    "two-fields": "github.com ssh-ed25519\n",
    "key-blob-not-a-key": f"github.com ssh-ed25519 {b64('not a key blob at all')}\n",
    "key-type-mismatch": f"github.com ssh-rsa {ED25519_HOST_BLOB}\n",
    "unknown-key-type": f"github.com ssh-foo {ED25519_HOST_BLOB}\n",
    "unknown-marker": f"@trusted github.com {ED25519_HOST_KEY}\n",
    "bad-host-pattern": f"git/hub {ED25519_HOST_KEY}\n",
    "bad-hashed-host": f"|1|abc|def {ED25519_HOST_KEY}\n",
    "second-line-bad": f"github.com {ED25519_HOST_KEY}\nthis is not a known_hosts line\n",
}

# ---- shorthands ----------------------------------------------------------------------------------

SEED_URL = "https://github.com/Azure/arc-k8s-demo"
SSH_URL = "git@github.com:Azure/arc-k8s-demo.git"

SEED_PROPERTIES = {
    "repositoryUrl": SEED_URL,
    "operatorInstanceName": "cluster-config",
    "operatorNamespace": "cluster-config",
    "operatorScope": "cluster",
    "operatorType": "Flux",
}

BAD_REQUEST = "InvalidRequestContent"
BAD_VALUE = "InvalidArgumentValue"
EXCLUSIVE = "MutuallyExclusiveArguments"
MISSING = "RequiredArgumentMissing"

URL_MESSAGE = (
    "Invalid --repository-url: use one of http[s]://server/repo[.git], git://server/repo[.git], "
    "ssh://user@server/repo[.git], user@server:repo[.git] (git@ may replace user@; a :port may "
    "follow the server in the :// forms)"
)
KEY_INVALID_MESSAGE = (
    "--ssh-private-key provided in invalid format. Verify the key provided is a valid "
    "PEM-formatted key of type RSA, ECC, DSA, or Ed25519"
)
KEY_ENCRYPTED_MESSAGE = (
    "--ssh-private-key is protected by a passphrase, which Flux cannot use. "
    "Provide the key without a passphrase"
)
KNOWN_HOSTS_BASE64_MESSAGE = "ssh known_hosts is not a valid utf-8 base64 encoded string"
KNOWN_HOSTS_FORMAT_MESSAGE = "ssh known_hosts provided in wrong format"
HTTPS_WITH_NON_HTTP_MESSAGE = (
    "https auth (--https-user and --https-key) cannot be used with a non-http(s) url"
)
HTTPS_SEPARATELY_MESSAGE = "--https-user and --https-key cannot be used separately"
PARAMS_PREFIX = "Invalid --operator-params: "
CHART_VERSION_MESSAGE = (
    "Invalid --helm-operator-chart-version: use a semantic version 1.2.0 or later, such as 1.2.0"
)

KEY_TARGET = "properties.configurationProtectedSettings.sshPrivateKey"
SETTINGS_TARGET = "properties.configurationProtectedSettings"
KNOWN_HOSTS_TARGET = "properties.sshKnownHostsContents"
PARAMS_TARGET = "properties.operatorParams"
URL_TARGET = "properties.repositoryUrl"
CHART_TARGET = "properties.helmOperatorProperties.chartVersion"


def props(**overrides: object) -> dict:
    """An https configuration (the seed's URL) with `overrides` applied; a None override removes the key."""
    properties: dict = {"repositoryUrl": SEED_URL}
    for key, value in overrides.items():
        if value is None:
            properties.pop(key, None)
        else:
            properties[key] = value
    return properties


def ssh_props(**overrides: object) -> dict:
    return props(repositoryUrl=SSH_URL, **overrides)


def https_auth(user: str | None = HTTPS_USER, key: str | None = HTTPS_KEY) -> dict:
    settings = {}
    if user is not None:
        settings["httpsUser"] = secret_b64(user)
    if key is not None:
        settings["httpsKey"] = secret_b64(key)
    return settings


def ssh_key(pem: str) -> dict:
    return {"sshPrivateKey": secret_b64(pem)}


def accepted(case_id: str, properties: dict, **kwargs: object) -> Case:
    return Case(id=case_id, properties=properties, status=201, **kwargs)


def rejected(
    case_id: str, properties: dict | None, *, code: str, message: str, target: str | None, **kwargs: object
) -> Case:
    return Case(
        id=case_id, properties=properties, status=400, code=code, message=message, target=target, **kwargs
    )


def name_message(parameter: str, problem: str, limit: int = 0) -> str:
    return {
        "long": f"Parameter {parameter} can be a maximum of {limit} characters",
        "hyphen": f"Parameter {parameter} cannot begin or end with a hyphen",
        "characters": f"Parameter {parameter} can only contain lowercase alphanumeric characters and hyphens",
    }[problem]


def params_message(reason: str) -> str:
    return PARAMS_PREFIX + reason


# ---- the cases -----------------------------------------------------------------------------------

SEED_CASES = [
    accepted(
        "seed-tutorial-create",
        SEED_PROPERTIES,
        name="cluster-config",
        expect_operator_params="--git-readonly",
        expect_properties={
            "operatorInstanceName": "cluster-config",
            "operatorNamespace": "cluster-config",
            "operatorScope": "cluster",
            "operatorType": "Flux",
            "enableHelmOperator": False,
            "helmOperatorProperties": None,
            "sshKnownHostsContents": "",
        },
    ),
    accepted(
        "defaults",
        props(),
        name="defaults-cfg",
        expect_operator_params="--git-readonly",
        expect_properties={
            "operatorInstanceName": "defaults-cfg",
            "operatorNamespace": "default",
            "operatorScope": "cluster",
            "operatorType": "Flux",
            "enableHelmOperator": False,
            "helmOperatorProperties": None,
        },
    ),
    accepted(
        "operator-type-and-scope-any-case",
        props(operatorType="flux", operatorScope="Namespace"),
        expect_properties={"operatorType": "Flux", "operatorScope": "namespace"},
    ),
    accepted(
        "nulls-mean-defaults",
        props(operatorNamespace="", operatorInstanceName="")
        | {
            "operatorParams": None,
            "operatorType": None,
            "operatorScope": None,
            "sshKnownHostsContents": None,
            "configurationProtectedSettings": None,
            "enableHelmOperator": None,
            "helmOperatorProperties": None,
        },
        expect_operator_params="--git-readonly",
        expect_properties={"operatorNamespace": "default", "operatorInstanceName": "cfg"},
    ),
    accepted(
        "round-tripped-get-output",
        props(
            operatorParams="--git-readonly",
            operatorScope="cluster",
            operatorType="Flux",
            configurationProtectedSettings={},
            sshKnownHostsContents="",
            repositoryPublicKey="",
            provisioningState="Succeeded",
            enableHelmOperator=False,
            complianceStatus={
                "complianceState": "Pending",
                "lastConfigApplied": "0001-01-01T00:00:00",
                "message": '{"OperatorMessage":null,"ClusterState":null}',
                "messageLevel": "3",
            },
        ),
        expect_operator_params="--git-readonly",
        expect_properties={"sshKnownHostsContents": ""},
    ),
]

SHAPE_CASES = [
    rejected(
        "malformed-json",
        None,
        raw_body='{"properties": {"repositoryUrl": ',
        code=BAD_REQUEST,
        message="The request body is not valid JSON",
        target=None,
    ),
    rejected(
        "empty-body",
        None,
        raw_body="",
        code=BAD_REQUEST,
        message="The request body is not valid JSON",
        target=None,
    ),
    rejected(
        "body-is-a-list",
        None,
        raw_body="[]",
        code=BAD_REQUEST,
        message="The request body must be a JSON object",
        target=None,
    ),
    rejected(
        "body-is-a-string",
        None,
        raw_body='"properties"',
        code=BAD_REQUEST,
        message="The request body must be a JSON object",
        target=None,
    ),
    rejected(
        "body-is-null",
        None,
        raw_body="null",
        code=BAD_REQUEST,
        message="The request body must be a JSON object",
        target=None,
    ),
    rejected(
        "properties-missing",
        None,
        raw_body="{}",
        code=BAD_REQUEST,
        message="properties is required",
        target="properties",
    ),
    rejected(
        "properties-not-an-object",
        None,
        raw_body='{"properties": ["repositoryUrl"]}',
        code=BAD_REQUEST,
        message="properties must be a JSON object",
        target="properties",
    ),
    rejected(
        "unknown-top-level-key",
        None,
        raw_body=json.dumps({"properties": props(), "location": "eastus"}),
        code=BAD_REQUEST,
        message="location is not a known property of the request body",
        target="location",
    ),
    Case(
        id="top-level-resource-fields-ignored",
        properties=None,
        status=201,
        expect_operator_params="--git-readonly",
        raw_body=json.dumps(
            {
                "id": "/subscriptions/x/whatever",
                "name": "cfg",
                "systemData": {"createdBy": "me"},
                "type": "Microsoft.KubernetesConfiguration/sourceControlConfigurations",
                "properties": props(),
            }
        ),
    ),
    rejected(
        "unknown-property",
        props(gitBranch="main"),
        code=BAD_REQUEST,
        message="properties.gitBranch is not a known property",
        target="properties.gitBranch",
    ),
    rejected(
        "repository-url-missing",
        props(repositoryUrl=None, operatorParams="--git-readonly"),
        code=BAD_REQUEST,
        message="properties.repositoryUrl is required",
        target=URL_TARGET,
    ),
    rejected(
        "repository-url-null",
        {"repositoryUrl": None},
        code=BAD_REQUEST,
        message="properties.repositoryUrl is required",
        target=URL_TARGET,
    ),
    rejected(
        "repository-url-not-a-string",
        props(repositoryUrl=42),
        code=BAD_REQUEST,
        message="properties.repositoryUrl must be a string",
        target=URL_TARGET,
    ),
    rejected(
        "operator-params-not-a-string",
        props(operatorParams=["--git-readonly"]),
        code=BAD_REQUEST,
        message="properties.operatorParams must be a string",
        target=PARAMS_TARGET,
    ),
    rejected(
        "operator-scope-not-a-string",
        props(operatorScope=1),
        code=BAD_REQUEST,
        message="properties.operatorScope must be a string",
        target="properties.operatorScope",
    ),
    rejected(
        "enable-helm-operator-not-a-boolean",
        props(enableHelmOperator="yes"),
        code=BAD_REQUEST,
        message="properties.enableHelmOperator must be a boolean",
        target="properties.enableHelmOperator",
    ),
    rejected(
        "enable-helm-operator-number",
        props(enableHelmOperator=1),
        code=BAD_REQUEST,
        message="properties.enableHelmOperator must be a boolean",
        target="properties.enableHelmOperator",
    ),
    rejected(
        "known-hosts-not-a-string",
        ssh_props(sshKnownHostsContents=5),
        code=BAD_REQUEST,
        message="properties.sshKnownHostsContents must be a string",
        target=KNOWN_HOSTS_TARGET,
    ),
    rejected(
        "protected-settings-not-an-object",
        ssh_props(configurationProtectedSettings="secret"),
        code=BAD_REQUEST,
        message="properties.configurationProtectedSettings must be a JSON object",
        target=SETTINGS_TARGET,
    ),
    rejected(
        "protected-setting-not-a-string",
        ssh_props(configurationProtectedSettings={"sshPrivateKey": 5}),
        code=BAD_REQUEST,
        message="properties.configurationProtectedSettings.sshPrivateKey must be a string",
        target=KEY_TARGET,
    ),
    rejected(
        "protected-setting-unknown",
        props(configurationProtectedSettings={"password": "x"}),
        code=BAD_REQUEST,
        message="properties.configurationProtectedSettings.password is not a known property",
        target="properties.configurationProtectedSettings.password",
    ),
    rejected(
        "helm-properties-not-an-object",
        props(enableHelmOperator=True, helmOperatorProperties="1.2.0"),
        code=BAD_REQUEST,
        message="properties.helmOperatorProperties must be a JSON object",
        target="properties.helmOperatorProperties",
    ),
    rejected(
        "helm-chart-version-not-a-string",
        props(enableHelmOperator=True, helmOperatorProperties={"chartVersion": 1.2}),
        code=BAD_REQUEST,
        message="properties.helmOperatorProperties.chartVersion must be a string",
        target=CHART_TARGET,
    ),
    rejected(
        "helm-properties-unknown-member",
        props(enableHelmOperator=True, helmOperatorProperties={"chartName": "flux"}),
        code=BAD_REQUEST,
        message="properties.helmOperatorProperties.chartName is not a known property",
        target="properties.helmOperatorProperties.chartName",
    ),
    rejected(
        "repository-url-over-cap",
        props(repositoryUrl="https://example.com/" + "r" * 2029),
        code=BAD_REQUEST,
        message="properties.repositoryUrl must be at most 2048 characters",
        target=URL_TARGET,
    ),
    rejected(
        "operator-params-over-cap",
        props(operatorParams="--git-readonly " * 600),
        code=BAD_REQUEST,
        message="properties.operatorParams must be at most 8192 characters",
        target=PARAMS_TARGET,
    ),
    rejected(
        "operator-type-not-flux",
        props(operatorType="Flagger"),
        code=BAD_VALUE,
        message="Invalid --operator-type: only Flux is supported",
        target="properties.operatorType",
    ),
    rejected(
        "operator-scope-invalid",
        props(operatorScope="global"),
        code=BAD_VALUE,
        message="Invalid --scope: use cluster or namespace",
        target="properties.operatorScope",
    ),
]

NAME_CASES = [
    accepted("name-63-characters", props(operatorInstanceName="cfg"), name="n" * 63),
    rejected(
        "name-64-characters",
        props(),
        name="n" * 64,
        code=BAD_VALUE,
        message=name_message("--name", "long", 63),
        target="name",
    ),
    rejected(
        "name-leading-hyphen",
        props(),
        name="-cfg",
        code=BAD_VALUE,
        message=name_message("--name", "hyphen"),
        target="name",
    ),
    rejected(
        "name-trailing-hyphen",
        props(),
        name="cfg-",
        code=BAD_VALUE,
        message=name_message("--name", "hyphen"),
        target="name",
    ),
    rejected(
        "name-uppercase",
        props(),
        name="Cfg",
        code=BAD_VALUE,
        message=name_message("--name", "characters"),
        target="name",
    ),
    rejected(
        "name-underscore",
        props(),
        name="my_cfg",
        code=BAD_VALUE,
        message=name_message("--name", "characters"),
        target="name",
    ),
    accepted(
        "instance-name-23-characters",
        props(operatorInstanceName="i" * 23),
        expect_properties={"operatorInstanceName": "i" * 23},
    ),
    rejected(
        "instance-name-24-characters",
        props(operatorInstanceName="i" * 24),
        code=BAD_VALUE,
        message=name_message("--operator-instance-name", "long", 23),
        target="properties.operatorInstanceName",
    ),
    rejected(
        "instance-name-hyphen",
        props(operatorInstanceName="flux-"),
        code=BAD_VALUE,
        message=name_message("--operator-instance-name", "hyphen"),
        target="properties.operatorInstanceName",
    ),
    rejected(
        "instance-name-uppercase",
        props(operatorInstanceName="Flux"),
        code=BAD_VALUE,
        message=name_message("--operator-instance-name", "characters"),
        target="properties.operatorInstanceName",
    ),
    accepted(
        "namespace-23-characters",
        props(operatorNamespace="s" * 23),
        expect_properties={"operatorNamespace": "s" * 23},
    ),
    rejected(
        "namespace-24-characters",
        props(operatorNamespace="s" * 24),
        code=BAD_VALUE,
        message=name_message("--operator-namespace", "long", 23),
        target="properties.operatorNamespace",
    ),
    rejected(
        "namespace-hyphen",
        props(operatorNamespace="-team-a"),
        code=BAD_VALUE,
        message=name_message("--operator-namespace", "hyphen"),
        target="properties.operatorNamespace",
    ),
    rejected(
        "namespace-dot",
        props(operatorNamespace="team.a"),
        code=BAD_VALUE,
        message=name_message("--operator-namespace", "characters"),
        target="properties.operatorNamespace",
    ),
    rejected(
        "long-and-hyphen-reports-length",
        props(operatorNamespace="-" + "s" * 23),
        code=BAD_VALUE,
        message=name_message("--operator-namespace", "long", 23),
        target="properties.operatorNamespace",
    ),
    rejected(
        "instance-name-checked-before-namespace",
        props(operatorInstanceName="A", operatorNamespace="B"),
        code=BAD_VALUE,
        message=name_message("--operator-instance-name", "characters"),
        target="properties.operatorInstanceName",
    ),
]

URL_CASES = [
    accepted("url-https-dot-git", props(repositoryUrl="https://github.com/Azure/arc-k8s-demo.git")),
    accepted("url-http-port", props(repositoryUrl="http://127.0.0.1:8080/repo.git")),
    accepted("url-https-uppercase-scheme", props(repositoryUrl="HTTPS://github.com/Azure/arc-k8s-demo")),
    accepted("url-https-azure-devops", props(repositoryUrl="https://dev.azure.com/org/project/_git/repo")),
    accepted("url-git-port", props(repositoryUrl="git://127.0.0.1:9418/repo.git")),
    accepted("url-git-no-dot-git", props(repositoryUrl="git://example.com/team/repo")),
    accepted(
        "url-ssh-port-absolute-path", props(repositoryUrl="ssh://root@127.0.0.1:2222/abs/path/repo.git")
    ),
    accepted("url-ssh-git-user", props(repositoryUrl="ssh://git@github.com/Azure/arc-k8s-demo")),
    accepted("url-scp-git", props(repositoryUrl="git@github.com:Azure/arc-k8s-demo.git")),
    accepted("url-scp-user", props(repositoryUrl="deploy@gitserver:repo")),
    accepted("url-scp-absolute-path", props(repositoryUrl="git@127.0.0.1:/srv/git/repo.git")),
    rejected(
        "url-ftp",
        props(repositoryUrl="ftp://example.com/repo.git"),
        code=BAD_VALUE,
        message=URL_MESSAGE,
        target=URL_TARGET,
    ),
    rejected(
        "url-file",
        props(repositoryUrl="file:///tmp/repo.git"),
        code=BAD_VALUE,
        message=URL_MESSAGE,
        target=URL_TARGET,
    ),
    rejected(
        "url-local-path",
        props(repositoryUrl="/srv/git/repo.git"),
        code=BAD_VALUE,
        message=URL_MESSAGE,
        target=URL_TARGET,
    ),
    rejected(
        "url-bare-host",
        props(repositoryUrl="github.com/Azure/arc-k8s-demo"),
        code=BAD_VALUE,
        message=URL_MESSAGE,
        target=URL_TARGET,
    ),
    rejected(
        "url-https-no-repo",
        props(repositoryUrl="https://github.com"),
        code=BAD_VALUE,
        message=URL_MESSAGE,
        target=URL_TARGET,
    ),
    rejected(
        "url-https-slash-only",
        props(repositoryUrl="https://github.com/"),
        code=BAD_VALUE,
        message=URL_MESSAGE,
        target=URL_TARGET,
    ),
    rejected(
        "url-space",
        props(repositoryUrl="https://github.com/Azure/arc k8s demo"),
        code=BAD_VALUE,
        message=URL_MESSAGE,
        target=URL_TARGET,
    ),
    rejected(
        "url-credentials-in-url",
        props(repositoryUrl="https://user:token@github.com/Azure/repo"),
        code=BAD_VALUE,
        message=URL_MESSAGE,
        target=URL_TARGET,
    ),
    rejected(
        "url-query",
        props(repositoryUrl="https://github.com/Azure/repo?ref=main"),
        code=BAD_VALUE,
        message=URL_MESSAGE,
        target=URL_TARGET,
    ),
    rejected(
        "url-bad-port",
        props(repositoryUrl="git://127.0.0.1:99999/repo.git"),
        code=BAD_VALUE,
        message=URL_MESSAGE,
        target=URL_TARGET,
    ),
    rejected(
        "url-ssh-without-user",
        props(repositoryUrl="ssh://github.com/Azure/repo.git"),
        code=BAD_VALUE,
        message=URL_MESSAGE,
        target=URL_TARGET,
    ),
    rejected(
        "url-scp-no-repo",
        props(repositoryUrl="git@github.com:"),
        code=BAD_VALUE,
        message=URL_MESSAGE,
        target=URL_TARGET,
    ),
    rejected(
        "url-scp-no-colon",
        props(repositoryUrl="git@github.com"),
        code=BAD_VALUE,
        message=URL_MESSAGE,
        target=URL_TARGET,
    ),
    rejected(
        "url-dot-dot-segment",
        props(repositoryUrl="https://github.com/../repo"),
        code=BAD_VALUE,
        message=URL_MESSAGE,
        target=URL_TARGET,
    ),
    rejected("url-empty", props(repositoryUrl=""), code=BAD_VALUE, message=URL_MESSAGE, target=URL_TARGET),
]

EXCLUSION_CASES = [
    rejected(
        "ssh-key-with-https-url",
        props(configurationProtectedSettings=ssh_key(PRIVATE_KEYS["ed25519-openssh"])),
        code=EXCLUSIVE,
        message="An --ssh-private-key cannot be used with an http(s) url",
        target=KEY_TARGET,
    ),
    rejected(
        "known-hosts-with-https-url",
        props(sshKnownHostsContents=b64(KNOWN_HOSTS["plain"])),
        code=EXCLUSIVE,
        message="--ssh-known-hosts cannot be used with an http(s) url",
        target=KNOWN_HOSTS_TARGET,
    ),
    rejected(
        "ssh-key-and-known-hosts-with-http-url-reports-key",
        props(
            repositoryUrl="http://127.0.0.1:8080/repo.git",
            sshKnownHostsContents=b64(KNOWN_HOSTS["plain"]),
            configurationProtectedSettings=ssh_key(PRIVATE_KEYS["rsa-pkcs1"]),
        ),
        code=EXCLUSIVE,
        message="An --ssh-private-key cannot be used with an http(s) url",
        target=KEY_TARGET,
    ),
    accepted("https-auth-with-https-url", props(configurationProtectedSettings=https_auth())),
    accepted(
        "https-auth-with-http-url",
        props(repositoryUrl="http://127.0.0.1:8080/repo.git", configurationProtectedSettings=https_auth()),
    ),
    rejected(
        "https-user-without-key",
        props(configurationProtectedSettings=https_auth(key=None)),
        code=MISSING,
        message=HTTPS_SEPARATELY_MESSAGE,
        target=SETTINGS_TARGET,
    ),
    rejected(
        "https-key-without-user",
        props(configurationProtectedSettings=https_auth(user=None)),
        code=MISSING,
        message=HTTPS_SEPARATELY_MESSAGE,
        target=SETTINGS_TARGET,
    ),
    rejected(
        "https-auth-with-git-url",
        props(repositoryUrl="git://127.0.0.1:9418/repo.git", configurationProtectedSettings=https_auth()),
        code=EXCLUSIVE,
        message=HTTPS_WITH_NON_HTTP_MESSAGE,
        target=SETTINGS_TARGET,
    ),
    rejected(
        "https-auth-with-ssh-url",
        props(
            repositoryUrl="ssh://root@127.0.0.1:2222/abs/path/repo.git",
            configurationProtectedSettings=https_auth(),
        ),
        code=EXCLUSIVE,
        message=HTTPS_WITH_NON_HTTP_MESSAGE,
        target=SETTINGS_TARGET,
    ),
    rejected(
        "https-user-only-with-scp-url-reports-exclusion",
        ssh_props(configurationProtectedSettings=https_auth(key=None)),
        code=EXCLUSIVE,
        message=HTTPS_WITH_NON_HTTP_MESSAGE,
        target=SETTINGS_TARGET,
    ),
    rejected(
        "https-user-not-base64",
        props(
            configurationProtectedSettings={
                "httpsUser": secret_as_sent("gitops user!"),
                "httpsKey": secret_b64(HTTPS_KEY),
            }
        ),
        code=BAD_VALUE,
        message="--https-user is not a valid utf-8 base64 encoded string",
        target="properties.configurationProtectedSettings.httpsUser",
    ),
    rejected(
        "https-key-not-utf8",
        props(
            configurationProtectedSettings={
                "httpsUser": secret_b64(HTTPS_USER),
                "httpsKey": secret_b64(b"\xff\xfe\xfd-token"),
            }
        ),
        code=BAD_VALUE,
        message="--https-key is not a valid utf-8 base64 encoded string",
        target="properties.configurationProtectedSettings.httpsKey",
    ),
    accepted(
        "empty-https-settings-mean-absent",
        ssh_props(configurationProtectedSettings={"httpsUser": "", "httpsKey": "", "sshPrivateKey": ""}),
    ),
]

PRIVATE_KEY_CASES = [
    *(
        accepted(f"ssh-key-{kind}", ssh_props(configurationProtectedSettings=ssh_key(pem)))
        for kind, pem in PRIVATE_KEYS.items()
    ),
    accepted(
        "ssh-key-base64-with-line-breaks",
        ssh_props(
            configurationProtectedSettings={
                "sshPrivateKey": secret_as_sent(
                    base64.encodebytes(PRIVATE_KEYS["ecdsa-openssh"].encode()).decode()
                )
            }
        ),
    ),
    accepted(
        "ssh-key-with-ssh-url-and-port",
        props(
            repositoryUrl="ssh://root@127.0.0.1:2222/abs/path/repo.git",
            configurationProtectedSettings=ssh_key(PRIVATE_KEYS["ed25519-openssh"]),
        ),
    ),
    accepted(
        "ssh-key-with-git-url",
        props(
            repositoryUrl="git://127.0.0.1:9418/repo.git",
            configurationProtectedSettings=ssh_key(PRIVATE_KEYS["rsa-openssh"]),
        ),
    ),
    *(
        rejected(
            f"ssh-key-{kind}",
            ssh_props(configurationProtectedSettings=ssh_key(pem)),
            code=BAD_VALUE,
            message=KEY_ENCRYPTED_MESSAGE,
            target=KEY_TARGET,
        )
        for kind, pem in ENCRYPTED_KEYS.items()
    ),
    *(
        rejected(
            f"ssh-key-invalid-{kind}",
            ssh_props(configurationProtectedSettings=ssh_key(text)),
            code=BAD_VALUE,
            message=KEY_INVALID_MESSAGE,
            target=KEY_TARGET,
        )
        for kind, text in INVALID_KEYS.items()
    ),
    rejected(
        "ssh-key-not-base64",
        ssh_props(configurationProtectedSettings={"sshPrivateKey": NOT_BASE64_KEY}),
        code=BAD_VALUE,
        message=KEY_INVALID_MESSAGE,
        target=KEY_TARGET,
    ),
    rejected(
        "ssh-key-checked-before-known-hosts",
        ssh_props(
            configurationProtectedSettings=ssh_key(INVALID_KEYS["garbage"]),
            sshKnownHostsContents="not base64!",
        ),
        code=BAD_VALUE,
        message=KEY_INVALID_MESSAGE,
        target=KEY_TARGET,
    ),
]

KNOWN_HOSTS_CASES = [
    *(
        accepted(
            f"known-hosts-{kind}",
            ssh_props(sshKnownHostsContents=b64(text)),
            expect_properties={"sshKnownHostsContents": b64(text)},
        )
        for kind, text in KNOWN_HOSTS.items()
    ),
    accepted(
        "known-hosts-with-key-and-ssh-port-url",
        props(
            repositoryUrl="ssh://root@127.0.0.1:2222/abs/path/repo.git",
            sshKnownHostsContents=b64(KNOWN_HOSTS["port"]),
            configurationProtectedSettings=ssh_key(PRIVATE_KEYS["rsa-pkcs8"]),
        ),
    ),
    accepted("known-hosts-only-comments", ssh_props(sshKnownHostsContents=b64("# nothing yet\n"))),
    rejected(
        "known-hosts-not-base64",
        ssh_props(sshKnownHostsContents="github.com ssh-ed25519 AAAA"),
        code=BAD_VALUE,
        message=KNOWN_HOSTS_BASE64_MESSAGE,
        target=KNOWN_HOSTS_TARGET,
    ),
    rejected(
        "known-hosts-not-utf8",
        ssh_props(sshKnownHostsContents=b64(b"github.com \xff\xfe ssh-rsa")),
        code=BAD_VALUE,
        message=KNOWN_HOSTS_BASE64_MESSAGE,
        target=KNOWN_HOSTS_TARGET,
    ),
    *(
        rejected(
            f"known-hosts-{kind}",
            ssh_props(sshKnownHostsContents=b64(text)),
            code=BAD_VALUE,
            message=KNOWN_HOSTS_FORMAT_MESSAGE,
            target=KNOWN_HOSTS_TARGET,
        )
        for kind, text in BAD_KNOWN_HOSTS.items()
    ),
]


def params_accepted(case_id: str, params: str, stored: str) -> Case:
    return accepted(case_id, props(operatorParams=params), expect_operator_params=stored)


def params_rejected(case_id: str, params: str, reason: str) -> Case:
    return rejected(
        case_id,
        props(operatorParams=params),
        code=BAD_VALUE,
        message=params_message(reason),
        target=PARAMS_TARGET,
    )


OPERATOR_PARAMS_CASES = [
    params_accepted("params-empty-gets-readonly", "", "--git-readonly"),
    params_accepted("params-blank-gets-readonly", "   ", "--git-readonly"),
    params_accepted("params-git-branch-equals", "--git-branch=main", "--git-branch=main --git-readonly"),
    params_accepted(
        "params-git-branch-separate-value", "--git-branch main", "--git-branch main --git-readonly"
    ),
    params_accepted("params-git-path", "--git-path=deploy/webapp", "--git-path=deploy/webapp --git-readonly"),
    params_accepted(
        "params-git-path-list", "--git-path=./team-a,team-b/", "--git-path=./team-a,team-b/ --git-readonly"
    ),
    params_accepted("params-git-readonly-not-repeated", "--git-readonly", "--git-readonly"),
    params_accepted("params-git-readonly-false-kept", "--git-readonly=false", "--git-readonly=false"),
    params_accepted(
        "params-manifest-generation", "--manifest-generation", "--manifest-generation --git-readonly"
    ),
    params_accepted(
        "params-manifest-generation-true",
        "--manifest-generation=true",
        "--manifest-generation=true --git-readonly",
    ),
    params_accepted(
        "params-git-poll-interval", "--git-poll-interval=30s", "--git-poll-interval=30s --git-readonly"
    ),
    params_accepted(
        "params-durations",
        "--git-poll-interval 1m30s --sync-interval=1h --git-timeout=500ms",
        "--git-poll-interval 1m30s --sync-interval=1h --git-timeout=500ms --git-readonly",
    ),
    params_accepted(
        "params-sync-garbage-collection",
        "--sync-garbage-collection",
        "--sync-garbage-collection --git-readonly",
    ),
    params_accepted("params-git-label", "--git-label=flux-sync", "--git-label=flux-sync --git-readonly"),
    params_accepted("params-git-user-no-readonly", "--git-user=x", "--git-user=x"),
    params_accepted(
        "params-git-email-no-readonly", "--git-email=flux@example.com", "--git-email=flux@example.com"
    ),
    params_accepted(
        "params-quoted-user-and-email",
        "--git-user='Flux Bot' --git-email flux@example.com",
        "--git-user='Flux Bot' --git-email flux@example.com",
    ),
    params_accepted(
        "params-seed-table",
        "--git-branch=master --git-path=cluster-config --git-label=flux-sync "
        "--git-poll-interval=5m --sync-garbage-collection --manifest-generation",
        "--git-branch=master --git-path=cluster-config --git-label=flux-sync --git-poll-interval=5m "
        "--sync-garbage-collection --manifest-generation --git-readonly",
    ),
    params_accepted(
        "params-more-flux-flags",
        "--k8s-allow-namespace=team-a,team-b --sync-state=secret --registry-disable-scanning --git-ci-skip",
        "--k8s-allow-namespace=team-a,team-b --sync-state=secret --registry-disable-scanning "
        "--git-ci-skip --git-readonly",
    ),
    params_accepted(
        "params-surrounding-space-trimmed", "  --git-branch=main  ", "--git-branch=main --git-readonly"
    ),
    params_rejected(
        "params-unknown-flag",
        "--git-branch=main --git-foo=bar",
        f"unknown flag --git-foo; allowed flags: {', '.join(allowed_flags())}",
    ),
    params_rejected(
        "params-service-owned-flag",
        "--git-url=https://example.com/other.git",
        f"unknown flag --git-url; allowed flags: {', '.join(allowed_flags())}",
    ),
    params_rejected(
        "params-bad-duration",
        "--git-poll-interval=5",
        "flag --git-poll-interval needs a positive duration such as 30s, 5m, 1h or 1m30s, not '5'",
    ),
    params_rejected(
        "params-zero-duration",
        "--sync-interval=0s",
        "flag --sync-interval needs a positive duration such as 30s, 5m, 1h or 1m30s, not '0s'",
    ),
    params_rejected(
        "params-git-path-absolute",
        "--git-path=/etc",
        "flag --git-path needs paths relative to the repository root, without '..', not '/etc'",
    ),
    params_rejected(
        "params-git-path-dot-dot",
        "--git-path=deploy/../../secrets",
        "flag --git-path needs paths relative to the repository root, without '..', "
        "not 'deploy/../../secrets'",
    ),
    params_rejected(
        "params-unbalanced-quotes", "--git-branch='main", "unbalanced quotes (No closing quotation)"
    ),
    params_rejected(
        "params-bare-value",
        "main",
        "unexpected argument 'main'; each parameter must be --flag, --flag=value or --flag value",
    ),
    params_rejected(
        "params-bool-separate-value",
        "--git-readonly true",
        "unexpected argument 'true'; each parameter must be --flag, --flag=value or --flag value",
    ),
    params_rejected(
        "params-short-flag",
        "-b main",
        "unexpected argument '-b'; each parameter must be --flag, --flag=value or --flag value",
    ),
    params_rejected(
        "params-missing-value-at-end", "--git-readonly --git-branch", "flag --git-branch needs a value"
    ),
    params_rejected(
        "params-missing-value-before-flag", "--git-branch --git-readonly", "flag --git-branch needs a value"
    ),
    params_rejected(
        "params-bad-boolean", "--git-readonly=yes", "flag --git-readonly takes true or false, not 'yes'"
    ),
    params_rejected(
        "params-bad-email",
        "--git-email=flux",
        "flag --git-email needs an email address such as flux@example.com, not 'flux'",
    ),
    params_rejected(
        "params-bad-branch",
        "--git-branch=feature..x",
        "flag --git-branch needs a valid git reference name, not 'feature..x'",
    ),
    params_rejected(
        "params-bad-choice", "--sync-state=etcd", "flag --sync-state must be one of git, secret, not 'etcd'"
    ),
]

HELM_CASES = [
    accepted(
        "helm-defaults",
        props(enableHelmOperator=True),
        expect_properties={
            "enableHelmOperator": True,
            "helmOperatorProperties": {"chartVersion": "1.2.0", "chartValues": ""},
        },
    ),
    accepted(
        "helm-1.2.0-with-values",
        props(
            enableHelmOperator=True,
            helmOperatorProperties={"chartVersion": "1.2.0", "chartValues": "--set helm.versions=v3"},
        ),
        expect_properties={
            "helmOperatorProperties": {"chartVersion": "1.2.0", "chartValues": "--set helm.versions=v3"}
        },
    ),
    accepted(
        "helm-1.10.0",
        props(enableHelmOperator=True, helmOperatorProperties={"chartVersion": "1.10.0"}),
        expect_properties={"helmOperatorProperties": {"chartVersion": "1.10.0", "chartValues": ""}},
    ),
    accepted(
        "helm-enabled-as-string",
        props(enableHelmOperator="true"),
        expect_properties={"enableHelmOperator": True},
    ),
    accepted(
        "helm-disabled-ignores-properties",
        props(enableHelmOperator=False, helmOperatorProperties={"chartVersion": "0.1.0"}),
        expect_properties={"enableHelmOperator": False, "helmOperatorProperties": None},
    ),
    rejected(
        "helm-1.1.9",
        props(enableHelmOperator=True, helmOperatorProperties={"chartVersion": "1.1.9"}),
        code=BAD_VALUE,
        message=CHART_VERSION_MESSAGE,
        target=CHART_TARGET,
    ),
    rejected(
        "helm-0.9.0",
        props(enableHelmOperator=True, helmOperatorProperties={"chartVersion": "0.9.0"}),
        code=BAD_VALUE,
        message=CHART_VERSION_MESSAGE,
        target=CHART_TARGET,
    ),
    rejected(
        "helm-prerelease-of-1.2.0",
        props(enableHelmOperator=True, helmOperatorProperties={"chartVersion": "1.2.0-rc1"}),
        code=BAD_VALUE,
        message=CHART_VERSION_MESSAGE,
        target=CHART_TARGET,
    ),
    rejected(
        "helm-not-semver",
        props(enableHelmOperator=True, helmOperatorProperties={"chartVersion": "1.2"}),
        code=BAD_VALUE,
        message=CHART_VERSION_MESSAGE,
        target=CHART_TARGET,
    ),
]

CASES: list[Case] = [
    *SEED_CASES,
    *SHAPE_CASES,
    *NAME_CASES,
    *URL_CASES,
    *EXCLUSION_CASES,
    *PRIVATE_KEY_CASES,
    *KNOWN_HOSTS_CASES,
    *OPERATOR_PARAMS_CASES,
    *HELM_CASES,
]

_duplicate_ids = sorted({case.id for case in CASES if [c.id for c in CASES].count(case.id) > 1})
assert not _duplicate_ids, f"duplicate case ids: {_duplicate_ids}"
