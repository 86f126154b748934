"""Keys in blob storage, restarts, concurrent starts, settings precedence and route prefix overrides."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import uuid

import requests
from azure.storage.blob import BlobServiceClient

from tests.devhost.conftest import HTTP_APP, PROJECT_ROOT, DevHost, devhost_environment, run_keys

KEY_RE = re.compile(r"[A-Za-z0-9_\-]{40,}={0,2}")


def read_blob(connection_string: str, path: str) -> dict:
    service = BlobServiceClient.from_connection_string(connection_string)
    with service:
        data = service.get_container_client("azure-webjobs-secrets").download_blob(path).readall()
    return json.loads(data)


def test_keys_are_stored_in_the_real_hosts_layout(azurite, http_host, http_keys):
    conn = azurite.ports.connection_string
    host_doc = read_blob(conn, "http-app/host.json")
    assert host_doc["masterKey"] == {"name": "master", "value": http_keys["masterKey"], "encrypted": False}
    assert host_doc["functionKeys"] == [
        {"name": "default", "value": http_keys["functionKeys"]["default"], "encrypted": False}
    ]
    assert host_doc["systemKeys"] == []
    assert {"hostName", "instanceId", "source", "decryptionKeyId"} <= set(host_doc)
    assert host_doc["source"] == "runtime"

    fn_doc = read_blob(conn, "http-app/secure.json")
    assert fn_doc["keys"] == [
        {"name": "default", "value": http_keys["functions"]["secure"]["default"], "encrypted": False}
    ]
    # Function secrets files are named after the lowercased function name.
    plain = read_blob(conn, "http-app/plainblueprintfn.json")
    assert plain["keys"][0]["value"] == http_keys["functions"]["PlainBlueprintFn"]["default"]


def test_keys_json_format(http_keys):
    assert http_keys["hostId"] == "http-app"
    assert set(http_keys) == {"hostId", "masterKey", "functionKeys", "systemKeys", "functions"}
    values = [http_keys["masterKey"], *http_keys["functionKeys"].values()]
    values += [k for keys in http_keys["functions"].values() for k in keys.values()]
    assert len(set(values)) == len(values)
    for value in values:
        assert KEY_RE.fullmatch(value), value
    # Only HTTP functions get keys; the queue-triggered one does not.
    assert "on_work" not in http_keys["functions"]
    assert "echo" in http_keys["functions"]


def test_restart_keeps_the_same_keys(azurite, tmp_path):
    env = devhost_environment(azurite.ports.connection_string,
                              AzureFunctionsWebHost__hostid=f"restart-{uuid.uuid4().hex[:8]}")
    first = DevHost(app_dir=HTTP_APP, env=env, log_dir=tmp_path, name="first").start()
    try:
        keys = first.keys()
        key = keys["functions"]["secure"]["default"]
        assert requests.get(f"{first.base_url}/custom/secure", params={"code": key}, timeout=30).status_code == 200
    finally:
        assert first.stop() == 0
    second = DevHost(app_dir=HTTP_APP, env=env, log_dir=tmp_path, name="second").start()
    try:
        assert second.keys() == keys
        assert requests.get(f"{second.base_url}/custom/secure", params={"code": key}, timeout=30).status_code == 200
    finally:
        assert second.stop() == 0


def test_two_hosts_starting_at_once_share_one_key_set(azurite, tmp_path):
    env = devhost_environment(azurite.ports.connection_string,
                              AzureFunctionsWebHost__hostid=f"race-{uuid.uuid4().hex[:8]}")
    hosts = [DevHost(app_dir=HTTP_APP, env=env, log_dir=tmp_path, name=f"h{i}").launch() for i in range(2)]
    try:
        for host in hosts:
            host.wait_started()
        keys = run_keys(app_dir=HTTP_APP, env=env)
        for host in hosts:
            for key in (keys["masterKey"], keys["functions"]["secure"]["default"]):
                r = requests.get(f"{host.base_url}/custom/secure", headers={"x-functions-key": key}, timeout=30)
                assert r.status_code == 200
    finally:
        for host in hosts:
            assert host.stop() == 0


def test_concurrent_keys_commands_agree(azurite):
    env = devhost_environment(azurite.ports.connection_string,
                              AzureFunctionsWebHost__hostid=f"keys-{uuid.uuid4().hex[:8]}")
    cmd = [sys.executable, "-m", "devhost", "keys", "--app-dir", str(HTTP_APP), "--json"]
    procs = [subprocess.Popen(cmd, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(3)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    docs = [json.loads(out) for out, _err in outputs]
    assert docs[0] == docs[1] == docs[2]


def test_keys_text_output(azurite, http_host, http_keys):
    proc = subprocess.run([sys.executable, "-m", "devhost", "keys", "--app-dir", str(HTTP_APP)],
                          env=http_host.env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"Master key: {http_keys['masterKey']}" in proc.stdout
    assert f"  secure: default={http_keys['functions']['secure']['default']}" in proc.stdout


def test_empty_route_prefix_from_environment_override(azurite, tmp_path):
    env = devhost_environment(azurite.ports.connection_string,
                              AzureFunctionsJobHost__extensions__http__routePrefix="")
    host = DevHost(app_dir=HTTP_APP, env=env, log_dir=tmp_path).start()
    try:
        assert f"echo: [GET,POST,PUT] {host.base_url}/echo" in host.stdout()
        assert requests.get(f"{host.base_url}/echo", timeout=30).json()["method"] == "GET"
        assert requests.get(f"{host.base_url}/items/5", timeout=30).json()["route_params"] == {"id": "5"}
        assert requests.get(f"{host.base_url}/custom/echo", timeout=30).status_code == 404
    finally:
        assert host.stop() == 0


ENV_APP = textwrap.dedent('''
    import json
    import os

    import azure.functions as func

    app = func.FunctionApp()


    @app.route(route="env", auth_level=func.AuthLevel.ANONYMOUS)
    def env(req: func.HttpRequest) -> func.HttpResponse:
        names = ("MY_SETTING", "OVERRIDDEN")
        return func.HttpResponse(json.dumps({n: os.environ.get(n) for n in names}), mimetype="application/json")
''')


def test_local_settings_values_with_environment_winning(azurite, tmp_path):
    app_dir = tmp_path / "Env App"
    app_dir.mkdir()
    (app_dir / "function_app.py").write_text(ENV_APP)
    (app_dir / "host.json").write_text('{"version": "2.0"}')
    (app_dir / "local.settings.json").write_text(json.dumps({
        "IsEncrypted": False,
        # NB: UseDevelopmentStorage=true would point at Azurite's default ports; the environment wins.
        "Values": {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "FUNCTIONS_WORKER_RUNTIME": "python",
                   "MY_SETTING": "from-file", "OVERRIDDEN": "from-file"},
    }))
    env = devhost_environment(azurite.ports.connection_string, OVERRIDDEN="from-env")
    host = DevHost(app_dir=app_dir, env=env, log_dir=tmp_path).start()
    try:
        r = requests.get(f"{host.base_url}/api/env", timeout=30)
        assert r.json() == {"MY_SETTING": "from-file", "OVERRIDDEN": "from-env"}
        assert "Skipping 'OVERRIDDEN' from local settings" in host.stderr()
        assert "from-env" not in host.stderr()  # names only, never values
    finally:
        assert host.stop() == 0
    # Host id from the folder name: lowercased, non-alphanumerics as "-".
    assert run_keys(app_dir=app_dir, env=env)["hostId"] == "env-app"


def test_missing_storage_setting_fails_clearly(tmp_path):
    env = devhost_environment("")
    env.pop("AzureWebJobsStorage")
    proc = subprocess.run([sys.executable, "-m", "devhost", "start", "--app-dir", str(HTTP_APP), "--port", "1"],
                          env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "AzureWebJobsStorage is not set" in proc.stderr


def test_missing_app_fails_clearly(azurite, tmp_path):
    env = devhost_environment(azurite.ports.connection_string)
    proc = subprocess.run([sys.executable, "-m", "devhost", "keys", "--app-dir", str(tmp_path)],
                          env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "function_app.py not found" in proc.stderr
