"""The Git side of a sync: fetch one branch into a working clone and move the sync tag, as fluxd does.

Transports and credentials (never written into the URL, the clone's config or a log line):
- git:// and unauthenticated http(s): nothing.
- http(s) with `https_user` / `https_key`: a GIT_ASKPASS script in a private temp dir that prints
  two environment variables of the git process; the script itself holds no secret.
- ssh: GIT_SSH_COMMAND with `-i identity -o IdentitiesOnly=yes -o UserKnownHostsFile=known_hosts
  -o StrictHostKeyChecking=yes -o BatchMode=yes`; key (0600) and known_hosts in a 0700 temp dir
  that is removed afterwards. Without known_hosts, StrictHostKeyChecking=yes refuses every host.

Failures raise `GitSyncError` whose message says what the user should fix.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import git

from agent.gcmark import safe_url


class GitSyncError(Exception):
    """A Git step failed; `str(error)` is meant for complianceStatus.message."""


@dataclass(frozen=True)
class GitCredentials:
    identity: str | None = None          # OpenSSH / PEM private key text (Secret key `identity`)
    known_hosts: str | None = None       # known_hosts lines (Secret key `known_hosts`)
    https_user: str | None = None        # GIT_AUTHUSER
    https_key: str | None = None         # GIT_AUTHKEY

    def __repr__(self) -> str:  # NB: never show secrets in logs or tracebacks
        return (f"GitCredentials(identity={'set' if self.identity else None}, "
                f"known_hosts={'set' if self.known_hosts else None}, https_user={self.https_user!r}, "
                f"https_key={'set' if self.https_key else None})")


@dataclass(frozen=True)
class Checkout:
    path: Path          # working tree at the synced commit
    commit: str         # full sha
    committed_at: str   # committer time, ISO-8601 UTC ("2026-11-25T16:30:00Z")


_ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "$FLUXSYNC_GIT_USER" ;;
  *) printf '%s\\n' "$FLUXSYNC_GIT_PASS" ;;
esac
"""


@contextmanager
def git_environment(url: str, credentials: GitCredentials) -> Iterator[dict[str, str]]:
    """Environment variables for git subprocesses reaching `url` with `credentials`."""
    private = Path(tempfile.mkdtemp(prefix="fluxsync-"))
    os.chmod(private, 0o700)
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
    try:
        if credentials.https_user or credentials.https_key:
            script = private / "askpass.sh"
            script.write_text(_ASKPASS)
            script.chmod(stat.S_IRWXU)
            env.update({"GIT_ASKPASS": str(script), "FLUXSYNC_GIT_USER": credentials.https_user or "",
                        "FLUXSYNC_GIT_PASS": credentials.https_key or ""})
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes"]
        known_hosts = private / "known_hosts"
        known_hosts.write_text(credentials.known_hosts or "")
        ssh += ["-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null"]
        if credentials.identity:
            key = private / "identity"
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                text = credentials.identity.replace("\r\n", "\n")
                handle.write(text if text.endswith("\n") else text + "\n")
            ssh += ["-i", str(key)]
        env["GIT_SSH_COMMAND"] = shlex.join(ssh)
        yield env
    finally:
        shutil.rmtree(private, ignore_errors=True)


def describe_git_failure(error: git.GitCommandError, *, url: str, branch: str, action: str) -> str:
    """A one-line message a user can act on, from git's stderr (which never holds the credentials)."""
    stderr = str(error.stderr or "")
    where = safe_url(url)
    if "Permission denied" in stderr:
        return (f"Permission denied (publickey) when reading {where}: the repository does not accept the "
                "configuration's SSH key; add its public key (repositoryPublicKey) as a deploy key")
    if "Host key verification failed" in stderr:
        detail = "the host key changed" if "HAS CHANGED" in stderr else "the host key is not in known_hosts"
        return (f"Host key verification failed for {where}: {detail}; "
                "correct the configuration's known_hosts (sshKnownHostsContents)")
    if "Authentication failed" in stderr or "could not read Username" in stderr \
            or "could not read Password" in stderr:
        return (f"Authentication failed for {where}: check the HTTPS user and key "
                "(httpsUser / httpsKey) of the configuration")
    if "couldn't find remote ref" in stderr or "Remote branch" in stderr:
        return f"branch '{branch}' not found in {where} (--git-branch)"
    if "does not appear to be a git repository" in stderr or "not found" in stderr.lower():
        return f"repository {where} not found: {_last_line(stderr)}"
    return f"git {action} of {where} failed: {_last_line(stderr) or error.status}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1].removeprefix("stderr: ").strip("'") if lines else ""


def fetch_branch(*, url: str, branch: str, credentials: GitCredentials, work_dir: Path) -> Checkout:
    """Fetch `branch` of `url` into `work_dir/repo` (created on first use) and check it out detached."""
    path = work_dir / "repo"
    if (path / ".git").is_dir():
        repo = git.Repo(path)
        if repo.remotes.origin.url != url:
            repo.remotes.origin.set_url(url)
    else:
        path.mkdir(parents=True, exist_ok=True)
        repo = git.Repo.init(path)
        repo.create_remote("origin", url)
    with git_environment(url, credentials) as env, repo.git.custom_environment(**env):
        try:
            repo.git.fetch("--force", "--prune", "--no-tags", "origin",
                           f"+refs/heads/{branch}:refs/remotes/origin/{branch}")
        except git.GitCommandError as error:
            raise GitSyncError(describe_git_failure(error, url=url, branch=branch, action="fetch")) from None
    repo.git.checkout("--force", "--detach", f"refs/remotes/origin/{branch}")
    repo.git.clean("-fdx")
    commit = repo.head.commit
    committed_at = datetime.fromtimestamp(commit.committed_date, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Checkout(path=path, commit=commit.hexsha, committed_at=committed_at)


def move_sync_tag(*, checkout: Checkout, url: str, tag: str, user: str, email: str,
                  credentials: GitCredentials) -> None:
    """Point annotated tag `tag` ("Sync pointer", as fluxd) at the synced commit and force-push it."""
    repo = git.Repo(checkout.path)
    identity = {"GIT_AUTHOR_NAME": user, "GIT_AUTHOR_EMAIL": email,
                "GIT_COMMITTER_NAME": user, "GIT_COMMITTER_EMAIL": email}
    with git_environment(url, credentials) as env, repo.git.custom_environment(**env, **identity):
        repo.git.tag("--force", "--annotate", "--message", "Sync pointer", tag, checkout.commit)
        try:
            repo.git.push("--force", "origin", f"refs/tags/{tag}:refs/tags/{tag}")
        except git.GitCommandError as error:
            raise GitSyncError(describe_git_failure(error, url=url, branch=tag, action="push of the sync tag")
                               ) from None
