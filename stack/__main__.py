"""`python -m stack up`: the whole local stack in the foreground; Ctrl-C stops all of it.

Starts Azurite (default ports, data in .local/azurite), the embedded Kubernetes cluster (kubesim on
:6443, kubeconfig in .local/kubeconfig, state and certificates in .local/kubesim) and the local Functions
host on :7071 serving this app, the demo repository over git:// (:9418) and, where sshd can run, over ssh
(:2222, the private-repository step of the tutorial), and the cluster agent. Each child runs in its own process group so a stop reaches all of its
processes.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from stack.azurite import DEFAULT_PORTS, PROJECT_ROOT, Azurite, AzuritePorts
from stack.banner import SEED_REPOSITORY, ready_banner
from stack.demo_repository import DEMO_REPOSITORY, GitDaemon, ensure_demo_repository
from stack.git_ssh import SshServer, sshd_available
from stack.local_settings import ensure_local_settings
from stack.registration import SEED_CLUSTER, cluster_path, function_key, register_cluster

log = logging.getLogger("stack")
DEMO_GIT_PORT = 9418
PRIVATE_GIT_PORT = 2222

KUBESIM_PORT = 6443
KUBESIM_CLUSTER = "AzureArcTest1"


def signal_process(process: subprocess.Popen, signum: int) -> None:
    """The child's whole process group when it leads one (started with start_new_session), else the child."""
    if os.getpgid(process.pid) == process.pid:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)


