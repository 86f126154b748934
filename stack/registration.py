"""Register the embedded cluster with the running service, as `azlocal connectedk8s connect` would."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import requests

SEED_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
SEED_RESOURCE_GROUP = "AzureArcTest"
SEED_CLUSTER = "AzureArcTest1"
API_VERSION = "2021-03-01"


def function_key(app_dir: Path) -> str:
    """The host-level default function key, from the local host's key store."""
    result = subprocess.run([sys.executable, "-m", "devhost", "keys", "--app-dir", str(app_dir), "--json"],
                            cwd=app_dir, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)["functionKeys"]["default"]


def cluster_path(*, subscription: str = SEED_SUBSCRIPTION, resource_group: str = SEED_RESOURCE_GROUP,
                 name: str = SEED_CLUSTER) -> str:
    return (f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
            f"/providers/Microsoft.Kubernetes/connectedClusters/{name}")


def register_cluster(*, base_url: str, key: str, kubeconfig: Path, attempts: int = 30) -> int:
    """PUT the cluster with its kubeconfig; retried while the host is still starting. Returns the status."""
    body = {"properties": {"kubeconfig": base64.b64encode(kubeconfig.read_bytes()).decode("ascii")}}
    url = f"{base_url}/api{cluster_path()}"
    for attempt in range(attempts):
        try:
            response = requests.put(url, params={"api-version": API_VERSION}, json=body,
                                    headers={"x-functions-key": key}, timeout=30)
        except requests.ConnectionError:
            if attempt == attempts - 1:
                raise
            time.sleep(1)
            continue
        response.raise_for_status()
        return response.status_code
    raise RuntimeError("the local host never answered the cluster registration")
