"""The seed's sample repository (github.com/Azure/arc-k8s-demo) made locally, and `git daemon` to serve it.

`make up` serves it as git://127.0.0.1:PORT/arc-k8s-demo.git; the tests build the same repository.
Its content: namespaces cluster-config, team-a, team-b and itops (one multi-document file), the
Deployment `arc-k8s-demo` in namespace `team-a` and the ConfigMap `team-a/endpoints`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Self

GIT_ENV = {"GIT_AUTHOR_NAME": "Fixture", "GIT_AUTHOR_EMAIL": "fixture@example.com",
           "GIT_COMMITTER_NAME": "Fixture", "GIT_COMMITTER_EMAIL": "fixture@example.com",
           "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}

NAMESPACES_YAML = """\
apiVersion: v1
kind: Namespace
metadata:
  name: cluster-config
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-b
---
---
apiVersion: v1
kind: Namespace
metadata:
  name: itops
"""

DEPLOYMENT_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: arc-k8s-demo
  namespace: team-a
  labels:
    app: arc-k8s-demo
spec:
  replicas: 1
  selector:
    matchLabels:
      app: arc-k8s-demo
  template:
    metadata:
      labels:
        app: arc-k8s-demo
    spec:
      containers:
      - name: arc-k8s-demo
        image: nginx:1.25
        ports:
        - containerPort: 80
"""

CONFIGMAP_YAML = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: endpoints
  namespace: team-a
data:
  uri: https://example.com/team-a
"""

DEMO_FILES = {
    "namespaces/namespaces.yaml": NAMESPACES_YAML,
    "team-a/deployment.yaml": DEPLOYMENT_YAML,
    "team-a/configmap.yaml": CONFIGMAP_YAML,
    "README.md": "# arc-k8s-demo (fixture)\n",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def git(*args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV},
                          capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


# --- repositories --------------------------------------------------------------------------------
def make_demo_repository(bare: Path, files: Mapping[str, str] | None = None, branch: str = "master") -> str:
    """Create bare repo `bare` holding `files` (default: the demo) on `branch`; returns the commit sha."""
    bare.parent.mkdir(parents=True, exist_ok=True)
    git("init", "--bare", "-q", "-b", branch, str(bare))
    git("config", "http.receivepack", "true", cwd=bare)
    return commit_files(bare, dict(DEMO_FILES if files is None else files), branch=branch, message="initial")


def commit_files(bare: Path, files: Mapping[str, str], *, branch: str = "master", message: str = "change",
                 remove: Iterable[str] = ()) -> str:
    """Write (and delete) files on `branch` of `bare` via a temporary clone; returns the new commit sha."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "w"
        git("init", "-q", "-b", branch, str(work))
        git("remote", "add", "origin", str(bare), cwd=work)
        if git("ls-remote", "--heads", "origin", branch, cwd=work):
            git("fetch", "-q", "origin", branch, cwd=work)
            git("reset", "-q", "--hard", "FETCH_HEAD", cwd=work)
        for rel, text in files.items():
            path = work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        for rel in remove:
            git("rm", "-q", rel, cwd=work)
        git("add", "-A", cwd=work)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=work)
        git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
        return git("rev-parse", "HEAD", cwd=work)


def remove_files(bare: Path, paths: Iterable[str], *, branch: str = "master") -> str:
    return commit_files(bare, {}, branch=branch, message="remove", remove=paths)


def commit_time(bare: Path, rev: str) -> int:
    """Committer time (unix seconds) of `rev` in `bare`."""
    return int(git("log", "-1", "--format=%ct", rev, cwd=bare))


def tag_target(bare: Path, tag: str) -> str | None:
    """The commit a tag points at in `bare`, or None when absent."""
    proc = subprocess.run(["git", "rev-parse", "-q", "--verify", f"refs/tags/{tag}^{{commit}}"], cwd=bare,
                          capture_output=True, text=True, check=False)
    return proc.stdout.strip() or None


# --- git daemon ----------------------------------------------------------------------------------
class LoopbackServer:
    """A server process on 127.0.0.1 (`self.process`), used as a context manager: start, then stop."""

    process: subprocess.Popen | None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class GitDaemon(LoopbackServer):
    """`git daemon` serving every repository under `base_path` as git://127.0.0.1:PORT/<name>."""

    def __init__(self, *, base_path: Path, log_path: Path | None = None, port: int | None = None) -> None:
        self.base_path = base_path
        self.port = port or free_port()
        self.log_path = log_path or base_path.parent / f"git-daemon-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def url(self, repo: str) -> str:
        return f"git://127.0.0.1:{self.port}/{repo}"

    def start(self, timeout: float = 10.0) -> Self:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["git", "daemon", "--export-all", f"--base-path={self.base_path}", f"--port={self.port}",
                 "--listen=127.0.0.1", "--reuseaddr", "--enable=receive-pack", str(self.base_path)],
                stdout=log, stderr=log)
        wait_for_port(self.port, timeout, self.process)
        return self



def wait_for_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


DEMO_REPOSITORY = "arc-k8s-demo.git"


def ensure_demo_repository(root: Path) -> Path:
    """The demo repository under `root`, made once and kept (so its commits stay stable across runs)."""
    bare = root / DEMO_REPOSITORY
    if not (bare / "HEAD").exists():
        make_demo_repository(bare)
    return bare
