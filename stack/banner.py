"""What `make up` prints once everything runs: where each part is, and the seed's commands to type next."""

from __future__ import annotations

from pathlib import Path

from stack.registration import SEED_CLUSTER, SEED_RESOURCE_GROUP

SEED_REPOSITORY = "https://github.com/Azure/arc-k8s-demo"
TARGET = f"--cluster-name {SEED_CLUSTER} --resource-group {SEED_RESOURCE_GROUP} --cluster-type connectedClusters"


def ready_banner(*, port: int, local_dir: Path, demo_url: str, ssh_url: str | None) -> str:
    kubeconfig = local_dir / "kubeconfig"
    ssh_line = (f"  Private Git over ssh  {ssh_url} (keys allowed: {local_dir / 'ssh' / 'authorized_keys'})"
                if ssh_url else "  Private Git over ssh  not started (needs openssh-server and root)")
    return "\n".join([
        "",
        "The local GitOps stack is running:",
        f"  Functions host (API)  http://localhost:{port}/api  (function keys: .venv/bin/python -m devhost keys)",
        f"  GitOps page           http://localhost:{port}/api/gitops/  (asks for the function key once)",
        f"  Azurite               blob :10000  queue :10001  table :10002  (data in {local_dir / 'azurite'})",
        (f"  Cluster {SEED_CLUSTER}  https://127.0.0.1:6443 registered in {SEED_RESOURCE_GROUP} "
        f"(kubectl --kubeconfig {kubeconfig})"),
        f"  Demo Git repository   {demo_url} (also answers for {SEED_REPOSITORY})",
        ssh_line,
        "  Cluster agent         status reports + local Flux sync",
        "",
        "Next, in another terminal (the README's quickstart has the whole tutorial):",
        "  source .venv/bin/activate",
        (f"  azlocal k8s-configuration flux create --name cluster-config {TARGET} "
        f"--operator-instance-name cluster-config --operator-namespace cluster-config "
        f"--repository-url {SEED_REPOSITORY} --scope cluster"),
        f"  azlocal k8s-configuration flux show --name cluster-config {TARGET}",
        f"  kubectl --kubeconfig {kubeconfig} get ns",
        f"  azlocal k8s-configuration flux delete --name cluster-config {TARGET} --yes",
        "",
        f"Ctrl-C stops everything; the data stays in {local_dir} for the next `make up`.",
        "",
    ])
