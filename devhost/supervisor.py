"""`python -m devhost start --processes N`: N worker processes of one app sharing one HTTP port.

Each worker is a complete `python -m devhost start` (same app, settings and task hub) listening with
SO_REUSEPORT, so the kernel spreads incoming connections over them; queue triggers compete through their
queues, timers run on one worker through the singleton lock, durable work is split by task hub partition
(devhost/durable/partitions.py). Worker N gets `DEVHOST_WORKER=N`, which tags each of its log lines
`worker=N`, and every worker the same `DEVHOST_RPC_SECRET`, drawn at random for this start: the secret
their loopback RPC listeners require from each other (devhost/durable/rpc_auth.py).

The supervisor only starts and stops them:
- stdout: the first worker's function listing, then one `Host started on ...` once every worker started;
  stderr: the workers' logs (inherited) and the supervisor's own lines (`worker=supervisor`);
- SIGINT / SIGTERM: SIGTERM to every worker (each releases its leases and finishes in-flight work), wait,
  exit 0 when all stopped cleanly, else 1;
- a worker that fails while starting stops the others; the supervisor exits with that worker's code
  (2 for a configuration error, as a single process would);
- a worker that dies later is NOT restarted: the survivors take over its durable partitions, its queue
  messages reappear after their visibility timeout, its timer lock moves. A restart loop would hide a crash
  loop; the death is logged and the supervisor exits 1 when all the others have stopped too (after a signal,
  or because every worker died).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

from devhost.durable import rpc_auth
from devhost.logs import WORKER_ENV, fields

log = logging.getLogger("devhost.supervisor")

STARTED_LINE = "Host started on"
STOP_TIMEOUT = 30.0


class Supervisor:
    def __init__(self, *, processes: int, app_dir: str, port: int, bind_host: str) -> None:
        self.processes = processes
        self.app_dir = app_dir
        self.port = port
        self.bind_host = bind_host
        self.workers: list[subprocess.Popen] = []
        self._started: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._first_listing: list[str] = []

    def _command(self) -> list[str]:
        return [sys.executable, "-m", "devhost", "start", "--app-dir", self.app_dir, "--port", str(self.port),
                "--host", self.bind_host, "--reuse-port"]

    def _pump(self, number: int, process: subprocess.Popen) -> None:
        """Read a worker's stdout: keep the first worker's listing, note each `Host started on` line."""
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace")
            if line.startswith(STARTED_LINE):
                with self._lock:
                    self._started.add(number)
                    if len(self._started) == self.processes:
                        sys.stdout.write("".join(self._first_listing))
                        sys.stdout.write(f"{line.rstrip()} ({self.processes} worker processes)\n")
                        sys.stdout.flush()
            elif number == 1 and number not in self._started:
                self._first_listing.append(line)
            elif number == 1:
                sys.stdout.write(line)
                sys.stdout.flush()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop.set()

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        secret = rpc_auth.new_secret()
        for number in range(1, self.processes + 1):
            env = {**os.environ, WORKER_ENV: str(number), rpc_auth.SECRET_ENV: secret}
            process = subprocess.Popen(self._command(), env=env, stdout=subprocess.PIPE)
            self.workers.append(process)
            threading.Thread(target=self._pump, args=(number, process), daemon=True).start()
        log.info("supervisor started workers %s", fields(processes=self.processes, port=self.port,
                                                         pids=",".join(str(p.pid) for p in self.workers)))
        died: dict[int, int] = {}
        while not self._stop.is_set():
            for number, process in enumerate(self.workers, start=1):
                code = process.poll()
                if code is None or number in died:
                    continue
                died[number] = code
                with self._lock:
                    starting = number not in self._started
                if starting:
                    log.error("worker failed to start; stopping the others %s",
                              fields(worker=number, exit_code=code))
                    self._stop_all()
                    return code or 1
                log.error("worker exited unexpectedly; not restarted, the others take over its work %s",
                          fields(worker=number, pid=process.pid, exit_code=code))
            if len(died) == len(self.workers):
                log.error("every worker has exited")
                return 1
            self._stop.wait(0.2)
        log.info("supervisor stopping workers")
        codes = self._stop_all()
        failed = died or {n: c for n, c in codes.items() if c != 0}
        return 1 if failed else 0

    def _stop_all(self) -> dict[int, int]:
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        codes: dict[int, int] = {}
        for number, process in enumerate(self.workers, start=1):
            try:
                codes[number] = process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker did not stop; killing it %s", fields(worker=number, pid=process.pid))
                process.kill()
                codes[number] = process.wait()
        return codes
