"""sshd's ForceCommand for the stack's Git server: run the Git command a client asked for, on a repository
under the served folder, and nothing else (`python git_ssh_command.py BASE`; the request is in
SSH_ORIGINAL_COMMAND, e.g. `git-upload-pack '/arc-k8s-demo.git'`)."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

GIT_COMMANDS = ("git-upload-pack", "git-receive-pack", "git-upload-archive")


def main(argv: list[str]) -> int:
    base = Path(argv[1]).resolve()
    try:
        command, path = shlex.split(os.environ.get("SSH_ORIGINAL_COMMAND", ""))
    except ValueError:
        command, path = "", ""
    repository = (base / path.lstrip("/")).resolve()
    if command not in GIT_COMMANDS or not repository.is_relative_to(base) or not repository.is_dir():
        print("This server only serves Git repositories (git clone/fetch/push).", file=sys.stderr)
        return 1
    os.execvp(command, [command, str(repository)])
    return 1  # NB: not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv))
