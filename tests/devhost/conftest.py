"""Fixtures that run `python -m devhost` as a real subprocess against the session Azurite."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stack.azurite import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HTTP_APP = Path(__file__).resolve().parent / "apps" / "http_app"
# Settings that would redirect the host if inherited from the developer's shell.
FOREIGN_SETTINGS = ("AzureFunctionsJobHost__", "AzureFunctionsWebHost__", "AzureWebJobs")


def devhost_environment(connection_string: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_SETTINGS)}
    env["AzureWebJobsStorage"] = connection_string
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_keys(*, app_dir: Path, env: dict[str, str]) -> dict:
    """`python -m devhost keys --json`, as a user (or the azlocal CLI) would run it."""
    proc = subprocess.run(
        [sys.executable, "-m", "devhost", "keys", "--app-dir", str(app_dir), "--json"],
        env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


class DevHost:
    """One `python -m devhost start` process with its stdout / stderr in files."""

    def __init__(self, *, app_dir: Path, env: dict[str, str], log_dir: Path, name: str = "devhost") -> None:
        self.app_dir = app_dir
        self.env = env
        self.port = free_port()
        self.stdout_path = log_dir / f"{name}.stdout"
        self.stderr_path = log_dir / f"{name}.stderr"
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def start(self, timeout: float = 60.0) -> DevHost:
        return self.launch().wait_started(timeout)

    def launch(self) -> DevHost:
        # The child keeps its own copies of the file descriptors; ours can close at once.
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devhost", "start", "--app-dir", str(self.app_dir), "--port", str(self.port)],
                env=self.env, cwd=PROJECT_ROOT, stdout=out, stderr=err,
            )
        return self

    def wait_started(self, timeout: float = 60.0) -> DevHost:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while "Host started on" not in self.stdout():
            if self.process.poll() is not None:
                raise RuntimeError(f"devhost exited with {self.process.returncode}:\n{self.stderr()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"devhost did not start within {timeout}s:\n{self.stderr()}")
            time.sleep(0.1)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5):
            pass
        return self

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; returns the exit code (SIGKILL and fail if it does not stop)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
                raise AssertionError("devhost did not stop on SIGTERM") from None
        return self.process.returncode

    def keys(self) -> dict:
        return run_keys(app_dir=self.app_dir, env=self.env)


@pytest.fixture(scope="module")
def http_host_env(azurite) -> dict[str, str]:
    return devhost_environment(azurite.ports.connection_string, **{"AzureWebJobs.disabled_fn.Disabled": "true"})


@pytest.fixture(scope="module")
def http_host(http_host_env, tmp_path_factory):
    """The sample app under devhost (route prefix `custom` from its host.json)."""
    host = DevHost(app_dir=HTTP_APP, env=http_host_env, log_dir=tmp_path_factory.mktemp("devhost"))
    host.start()
    yield host
    assert host.stop() == 0, host.stderr()


@pytest.fixture(scope="module")
def http_keys(http_host) -> dict:
    return http_host.keys()
