"""The sample app under a real `python -m devhost start` process, over real HTTP, against Azurite."""

from __future__ import annotations

import json
import re
import socket
import uuid

import pytest
import requests

ERROR_BODY = {"error": {"code": "InternalServerError", "message": "An internal error occurred."}}


def get(host, path: str, **kwargs) -> requests.Response:
    return requests.get(f"{host.base_url}/{path}", timeout=30, **kwargs)


def request_lines(log: str) -> list[dict[str, str]]:
    """The host's per-request log lines, parsed from `key=value` fields."""
    out = []
    for line in log.splitlines():
        if " devhost.http request " in line:
            out.append(dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line.split(" request ", 1)[1])))
    return out


# ---------------------------------------------------------------- startup listing


def test_listing_shows_http_routes_and_other_triggers(http_host):
    out = http_host.stdout()
    assert f"echo: [GET,POST,PUT] {http_host.base_url}/custom/echo" in out
    assert f"item_by_id: [GET] {http_host.base_url}/custom/items/{{id:int}}" in out
    assert f"secure: {http_host.base_url}/custom/secure" in out
    assert "on_work: queueTrigger\n" in out  # served since queue triggers exist (Core Tools format)
    assert f"bp_hello: [GET] {http_host.base_url}/custom/bp/hello/{{who?}}" in out
    assert f"PlainBlueprintFn: {http_host.base_url}/custom/bp/plain" in out
    assert "disabled_fn:" in out and "(disabled)" in out
    assert f"Host started on {http_host.base_url}" in out


# ---------------------------------------------------------------- request shape


def test_echo_passes_method_url_query_headers_and_body(http_host):
    r = requests.post(
        f"{http_host.base_url}/custom/echo?a=1&a=2&empty=&sp=x+y",
        json={"hello": "world"}, headers={"X-Test-One": "v1"}, timeout=30,
    )
    assert r.status_code == 200
    data = r.json()
    assert data["method"] == "POST"
    assert data["url"] == f"{http_host.base_url}/custom/echo?a=1&a=2&empty=&sp=x+y"
    # As the real host: repeated values joined with ",", empty values left out.
    assert data["params"] == {"a": "1,2", "sp": "x y"}
    assert data["headers"] == {"x-test-one": "v1"}
    assert data["json"] == {"hello": "world"}
    assert json.loads(data["body"]) == {"hello": "world"}
    assert data["route_params"] == {}


def test_binary_body_reaches_function_unchanged(http_host):
    payload = bytes(range(256)).decode("latin-1").encode("utf-8")
    r = requests.put(f"{http_host.base_url}/custom/echo", data=payload,
                     headers={"content-type": "application/octet-stream"}, timeout=30)
    assert r.status_code == 200
    assert r.json()["body"] == payload.decode("utf-8")


def test_string_return_is_200_text_plain(http_host):
    r = get(http_host, "custom/text")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.text == "plain text"


def test_custom_status_headers_and_cookie(http_host):
    r = requests.post(f"{http_host.base_url}/custom/status", json={"n": 7}, timeout=30, allow_redirects=False)
    assert r.status_code == 201
    assert r.headers["X-Custom"] == "yes"
    assert r.headers["Location"] == "/custom/items/7"
    assert r.headers["content-type"] == "application/json"
    assert r.cookies.get("session") == "abc"
    assert r.json() == {"created": {"n": 7}}


def test_named_http_output_binding(http_host):
    r = get(http_host, "custom/named-out")
    assert r.status_code == 202
    assert r.text == "from out binding"


def test_output_never_set_is_empty_200(http_host):
    r = get(http_host, "custom/no-response")
    assert r.status_code == 200
    assert r.content == b""


def test_async_function_gets_context(http_host):
    r = get(http_host, "custom/async-context")
    assert r.status_code == 200
    data = r.json()
    assert data["function_name"] == "async_context"
    uuid.UUID(data["invocation_id"])
    assert data["function_directory"].endswith("http_app")


def test_blueprints_are_served(http_host, http_keys):
    assert get(http_host, "custom/bp/hello").text == "hello world from a blueprint"
    assert get(http_host, "custom/bp/hello/ann").text == "hello ann from a blueprint"
    assert get(http_host, "custom/bp/plain").status_code == 401
    key = http_keys["functions"]["PlainBlueprintFn"]["default"]
    assert get(http_host, "custom/bp/plain", params={"code": key}).status_code == 200


