"""The app must also run under Core Tools (`func start`) and in Azure, not only under devhost.

Offline checks against what the real host publishes (copies in `schemas/`, provenance in `schemas/README.md`):
host.json against the SchemaStore schema, the extension bundle it asks for, every binding the app declares
against the host's built-in bindings plus the bundle's extension list, and the app settings the bindings name.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).resolve().parent / "schemas"
HOST_JSON = PROJECT_ROOT / "host.json"
SAMPLE_SETTINGS = PROJECT_ROOT / "local.settings.sample.json"
README = Path(__file__).resolve().parents[2] / "README.md"

BUNDLE_ID = "Microsoft.Azure.Functions.ExtensionBundle"
DURABLE_EXTENSION_ID = "Microsoft.Azure.WebJobs.Extensions.DurableTask"
DURABLE_BINDINGS = {"orchestrationtrigger", "activitytrigger", "entitytrigger", "durableclient",
                    "orchestrationclient"}

# Binding types the host itself handles, without any extension bundle. From Azure/azure-functions-host
# commit 89dc438d476542786f2fc4070f553423213a6223 (release/4.x):
BUILT_IN_BINDINGS = {
    "httptrigger",  # src/WebJobs.Script/Binding/WebJobsCoreScriptBindingProvider.cs
    "http",  # src/WebJobs.Script/Binding/FunctionBinding.cs (output only)
    "timertrigger",  # src/WebJobs.Script/Binding/CoreExtensionsScriptBindingProvider.cs
}

# The Python worker's indexing, in a fresh interpreter: project root first on sys.path, `import function_app`,
# `app.get_functions()`, each function's raw bindings as sent to the host. A subprocess because get_functions()
# may be called only once per app instance and function_app.py sets environment defaults on import.
INDEX_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import function_app
out = []
for f in function_app.app.get_functions():
    trigger = f.get_trigger()
    out.append({"name": f.get_function_name(),
                "trigger": {"name": trigger.name, "type": trigger.type} if trigger else None,
                "bindings": [json.loads(raw) for raw in f.get_raw_bindings()]})
print(json.dumps(out))
"""


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def host_schema() -> dict[str, Any]:
    schema = load_json(SCHEMAS / "host.json")
    jsonschema.Draft7Validator.check_schema(schema)
    return schema


@pytest.fixture(scope="module")
def host_json() -> dict[str, Any]:
    return load_json(HOST_JSON)


@pytest.fixture(scope="module")
def bundle_extensions() -> list[dict[str, Any]]:
    return load_json(SCHEMAS / "extensions.json")


@pytest.fixture(scope="module")
def known_bindings(bundle_extensions: list[dict[str, Any]]) -> set[str]:
    # NB: the host matches binding types to the bundle's lists case-insensitively (ScriptStartupTypeLocator).
    return BUILT_IN_BINDINGS | {b.lower() for ext in bundle_extensions for b in ext.get("bindings", [])}


@pytest.fixture(scope="module")
def app_functions() -> list[dict[str, Any]]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-c", INDEX_SCRIPT, str(PROJECT_ROOT)], check=False,
                            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"indexing function_app failed:\n{result.stderr}"
    functions = json.loads(result.stdout.strip().splitlines()[-1])
    assert functions, "function_app.app declares no functions"
    return functions


@pytest.fixture(scope="module")
def sample_values() -> dict[str, str]:
    return load_json(SAMPLE_SETTINGS)["Values"]


def schema_errors(schema: dict[str, Any], document: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(document)]


# ------------------------------------------------------------------ host.json


def test_host_json_matches_the_published_schema(host_schema, host_json):
    assert schema_errors(host_schema, host_json) == []


def test_host_json_matches_the_version_2_schema_itself(host_schema, host_json):
    # NB: the top-level oneOf could hide which branch matched; host v4 reads only the version-2 shape.
    version_2 = {"$ref": "#/definitions/version-2", "definitions": host_schema["definitions"]}
    assert schema_errors(version_2, host_json) == []


@pytest.mark.parametrize("path, value", [
    (("version",), 2),
    (("version",), "3.0"),
    (("extensions", "durableTask", "hubName"), 42),
    (("extensions", "queues", "batchSize"), "sixteen"),
    (("extensions", "queue"), {"batchSize": 16}),  # misspelt extension section
    (("extensionBundle", "versions"), "[4.*, 5.0.0)"),
])
def test_a_broken_host_json_is_refused(host_schema, host_json, path, value):
    broken = copy.deepcopy(host_json)
    node = broken
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    assert schema_errors(host_schema, broken), f"schema accepted host.json with {'.'.join(path)}={value!r}"


def test_host_json_is_version_2(host_json):
    assert host_json.get("version") == "2.0"


def parse_version(text: str) -> tuple[int, ...]:
    parts = [p for p in text.strip().split(".") if p]
    return tuple(0 if p == "*" else int(p) for p in parts) + (0,) * (3 - len(parts))


def in_nuget_range(version: str, interval: str) -> bool:
    """`[4.*, 5.0.0)` style NuGet version ranges, as extension bundle versions are written."""
    match = re.fullmatch(r"\s*([\[(])\s*([^,\])]*?)\s*,\s*([^,\])]*?)\s*([\])])\s*", interval)
    assert match, f"not a version range: {interval!r}"
    low_incl, low, high, high_incl = match.group(1) == "[", match.group(2), match.group(3), match.group(4) == "]"
    v = parse_version(version)
    if low and not (v >= parse_version(low) if low_incl else v > parse_version(low)):
        return False
    return not high or (v <= parse_version(high) if high_incl else v < parse_version(high))


