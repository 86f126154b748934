"""The local stack for the stack bench: Azurite behind the counting proxy, kubesim, devhost, the agent.

Why its own module: `stack up` runs on fixed ports with persistent data and the agent's `--local-sync`;
the bench wants free ports, a throwaway folder, every storage client pointed at the proxy, kubesim with
no readiness delay, and an agent it can stop (for the live-orchestration RSS figure).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import requests
from cryptography.fernet import Fernet

from bench.azurite_proxy import ProxyHandle, running_proxy
from bench.hosting import PROJECT_ROOT, RunningHost, bench_environment, running_devhost, stop
from stack.azurite import Azurite, free_port

API_VERSION = "2021-03-01"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
CLUSTER = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/BenchGroup/providers/Microsoft.Kubernetes/"
           "connectedClusters/stackbench")
STATUS_QUEUE = "configuration-status"
STORED = re.compile(r"^(\S+Z) INFO gitops\.status status stored: configuration=(\S+) state=(\w+)",
                    re.MULTILINE)


def wait_for_text(path: Path, text: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in (path.read_text(errors="replace") if path.exists() else ""):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{path.name}: never saw {text!r}:\n" + path.read_text(errors="replace")[-3000:])
        time.sleep(0.05)


@dataclass
class StatusLog:
    """The app's `status stored` log lines: when each configuration's status became readable, at no storage cost.

    The queue trigger logs the line right after the ETag-conditional write of complianceStatus returns, so
    from that millisecond on a GET shows the state.
    """

    path: Path
    offset: int = 0
    seen: dict[str, tuple[str, float]] = field(default_factory=dict)

    def poll(self) -> dict[str, tuple[str, float]]:
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            chunk = log.read()
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        for stamp, configuration_id, state in STORED.findall(chunk[:end].decode(errors="replace")):
            name = configuration_id.rsplit("/", 1)[1].lower()
            self.seen.setdefault(name, (state, datetime.fromisoformat(stamp).timestamp()))
        return self.seen

    def wait_for(self, names: list[str], timeout: float) -> dict[str, tuple[str, float]]:
        deadline = time.monotonic() + timeout
        while True:
            seen = self.poll()
            missing = [n for n in names if n not in seen]
            if not missing:
                return {n: seen[n] for n in names}
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(missing)} of {len(names)} configurations never reported, e.g. {missing[:3]}")
            time.sleep(0.05)


@dataclass
class LocalStack:
    work: Path
    azurite: Azurite
    proxy: ProxyHandle | None  # None: every client talks to Azurite directly (nothing counted)
    host: RunningHost
    kubeconfig: Path
    kubesim: subprocess.Popen
    agent: subprocess.Popen | None = None

    def pids(self) -> dict[str, int | None]:
        """The stack's processes, for CPU accounting (devhost: with its worker processes, see `tree_cpu_seconds`)."""
        return {"devhost": self.host.process.pid, "azurite": self.azurite.process.pid if self.azurite.process else None,
                "proxy": self.proxy.process.pid if self.proxy else None, "kubesim": self.kubesim.pid,
                "agent": self.agent.pid if self.agent else None}

    @property
    def connection_string(self) -> str:
        return (self.proxy or self.azurite).ports.connection_string

    @property
    def function_key(self) -> str:
        return self.host.keys["functionKeys"]["default"]

    @property
    def status_log(self) -> StatusLog:
        return StatusLog(self.host.log_paths[1])

    def start_agent(self) -> None:
        log_path = self.work / "agent.log"
        with open(log_path, "ab") as log:
            self.agent = subprocess.Popen(
                [sys.executable, "-m", "agent", "--kubeconfig", str(self.kubeconfig), "--cluster-id", CLUSTER,
                 "--connection-string", self.connection_string, "--queue", STATUS_QUEUE],
                cwd=PROJECT_ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=log, stderr=subprocess.STDOUT)
        wait_for_text(log_path, '"event": "watch.listed"', self.agent)

    def stop_agent(self) -> None:
        if self.agent is not None:
            stop(self.agent)
            self.agent = None

    def metrics(self) -> dict:
        response = requests.get(f"{self.host.base_url}/admin/durable/metrics",
                                params={"code": self.host.keys["masterKey"]}, timeout=30)
        response.raise_for_status()
        return response.json()


def start_kubesim(work: Path) -> tuple[subprocess.Popen, Path]:
    """kubesim with `--ready-delay 0`: a flux Deployment is available as soon as it is applied."""
    kubeconfig, out = work / "kubeconfig", work / "kubesim.out"
    with open(out, "wb") as log:
        sim = subprocess.Popen([sys.executable, "-m", "kubesim", "--port", str(free_port()), "--kubeconfig-out",
                                str(kubeconfig), "--cert-dir", str(work / "certs"), "--ready-delay", "0",
                                "--log-level", "WARNING"],
                               cwd=PROJECT_ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=log,
                               stderr=subprocess.STDOUT)
    wait_for_text(out, "kubesim listening on", sim)
    return sim, kubeconfig


def sample_worker_settings() -> dict[str, str]:
    """The worker settings of local.settings.sample.json (thread pool size): what `make up` runs with."""
    values = json.loads((PROJECT_ROOT / "local.settings.sample.json").read_text())["Values"]
    return {name: values[name] for name in ("PYTHON_THREADPOOL_THREAD_COUNT",) if name in values}


@contextmanager
def local_stack(work: Path, *, processes: int = 1, counted: bool = True, **settings: str) -> Iterator[LocalStack]:
    """The whole stack on free ports in `work`; the cluster registered, the agent not started yet.

    `processes`: devhost worker processes sharing the task hub (`devhost start --processes N`).
    `counted`: storage traffic goes through the counting proxy (which costs CPU of its own: ~8 ms a create)."""
    with ExitStack() as stack:
        azurite = stack.enter_context(Azurite(data_dir=work / "azurite", log_file=work / "azurite.log"))
        proxy = stack.enter_context(running_proxy(azurite.ports, work / "proxy.log")) if counted else None
        connection_string = (proxy or azurite).ports.connection_string
        sim, kubeconfig = start_kubesim(work)
        stack.callback(stop, sim)
        env = bench_environment(connection_string, SECRETS_ENCRYPTION_KEY=Fernet.generate_key().decode(),
                                STATUS_QUEUE_NAME=STATUS_QUEUE, **{**sample_worker_settings(), **settings})
        host = stack.enter_context(running_devhost(PROJECT_ROOT, env, work, processes=processes))
        running = LocalStack(work, azurite, proxy, host, kubeconfig, sim)
        stack.callback(running.stop_agent)
        body = {"properties": {"kubeconfig": base64.b64encode(kubeconfig.read_bytes()).decode()}}
        requests.put(f"{host.base_url}/api{CLUSTER}", params={"api-version": API_VERSION}, json=body,
                     headers={"x-functions-key": running.function_key}, timeout=60).raise_for_status()
        yield running