def test_head_has_headers_but_no_body(http_host):
    r = requests.head(f"{http_host.base_url}/custom/text", timeout=30)
    assert r.status_code == 200
    assert r.headers["content-length"] == "10"
    assert r.content == b""


# ---------------------------------------------------------------- routing


@pytest.mark.parametrize(("path", "route", "params"), [
    ("custom/items/42", "by_id", {"id": "42"}),
    ("custom/items/special", "special", {}),
    ("custom/ITEMS/Special/", "special", {}),  # literals are case-insensitive, trailing slash ignored
    ("custom/items/abc", "by_name", {"name": "abc"}),
    ("custom/items/a1", "rest", {"rest": "a1"}),
    ("custom/items/x/y/z", "rest", {"rest": "x/y/z"}),
])
def test_route_precedence_literal_then_constrained_then_catch_all(http_host, path, route, params):
    r = get(http_host, path)
    assert r.status_code == 200, path
    assert r.json()["route"] == route
    assert r.json()["route_params"] == params


def test_catch_all_keeps_slashes_and_encoded_slash(http_host):
    r = get(http_host, "custom/files/a/b%2Fc/d%20e.txt")
    assert r.json()["route_params"] == {"path": "a/b%2Fc/d e.txt"}
    assert get(http_host, "custom/files").json()["route_params"] == {}


def test_optional_parameter(http_host):
    assert get(http_host, "custom/opt/1").json()["route_params"] == {"a": "1"}
    assert get(http_host, "custom/opt/1/2").json()["route_params"] == {"a": "1", "b": "2"}
    assert get(http_host, "custom/opt/1/2/3").status_code == 404


def test_constraints(http_host):
    good = f"custom/typed/TRUE/{uuid.uuid4()}/abc/abbbc"
    r = get(http_host, good)
    assert r.status_code == 200
    assert r.json()["route_params"]["flag"] == "TRUE"
    for bad in (
        f"custom/typed/yes/{uuid.uuid4()}/abc/abc",       # bool
        "custom/typed/true/not-a-guid/abc/abc",             # guid
        f"custom/typed/true/{uuid.uuid4()}/abcd/abc",      # length(3)
        f"custom/typed/true/{uuid.uuid4()}/abc/xabc",      # regex(^ab+c$)
    ):
        assert get(http_host, bad).status_code == 404, bad


def test_int_constraint_rejects_overflow(http_host):
    assert get(http_host, "custom/items/2147483648").json()["route"] == "rest"


def test_wrong_method_is_404_like_the_real_host(http_host):
    assert get(http_host, "custom/only-get").status_code == 200
    r = requests.post(f"{http_host.base_url}/custom/only-get", timeout=30)
    assert r.status_code == 404
    assert r.content == b""


def test_unknown_route_is_404_and_prefix_is_required(http_host):
    assert get(http_host, "custom/nothing-here").status_code == 404
    assert get(http_host, "api/echo").status_code == 404
    assert get(http_host, "echo").status_code == 404


def test_disabled_function_is_404_except_with_master_key(http_host, http_keys):
    assert get(http_host, "custom/disabled-fn").status_code == 404
    r = get(http_host, "custom/disabled-fn", headers={"x-functions-key": http_keys["masterKey"]})
    assert r.status_code == 200


# ---------------------------------------------------------------- auth


def test_function_level_needs_a_key(http_host, http_keys):
    r = get(http_host, "custom/secure")
    assert r.status_code == 401
    assert r.content == b""
    r = get(http_host, "custom/secure", params={"code": "wrong-key"})
    assert r.status_code == 401
    assert r.content == b""
    r = get(http_host, "custom/secure", headers={"x-functions-key": "wrong-key"})
    assert r.status_code == 401


@pytest.mark.parametrize("which", ["function", "host", "master"])
def test_function_level_accepts_function_host_and_master_keys(http_host, http_keys, which):
    key = {
        "function": http_keys["functions"]["secure"]["default"],
        "host": http_keys["functionKeys"]["default"],
        "master": http_keys["masterKey"],
    }[which]
    assert get(http_host, "custom/secure", params={"code": key}).text == "secret stuff"
    assert get(http_host, "custom/secure", headers={"x-functions-key": key}).text == "secret stuff"


def test_another_functions_key_is_refused(http_host, http_keys):
    key = http_keys["functions"]["echo"]["default"]
    assert get(http_host, "custom/secure", params={"code": key}).status_code == 401