@pytest.mark.parametrize("version, interval, expected", [
    ("4.38.0", "[4.*, 5.0.0)", True),
    ("5.0.0", "[4.*, 5.0.0)", False),
    ("3.9.1", "[4.*, 5.0.0)", False),
    ("4.0.0", "(4.0.0, 5.0.0]", False),
])
def test_version_range_reading(version, interval, expected):
    assert in_nuget_range(version, interval) is expected


def test_host_json_asks_for_the_v4_extension_bundle(host_json, bundle_extensions):
    bundle = host_json.get("extensionBundle")
    assert bundle, "host.json has no extensionBundle: Core Tools and Azure would load no queue or durable extension"
    assert bundle.get("id") == BUNDLE_ID
    published = load_json(SCHEMAS / "bundleConfig.json")
    assert published["bundleId"] == BUNDLE_ID
    assert in_nuget_range(published["bundleVersion"], bundle["version"]), (
        f"bundle {published['bundleVersion']} (the list in schemas/) is outside host.json's {bundle['version']}")
    assert not in_nuget_range("3.99.0", bundle["version"]), "bundle v3 would be allowed; the Python v2 model needs v4"
    assert any(ext["id"] == DURABLE_EXTENSION_ID for ext in bundle_extensions)


def test_task_hub_name_is_valid_for_azure_storage(host_json):
    # Azure Storage task hub names: letters and digits, start with a letter, 3 to 45 characters
    # (learn.microsoft.com/azure/azure-functions/durable/durable-functions-task-hubs).
    hub = host_json["extensions"]["durableTask"]["hubName"]
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,44}", hub), hub


# ------------------------------------------------------------------ the app's bindings


def test_every_binding_is_known_to_the_real_host(app_functions, known_bindings):
    unknown = {(f["name"], b["type"]) for f in app_functions for b in f["bindings"]
               if b["type"].lower() not in known_bindings}
    assert not unknown, f"binding types neither built into the host nor in bundle v4: {sorted(unknown)}"


def test_every_function_has_one_known_trigger(app_functions, known_bindings):
    for function in app_functions:
        triggers = [b for b in function["bindings"] if b["type"].lower().endswith("trigger")]
        assert len(triggers) == 1, f"{function['name']}: {len(triggers)} triggers"
        assert function["trigger"] == {"name": triggers[0]["name"], "type": triggers[0]["type"]}
        assert triggers[0]["type"].lower() in known_bindings
        assert triggers[0]["direction"].lower() == "in"


def test_durable_bindings_come_from_the_durable_task_extension(app_functions, bundle_extensions):
    durable = next(ext for ext in bundle_extensions if ext["id"] == DURABLE_EXTENSION_ID)
    provided = {b.lower() for b in durable["bindings"]}
    used = {b["type"].lower() for f in app_functions for b in f["bindings"]} & DURABLE_BINDINGS
    assert {"orchestrationtrigger", "activitytrigger", "durableclient"} <= used, used
    assert used <= provided, f"not in {durable['name']}: {sorted(used - provided)}"


def test_function_names_are_unique(app_functions):
    names = [f["name"] for f in app_functions]
    assert len(names) == len(set(names))


# ------------------------------------------------------------------ settings


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def test_sample_settings_name_the_runtime_and_storage(sample_values):
    assert sample_values.get("FUNCTIONS_WORKER_RUNTIME") == "python"
    assert sample_values.get("AzureWebJobsStorage"), "AzureWebJobsStorage missing or empty"


def test_every_setting_a_binding_reads_is_in_the_sample(app_functions, sample_values):
    # NB: the host resolves %NAME% from its own app settings when it indexes; function_app.py's
    # os.environ.setdefault runs in the worker and cannot supply them under Core Tools or in Azure.
    referenced = {name for f in app_functions for b in f["bindings"] for text in strings_in(b)
                  for name in re.findall(r"%([^%]+)%", text)}
    assert {"STATUS_QUEUE_NAME", "CLEANUP_SCHEDULE"} <= referenced, referenced
    missing = referenced - set(sample_values)
    assert not missing, f"bindings read these settings, local.settings.sample.json lacks them: {sorted(missing)}"
    empty = {name for name in referenced if not str(sample_values[name]).strip()}
    assert not empty, f"empty in local.settings.sample.json: {sorted(empty)}"


def test_every_connection_a_binding_names_is_in_the_sample(app_functions, sample_values):
    connections = {b["connection"] for f in app_functions for b in f["bindings"] if b.get("connection")}
    for name in connections:
        assert name in sample_values or any(key.startswith(f"{name}__") for key in sample_values), name


def test_the_readme_section_names_every_setting_the_app_reads():
    source = (PROJECT_ROOT / "shared" / "settings.py").read_text(encoding="utf-8")
    read = set(re.findall(r"""env(?:iron)?\.get\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""", source))
    assert {"AzureWebJobsStorage", "SECRETS_ENCRYPTION_KEY", "STATUS_QUEUE_NAME"} <= read, read
    text = README.read_text(encoding="utf-8").split("## Beyond one machine", 1)[1].split("\n## ", 1)[0]
    assert not {name for name in read if f"`{name}`" not in text}, sorted(n for n in read if f"`{n}`" not in text)
