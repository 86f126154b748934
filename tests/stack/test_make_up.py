"""`make up` serves the API on :7071 with Azurite on its default ports; Ctrl-C stops all of it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.fixtures.devhost_process import PROJECT_ROOT, wait_for_port
from tests.fixtures.waiting import wait_for

STACK_PORTS = (7071, 6443, 9418, 2222, 10000, 10001, 10002)


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for_registration(url: str, params: dict, headers: dict, timeout: float = 60.0) -> requests.Response:
    """`make up` registers the embedded cluster right after the host starts."""
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(url, params=params, headers=headers, timeout=30)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


@contextmanager
def running_make_up(tmp_path: Path, *make_args: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """`make up [ARGS]` until the block ends, then Ctrl-C: the stack must stop in order and free every port."""
    busy = [port for port in STACK_PORTS if port_in_use(port)]
    assert not busy, f"ports {busy} are taken: stop the running stack before the suite"
    env = {k: v for k, v in os.environ.items() if k not in ("AzureWebJobsStorage", "MAKEFLAGS", "MFLAGS")}
    log_file = tmp_path / "make-up.log"
    with open(log_file, "wb") as log:
        process = subprocess.Popen(["make", "up", *make_args], cwd=PROJECT_ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(7071, process=process, timeout=120, log_file=log_file)
        yield log_file, env
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"make up did not stop within 30 s of Ctrl-C:\n{log_file.read_text()[-3000:]}")
    output = log_file.read_text(errors="replace")
    # NB: make itself reports "Interrupt" and a non-zero code on Ctrl-C; what matters is that the stack
    # shut down in order, so the stack's own exit line is checked instead.
    assert "stack stopped" in output, output[-3000:]
    assert code is not None
    deadline = time.monotonic() + 10
    while any(port_in_use(p) for p in STACK_PORTS) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(port_in_use(p) for p in STACK_PORTS), "something of the stack still listens after Ctrl-C"


def devhost_keys(env: dict[str, str]) -> dict:
    keys = subprocess.run([str(PROJECT_ROOT / ".venv/bin/python"), "-m", "devhost", "keys", "--json"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(keys.stdout)


CLUSTER_URL = ("http://127.0.0.1:7071/api/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
               "AzureArcTest/providers/Microsoft.Kubernetes/connectedClusters/{}")
PARAMS = {"api-version": "2021-03-01"}


def test_make_up_serves_the_api_and_stops_on_ctrl_c(tmp_path):
    with running_make_up(tmp_path) as (log_file, env):
        assert requests.get("http://127.0.0.1:7071/api/openapi.json", timeout=30).status_code == 200
        page = requests.get("http://127.0.0.1:7071/api/gitops/", timeout=30)  # the banner names it
        assert page.status_code == 200 and "<h1" in page.text
        headers = {"x-functions-key": devhost_keys(env)["functionKeys"]["default"]}
        response = requests.get(CLUSTER_URL.format("NotThere"), params=PARAMS, headers=headers, timeout=30)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "ResourceNotFound"
        registered = wait_for_registration(CLUSTER_URL.format("AzureArcTest1"), PARAMS, headers)
        assert registered.status_code == 200, registered.text
        assert registered.json()["name"] == "AzureArcTest1"
        namespaces = subprocess.run(["kubectl", "--kubeconfig", str(PROJECT_ROOT / ".local/kubeconfig"), "get", "ns"],
                                    check=False, capture_output=True, text=True, timeout=60)
        assert namespaces.returncode == 0, namespaces.stderr
        assert "kube-system" in namespaces.stdout
        demo_url = "git://127.0.0.1:9418/arc-k8s-demo.git"
        assert demo_url in log_file.read_text(errors="replace")
        heads = subprocess.run(["git", "ls-remote", demo_url], check=False, capture_output=True, text=True,
                               timeout=60)
        assert "refs/heads/master" in heads.stdout, heads.stderr
        assert "agent.started" in wait_for(lambda: "agent.started" in log_file.read_text(errors="replace")
                                           and log_file.read_text(errors="replace"), what="the agent")
        wait_for(lambda: "GitOps page           http://localhost:7071/api/gitops/" in log_file.read_text(
            errors="replace"), what="the banner naming the page")
    assert (PROJECT_ROOT / "local.settings.json").exists()


def test_make_up_with_two_devhost_processes_splits_the_task_hub(tmp_path):
    """`make up DEVHOST_PROCESSES=2`: two workers on port 7071 own two durable partitions each."""
    with running_make_up(tmp_path, "DEVHOST_PROCESSES=2") as (log_file, env):
        keys = devhost_keys(env)
        registered = wait_for_registration(CLUSTER_URL.format("AzureArcTest1"), PARAMS,
                                           {"x-functions-key": keys["functionKeys"]["default"]})
        assert registered.status_code == 200, registered.text

        def split_workers() -> list[dict] | None:
            metrics = requests.get("http://127.0.0.1:7071/admin/durable/metrics",
                                   params={"code": keys["masterKey"]}, timeout=30).json()
            workers = metrics.get("workers") or []
            owned = sorted(k for worker in workers for k in worker.get("partitions", []))
            halves = all(len(worker.get("partitions", [])) == 2 for worker in workers)
            return workers if len(workers) == 2 and owned == [0, 1, 2, 3] and halves else None

        # NB: the first worker up owns all four until the second joins and the balancing hands two over
        assert wait_for(split_workers, timeout=60, what="two workers owning two of the four partitions each")
        assert "(2 worker processes)" in log_file.read_text(errors="replace")
