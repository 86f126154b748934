"""`connectedk8s connect|show|list|delete`: the cluster registry (a cluster must be registered first).

The kubeconfig is sent base64-encoded and is write-only: the service never returns it.
"""

from __future__ import annotations

import argparse
import base64
import os
from pathlib import Path
from typing import Any

from cli.context import Context
from cli.errors import CliError
from cli.prompt import confirm
from cli.resources import cluster_path, flatten

DEFAULT_KUBECONFIG = "~/.kube/config"


def kube_config_file(given: str | None) -> Path:
    """`--kube-config`, else the first file of $KUBECONFIG, else ~/.kube/config (as az connectedk8s)."""
    if given:
        return Path(given).expanduser()
    from_env = [part for part in os.environ.get("KUBECONFIG", "").split(os.pathsep) if part]
    return Path(from_env[0] if from_env else DEFAULT_KUBECONFIG).expanduser()


def _path(args: argparse.Namespace) -> str:
    return cluster_path(subscription=args.subscription, resource_group=args.resource_group,
                        cluster_type="connectedClusters", name=args.name)


def connect(ctx: Context) -> dict[str, Any]:
    path = kube_config_file(ctx.args.kube_config)
    try:
        kubeconfig = path.read_bytes()
    except OSError as error:
        raise CliError(f"Problem loading the kubeconfig file {path}: {error.strerror}",
                       code="FileOperationError") from None
    body = {"properties": {"kubeconfig": base64.b64encode(kubeconfig).decode("ascii")}}
    return flatten(ctx.client.call("PUT", _path(ctx.args), body=body).json())


def show(ctx: Context) -> dict[str, Any]:
    return flatten(ctx.client.call("GET", _path(ctx.args)).json())


def list_(ctx: Context) -> list[dict[str, Any]]:
    """The connected clusters of `--resource-group`, or of the whole subscription without it."""
    group = f"/resourceGroups/{ctx.args.resource_group}" if ctx.args.resource_group else ""
    path = f"/subscriptions/{ctx.args.subscription}{group}/providers/Microsoft.Kubernetes/connectedClusters"
    return [flatten(item) for item in ctx.client.call("GET", path).json().get("value") or []]


def delete(ctx: Context) -> None:
    if confirm(ctx.args.yes):
        ctx.client.call("DELETE", _path(ctx.args))
