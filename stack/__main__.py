"""`python -m stack up`: the whole local stack in the foreground; Ctrl-C stops all of it.

Starts Azurite (default ports, data in .local/azurite) and the local Functions host on :7071 serving
this app. Each child runs in its own process group so a stop reaches all of its processes.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading

from stack.azurite import DEFAULT_PORTS, PROJECT_ROOT, Azurite, AzuritePorts
from stack.local_settings import ensure_local_settings

log = logging.getLogger("stack")


def stop_process(process: subprocess.Popen, *, name: str, timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop within %ss; killing it", name, timeout)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def up(*, port: int) -> int:
    local_dir = PROJECT_ROOT / ".local"
    local_dir.mkdir(exist_ok=True)
    settings_file = ensure_local_settings(PROJECT_ROOT)
    log.info("settings: %s", settings_file)
    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("received %s; stopping the stack", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    azurite = Azurite(data_dir=local_dir / "azurite", ports=AzuritePorts(*DEFAULT_PORTS),
                      log_file=local_dir / "azurite.log")
    log.info("starting Azurite on ports %s (data in %s)", DEFAULT_PORTS, azurite.data_dir)
    azurite.start()
    children: list[tuple[str, subprocess.Popen]] = []
    try:
        host = subprocess.Popen([sys.executable, "-m", "devhost", "start", "--app-dir", str(PROJECT_ROOT),
                                 "--port", str(port)], cwd=PROJECT_ROOT, start_new_session=True)
        children.append(("devhost", host))
        while not stopping.wait(0.5):
            for name, child in children:
                if child.poll() is not None:
                    log.error("%s exited with code %s; stopping the stack", name, child.returncode)
                    return 1
        return 0
    finally:
        for name, child in reversed(children):
            stop_process(child, name=name)
        azurite.stop()
        log.info("stack stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="run Azurite and the local Functions host in the foreground")
    up_parser.add_argument("--port", type=int, default=7071)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s stack %(levelname)s %(message)s")
    os.environ.pop("AzureWebJobsStorage", None)  # NB: the stack's own Azurite, never an inherited one
    return up(port=args.port)


if __name__ == "__main__":
    sys.exit(main())
