"""Start and stop the npm Azurite emulator that the whole local stack stores its state in.

Used by `make up` (default ports, persistent data folder) and by the test suite (free ports,
throwaway folder). Azurite 3.37 rejects the API version current SDKs send unless started with
`--skipApiVersionCheck` (see ../shared/reference/azurite-notes.md).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_NAME = "devstoreaccount1"
# NB: the well-known development account key, published by Microsoft; not a secret.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEFAULT_PORTS = (10000, 10001, 10002)


@dataclass(frozen=True)
class AzuritePorts:
    blob: int
    queue: int
    table: int

    @property
    def connection_string(self) -> str:
        """An explicit connection string; the SDKs do not understand `UseDevelopmentStorage=true`."""
        base = f"http://127.0.0.1:{{}}/{ACCOUNT_NAME}"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={base.format(self.blob)};QueueEndpoint={base.format(self.queue)};"
            f"TableEndpoint={base.format(self.table)};"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def azurite_executable() -> str:
    local = PROJECT_ROOT / "node_modules" / ".bin" / "azurite"
    if local.exists():
        return str(local)
    found = shutil.which("azurite")
    if not found:
        raise RuntimeError("azurite is not installed: run `make bootstrap` (npm ci) first")
    return found


def wait_for_ports(ports: AzuritePorts, *, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    pending = [ports.blob, ports.queue, ports.table]
    while pending:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"azurite exited early with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", pending[0]), timeout=0.5):
                pending.pop(0)
                continue
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"azurite did not open port {pending[0]} within {timeout}s") from None
            time.sleep(0.1)


class Azurite:
    """One Azurite process; `with Azurite(...) as az:` starts it and stops it."""

    def __init__(self, *, data_dir: Path, ports: AzuritePorts | None = None, log_file: Path | None = None):
        self.data_dir = Path(data_dir)
        self.ports = ports or AzuritePorts(free_port(), free_port(), free_port())
        self.log_file = log_file
        self.process: subprocess.Popen | None = None

    def start(self) -> Azurite:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            azurite_executable(), "--silent", "--skipApiVersionCheck", "--loose",
            "--location", str(self.data_dir),
            "--blobHost", "127.0.0.1", "--blobPort", str(self.ports.blob),
            "--queueHost", "127.0.0.1", "--queuePort", str(self.ports.queue),
            "--tableHost", "127.0.0.1", "--tablePort", str(self.ports.table),
        ]
        with open(self.log_file or os.devnull, "ab") as output:
            self.process = subprocess.Popen(
                args, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, cwd=PROJECT_ROOT
            )
        wait_for_ports(self.ports, process=self.process)
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s: Azurite sometimes lingers on shutdown."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