def test_admin_level_needs_the_master_key(http_host, http_keys):
    for key in (http_keys["functions"]["admin_only"]["default"], http_keys["functionKeys"]["default"]):
        r = get(http_host, "custom/admin-only", headers={"x-functions-key": key})
        assert r.status_code == 401
        assert r.content == b""
    r = get(http_host, "custom/admin-only", params={"code": http_keys["masterKey"]})
    assert r.status_code == 200
    assert r.text == "admin stuff"


def test_admin_host_status_needs_master_key(http_host, http_keys):
    assert get(http_host, "admin/host/status").status_code == 401
    r = get(http_host, "admin/host/status", headers={"x-functions-key": http_keys["masterKey"]})
    assert r.status_code == 200
    assert r.json()["id"] == "http-app"
    assert r.json()["state"] == "Running"


# ---------------------------------------------------------------- errors and limits


def test_exception_is_500_without_details_and_traced_in_log(http_host):
    r = get(http_host, "custom/boom")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == ERROR_BODY
    assert "Traceback" not in r.text and "secret internal detail" not in r.text
    line = [entry for entry in request_lines(http_host.stderr()) if entry["route"] == "custom/boom"][-1]
    assert line["status"] == "500" and line["function"] == "boom"
    log = http_host.stderr()
    failed = [ln for ln in log.splitlines() if "Executed 'boom' (Failed)" in ln
              and f"invocation_id={line['invocation_id']}" in ln]
    assert failed
    trace = log.split(failed[0], 1)[1]
    assert trace.lstrip("\n").startswith("Traceback")
    assert "RuntimeError: secret internal detail" in trace
    assert "function_app.py" in trace


def test_unknown_input_binding_answers_500_and_host_keeps_running(http_host):
    r = get(http_host, "custom/unknown-binding")
    assert r.status_code == 500
    error = r.json()["error"]
    assert error["code"] == "InternalServerError"
    assert "madeUpInput" in error["message"]
    assert "madeUpInput" in http_host.stderr()
    assert get(http_host, "custom/text").status_code == 200


def test_body_over_100_mb_is_413(http_host):
    with socket.create_connection(("127.0.0.1", http_host.port), timeout=10) as sock:
        sock.sendall(b"POST /custom/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 104857601\r\n"
                     b"Content-Type: application/octet-stream\r\n\r\n" + b"x" * 1024)
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"


def test_large_body_under_the_limit_is_accepted(http_host):
    payload = b"y" * (2 * 1024 * 1024)  # far above aiohttp's 1 MB default, well under 100 MB
    r = requests.put(f"{http_host.base_url}/custom/echo", data=payload, timeout=60)
    assert r.status_code == 200
    assert len(r.json()["body"]) == len(payload)


# ---------------------------------------------------------------- logging


def test_request_log_has_fields_and_never_the_key(http_host, http_keys):
    key = http_keys["functions"]["secure"]["default"]
    assert get(http_host, "custom/secure", params={"code": key, "other": "v"},
               headers={"x-functions-key": key, "x-test-secret": "header-value-42"}).status_code == 200
    log = http_host.stderr()
    assert key not in log
    assert "code=" not in log
    assert "header-value-42" not in log
    line = [e for e in request_lines(log) if e["route"] == "custom/secure" and e["status"] == "200"][-1]
    assert line["method"] == "GET" and line["function"] == "secure"
    float(line["duration_ms"])
    uuid.UUID(line["invocation_id"])


def test_function_logging_goes_to_host_log_with_invocation_id(http_host):
    marker = uuid.uuid4().hex
    r = get(http_host, "custom/sync-log", params={"marker": marker})
    invocation_id = r.json()["invocation_id"]
    lines = [ln for ln in http_host.stderr().splitlines() if marker in ln]
    assert len(lines) == 1
    assert "http_app hello from sync function" in lines[0]
    assert f"function=sync_log invocation_id={invocation_id}" in lines[0]
    r = get(http_host, "custom/async-context")
    assert f"invocation_id={r.json()['invocation_id']}" in http_host.stderr()


def test_expect_100_continue_is_answered(http_host):
    with socket.create_connection(("127.0.0.1", http_host.port), timeout=10) as sock:
        sock.sendall(b"PUT /custom/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"hello")
        reply = b""
        while b'"body": "hello"' not in reply:
            chunk = sock.recv(4096)
            assert chunk, reply
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 OK")