def stop_process(process: subprocess.Popen, *, name: str, timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    signal_process(process, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop within %ss; killing it", name, timeout)
        signal_process(process, signal.SIGKILL)
        process.wait()


def start_kubesim(local_dir: Path) -> tuple[subprocess.Popen, Path, bool]:
    """The embedded cluster; returns once it accepts connections (its kubeconfig is then written),
    it exited, or 30 s passed."""
    kubeconfig = local_dir / "kubeconfig"
    process = subprocess.Popen([sys.executable, "-m", "kubesim", "--port", str(KUBESIM_PORT),
                                "--kubeconfig-out", str(kubeconfig),
                                "--state-file", str(local_dir / "kubesim" / "state.json"),
                                "--cert-dir", str(local_dir / "kubesim"), "--cluster-name", KUBESIM_CLUSTER],
                               cwd=PROJECT_ROOT, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", KUBESIM_PORT), timeout=0.5):
                return process, kubeconfig, True
        except OSError:
            time.sleep(0.1)
    return process, kubeconfig, False


def register_embedded_cluster(*, port: int, kubeconfig: Path) -> None:
    """Register kubesim as cluster AzureArcTest1 in AzureArcTest (SPEC section 7); the stack runs on if it fails."""
    try:
        status = register_cluster(base_url=f"http://127.0.0.1:{port}", key=function_key(PROJECT_ROOT),
                                  kubeconfig=kubeconfig)
    except Exception as error:  # noqa: BLE001 - reported; the API still serves other clusters
        log.error("registering the embedded cluster failed: %s", error)
        return
    log.info("cluster %s registered (%s): %s", SEED_CLUSTER, status, cluster_path())


def shown(path: Path) -> Path:
    """`path` as a user in the project folder would type it."""
    return path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path


def start_private_git(local_dir: Path) -> SshServer | None:
    """sshd serving .local/git on :2222 (the tutorial's private repository step), when it can run here."""
    if not sshd_available():
        log.warning("openssh-server missing or not root: the private repository over ssh is not served")
        return None
    server = SshServer(work_dir=local_dir / "ssh", port=PRIVATE_GIT_PORT, base_path=local_dir / "git")
    try:
        server.start()
    except (OSError, RuntimeError, TimeoutError) as error:
        log.warning("sshd did not start (%s): the private repository over ssh is not served", error)
        return None
    log.info("private repository over ssh: %s (known_hosts: %s)", server.url(DEMO_REPOSITORY),
             server.known_hosts_path)
    return server


def seed_repository_mirror(daemon_root_url: str) -> dict[str, str]:
    """Git config (as environment) that fetches the seed's GitHub organisation from the local git daemon.

    NB: this machine is offline; `url.<base>.insteadOf` is Git's own way to point a URL at a mirror, so the
    seed's `--repository-url https://github.com/Azure/arc-k8s-demo` works unchanged against the stack.
    """
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"url.{daemon_root_url}.insteadOf",
            "GIT_CONFIG_VALUE_0": SEED_REPOSITORY.rsplit("/", 1)[0] + "/"}


def up(*, port: int, processes: int = 1) -> int:
    # NB: STACK_LOCAL_DIR lets the tests run the stack on a throwaway data folder instead of the developer's.
    local_dir = Path(os.environ.get("STACK_LOCAL_DIR") or PROJECT_ROOT / ".local").resolve()
    local_dir.mkdir(parents=True, exist_ok=True)
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
        kubesim, kubeconfig, serving = start_kubesim(local_dir)
        children.append(("kubesim", kubesim))
        if kubesim.poll() is not None:
            log.error("kubesim exited with code %s before serving on port %s", kubesim.returncode, KUBESIM_PORT)
            return 1
        if not serving:
            log.warning("kubesim is not serving on port %s yet; the kubeconfig will be %s", KUBESIM_PORT, kubeconfig)
        log.info("embedded cluster %s on https://127.0.0.1:%s; kubeconfig: %s (kubectl --kubeconfig %s get ns)",
                 KUBESIM_CLUSTER, KUBESIM_PORT, kubeconfig, kubeconfig)
        extra = ["--processes", str(processes)] if processes > 1 else []
        host = subprocess.Popen([sys.executable, "-m", "devhost", "start", "--app-dir", str(PROJECT_ROOT),
                                 "--port", str(port), *extra], cwd=PROJECT_ROOT, start_new_session=True)
        children.append(("devhost", host))
        register_embedded_cluster(port=port, kubeconfig=kubeconfig)
        ensure_demo_repository(local_dir / "git")
        demo = GitDaemon(base_path=local_dir / "git", log_path=local_dir / "git-daemon.log", port=DEMO_GIT_PORT)
        demo.start()
        children.append(("git daemon", demo.process))
        log.info("demo repository (the seed's sample): %s", demo.url(DEMO_REPOSITORY))
        ssh = start_private_git(local_dir)
        if ssh is not None:
            children.append(("sshd", ssh.process))
        agent = subprocess.Popen([sys.executable, "-m", "agent", "--kubeconfig", str(kubeconfig),
                                  "--cluster-id", cluster_path(), "--local-sync", "--work-dir", str(local_dir / "agent"),
                                  "--connection-string", "UseDevelopmentStorage=true"],
                                 cwd=PROJECT_ROOT, start_new_session=True,
                                 env={**os.environ, **seed_repository_mirror(demo.url(""))})
        children.append(("agent", agent))
        log.info("agent watching cluster %s (local Flux sync on)", SEED_CLUSTER)
        print(ready_banner(port=port, local_dir=shown(local_dir), demo_url=demo.url(DEMO_REPOSITORY),
                           ssh_url=ssh.url(DEMO_REPOSITORY) if ssh else None), flush=True)
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
    up_parser = commands.add_parser(
        "up", help="run Azurite, the embedded cluster and the local Functions host in the foreground")
    up_parser.add_argument("--port", type=int, default=7071)
    up_parser.add_argument("--processes", type=int, default=1,
                           help="devhost worker processes sharing the task hub and the port (devhost/README.md)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s stack %(levelname)s %(message)s")
    os.environ.pop("AzureWebJobsStorage", None)  # NB: the stack's own Azurite, never an inherited one
    return up(port=args.port, processes=args.processes)


if __name__ == "__main__":
    sys.exit(main())
