"""The kubeconfig clients use to reach the emulator: CA data inline, a bearer token, one context."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml


def render_kubeconfig(*, server: str, ca_pem: bytes, token: str, cluster_name: str,
                      context_name: str | None = None) -> str:
    context = context_name or cluster_name
    user = f"{cluster_name}-admin"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": cluster_name, "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_pem).decode(),
        }}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": context,
    }
    return yaml.safe_dump(config, sort_keys=False)


def write_kubeconfig(path: Path, text: str) -> None:
    """Atomically, mode 0600: the file holds the cluster's bearer token."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
