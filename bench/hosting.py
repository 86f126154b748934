"""What the benchmarks share: a devhost process serving an app, on its own free port, with its keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack.azurite import free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FOREIGN_SETTINGS = ("AzureFunctionsJobHost__", "AzureFunctionsWebHost__", "AzureWebJobs")


@dataclass
class RunningHost:
    process: subprocess.Popen
    base_url: str
    keys: dict[str, Any]
    log_paths: tuple[Path, Path]

    def log(self) -> str:
        return "".join(path.read_text(errors="replace") for path in self.log_paths)


def stop(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM, and SIGKILL when it has not ended within `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def bench_environment(connection_string: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_SETTINGS)}
    env.update(AzureWebJobsStorage=connection_string, PYTHONUNBUFFERED="1", **settings)
    return env


@contextmanager
def running_devhost(app_dir: Path, env: dict[str, str], work: Path, *, processes: int = 1,
                    name: str = "devhost") -> Iterator[RunningHost]:
    """`python -m devhost start [--processes N]` until the block ends (SIGTERM, then SIGKILL after 20 s)."""
    port = free_port()
    out_path, err_path = work / f"{name}.out", work / f"{name}.err"
    extra = ["--processes", str(processes)] if processes > 1 else []
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        host = subprocess.Popen([sys.executable, "-m", "devhost", "start", "--app-dir", str(app_dir),
                                 "--port", str(port), *extra], cwd=PROJECT_ROOT, env=env, stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while "Host started on" not in out_path.read_text(errors="replace"):
            if host.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("devhost did not start:\n" + err_path.read_text(errors="replace")[-3000:])
            time.sleep(0.1)
        keys = json.loads(subprocess.run(
            [sys.executable, "-m", "devhost", "keys", "--app-dir", str(app_dir), "--json"], cwd=PROJECT_ROOT,
            env=env, capture_output=True, text=True, check=True, timeout=60).stdout)
        yield RunningHost(host, f"http://127.0.0.1:{port}", keys, (out_path, err_path))
    finally:
        stop(host)
