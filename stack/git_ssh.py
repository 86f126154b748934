"""sshd on loopback serving Git repositories: the "private repository" of the local stack and the tests.

Debian's openssh-server, run as a plain process with its own config and host key (no system service).
It accepts only the keys in its `authorized_keys` file and logs in as the user running it (root in CI).
With `base_path`, every login is forced through `stack/git_ssh_command.py`, which serves the repositories
under that folder (ssh://USER@127.0.0.1:PORT/<name>.git) and nothing else: no shell.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Self

from stack.demo_repository import LoopbackServer, free_port, wait_for_port

SSHD = "/usr/sbin/sshd"
COMMAND = Path(__file__).resolve().parent / "git_ssh_command.py"


def sshd_available() -> bool:
    """sshd can serve here: installed, and run by root (sshd needs it to switch to the login user)."""
    return Path(SSHD).exists() and os.geteuid() == 0 and shutil.which("ssh") is not None


def generate_ed25519_key(path: Path) -> str:
    """Write an OpenSSH Ed25519 private key at `path` (0600); returns the public line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True,
                   capture_output=True)
    return Path(f"{path}.pub").read_text().strip()


class SshServer(LoopbackServer):
    """sshd on 127.0.0.1:PORT with its own host key (kept in `work_dir` across restarts)."""

    def __init__(self, *, work_dir: Path, authorized_keys: Iterable[str] | None = None, port: int | None = None,
                 base_path: Path | None = None) -> None:
        self.work_dir = work_dir
        self.authorized_keys = None if authorized_keys is None else list(authorized_keys)
        self.port = port or free_port()
        self.base_path = base_path
        self.process: subprocess.Popen | None = None
        self.known_hosts_line = ""
        self.user = getpass.getuser()

    @property
    def authorized_keys_path(self) -> Path:
        return self.work_dir / "authorized_keys"

    @property
    def known_hosts_path(self) -> Path:
        return self.work_dir / "known_hosts"

    def url(self, repo: Path | str) -> str:
        """A repository's URL: an absolute path, or with `base_path` a name under it."""
        path = str(repo) if self.base_path is None else f"/{repo}"
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    def start(self, timeout: float = 10.0) -> Self:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        host_key = self.work_dir / "host_ed25519"
        public = (Path(f"{host_key}.pub").read_text().strip() if host_key.exists()
                  else generate_ed25519_key(host_key))
        self.known_hosts_line = f"[127.0.0.1]:{self.port} " + " ".join(public.split()[:2])
        self.known_hosts_path.write_text(self.known_hosts_line + "\n")
        if self.authorized_keys is not None:
            self.authorized_keys_path.write_text("".join(k.strip() + "\n" for k in self.authorized_keys))
        self.authorized_keys_path.touch()
        lines = [f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
                 f"PidFile {self.work_dir / 'sshd.pid'}", f"AuthorizedKeysFile {self.authorized_keys_path}",
                 "StrictModes no", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
                 "PubkeyAuthentication yes", "PermitRootLogin prohibit-password"]
        if self.base_path is not None:
            lines += [f"ForceCommand {sys.executable} {COMMAND} {self.base_path}", "PermitTTY no",
                      "AllowTcpForwarding no", "X11Forwarding no"]
        config = self.work_dir / "sshd_config"
        config.write_text("\n".join(lines) + "\n")
        with open(self.work_dir / "sshd.log", "ab") as log:
            self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
        wait_for_port(self.port, timeout, self.process)
        return self
