"""Issue 8 end to end: `make up` as a subprocess, then the seed's commands with `az` replaced by `azlocal`,
the README's quickstart run command by command, and a second `make up` that finds the same data.

The stack runs on a throwaway data folder (STACK_LOCAL_DIR), so the README's `.local/` paths are pointed
at it; everything else in the commands is run exactly as the README prints it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stack.git_ssh import sshd_available
from tests.fixtures.devhost_process import PROJECT_ROOT
from tests.fixtures.terminal import run_on_a_terminal
from tests.fixtures.waiting import wait_for
from tests.stack.test_make_up import STACK_PORTS, port_in_use

READY = "The local GitOps stack is running"
TARGET = "--cluster-name AzureArcTest1 --resource-group AzureArcTest --cluster-type connectedClusters"
# The seed's three commands (../shared/reference, SPEC section 8), `az` -> `azlocal`.
SEED_CREATE = ("azlocal k8s-configuration flux create --name cluster-config --cluster-name AzureArcTest1 "
               "--resource-group AzureArcTest --operator-instance-name cluster-config --operator-namespace "
               "cluster-config --repository-url https://github.com/Azure/arc-k8s-demo --scope cluster "
               "--cluster-type connectedClusters")
SEED_SHOW = ("azlocal k8s-configuration flux show --name cluster-config --cluster-name AzureArcTest1 "
             "--resource-group AzureArcTest --cluster-type connectedClusters")
SEED_QUERY = ("azlocal k8s-configuration show --resource-group AzureArcTest --cluster-name AzureArcTest1 "
              "--name cluster-config --cluster-type connectedClusters --query 'repositoryPublicKey'")
SEED_DELETE = ("azlocal k8s-configuration flux delete --name cluster-config --cluster-name AzureArcTest1 "
               "--resource-group AzureArcTest --cluster-type connectedClusters")


@dataclass
class RunningStack:
    local_dir: Path
    log_path: Path
    process: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("AzureWebJobsStorage", "MAKEFLAGS", "MFLAGS")}
        env["STACK_LOCAL_DIR"] = str(self.local_dir)
        env["KUBECONFIG"] = str(self.local_dir / "kubeconfig")
        env["PATH"] = f"{PROJECT_ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return env

    def start(self) -> None:
        busy = [port for port in STACK_PORTS if port_in_use(port)]
        assert not busy, f"ports {busy} are taken: stop the running stack before the suite"
        seen = len(self.log()) if self.log_path.exists() else 0  # NB: a restart appends to the same log
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(["make", "up"], cwd=PROJECT_ROOT, env=self.env(), stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: READY in self.log()[seen:] or self.process.poll() is not None, timeout=180,
                 what="make up")
        assert self.process.poll() is None, self.log()[-3000:]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise
        wait_for(lambda: not any(port_in_use(p) for p in STACK_PORTS), timeout=15, what="the ports to be free")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def run(self, command: str, *, stdin: str | None = None, check: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess:
        """A shell command as a user would type it in the project folder."""
        result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=PROJECT_ROOT, env=self.env(),
                                input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
        if check:
            assert result.returncode == 0, f"{command}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    work = tmp_path_factory.mktemp("make-up")
    running = RunningStack(local_dir=work / "local", log_path=work / "make-up.log")
    running.start()
    yield running
    running.stop()


def compliance_state(stack: RunningStack, name: str) -> str:
    shown = stack.run(f"azlocal k8s-configuration show --name {name} {TARGET} "
                      "--query complianceStatus.complianceState -o tsv")
    return shown.stdout.strip()


def test_the_seed_commands_with_azlocal(stack: RunningStack):
    created = json.loads(stack.run(SEED_CREATE).stdout)
    assert created["name"] == "cluster-config"
    assert created["resourceGroup"] == "AzureArcTest"
    assert created["repositoryUrl"] == "https://github.com/Azure/arc-k8s-demo"
    assert created["operatorParams"] == "--git-readonly"  # the CLI's default, as in the seed's output
    assert created["configurationProtectedSettings"] == {}
    assert created["complianceStatus"]["complianceState"] in ("Installed", "Failed")  # waited for a verdict

    shown = json.loads(stack.run(SEED_SHOW).stdout)
    assert shown["complianceStatus"]["complianceState"] == "Installed", shown["complianceStatus"]
    assert shown["id"].endswith("/connectedClusters/AzureArcTest1/providers/Microsoft.KubernetesConfiguration/"
                                "sourceControlConfigurations/cluster-config")
    assert stack.run(SEED_QUERY).stdout.strip() == '""'  # an https repository has no generated key
    namespaces = stack.run("kubectl get ns").stdout
    for namespace in ("cluster-config", "team-a", "team-b", "itops"):
        assert re.search(rf"^{namespace}\s+Active", namespaces, re.MULTILINE), namespaces
    assert "cluster-config" in stack.run("kubectl -n cluster-config get deploy cluster-config").stdout

    refused = stack.run(SEED_DELETE, check=False)  # az asks first, and cannot without a terminal
    assert refused.returncode == 1 and "Use --yes" in refused.stderr
    deleted = run_on_a_terminal(["bash", "-c", SEED_DELETE], answer="y\n", env=stack.env(), cwd=PROJECT_ROOT)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == "Are you sure you want to perform this operation? (y/n):"  # and no output
    gone = stack.run(SEED_SHOW, check=False)
    assert gone.returncode == 3 and "ERROR" in gone.stderr and "Traceback" not in gone.stderr
    assert "NotFound" in stack.run("kubectl -n cluster-config get deploy cluster-config", check=False).stderr
    assert "team-a" in stack.run("kubectl get ns").stdout  # what Flux synced from Git stays


def quickstart_commands() -> list[str]:
    """The commands of the README's quickstart section, in order (the `make up` itself excluded)."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip() and line.strip() != "make up"]


@pytest.mark.skipif(not sshd_available(), reason="the private-repository step needs openssh-server and root")
def test_the_readme_quickstart_runs_as_written(stack: RunningStack):
    commands = quickstart_commands()
    assert len(commands) >= 12 and any("wait" in c for c in commands)
    # One shell, as in the user's second terminal, so `source` and `export` carry over; a marker line
    # before each command splits the output per command.
    script = ["set -eu"]
    for index, command in enumerate(commands):
        local = command.replace("$PWD/.local", str(stack.local_dir)).replace(".local/", f"{stack.local_dir}/")
        script += [f"echo '>>> {index}'", local]
    result = stack.run("\n".join(script), timeout=600)
    outputs = re.split(r"^>>> \d+\n", result.stdout, flags=re.MULTILINE)[1:]
    assert len(outputs) == len(commands)

    text = "\n".join(outputs)
    assert re.search(r"^team-a\s+Active", text, re.MULTILINE), text
    assert "arc-k8s-demo" in text  # kubectl -n team-a get deploy,configmap
    public_key = (stack.local_dir / "ssh" / "authorized_keys").read_text().strip().splitlines()[-1]
    assert public_key.startswith("ssh-rsa ")
    assert "private-config" not in outputs[-1] and "cluster-config" not in outputs[-1]  # the final list


def test_a_second_make_up_resumes_with_the_same_data(stack: RunningStack):
    stack.run(f"azlocal k8s-configuration flux create --name kept-config {TARGET} --operator-instance-name kept "
              "--operator-namespace kept --repository-url https://github.com/Azure/arc-k8s-demo --scope cluster")
    assert compliance_state(stack, "kept-config") == "Installed"

    stack.stop()
    time.sleep(1)
    stack.start()

    assert compliance_state(stack, "kept-config") == "Installed"
    assert "kept" in stack.run("kubectl -n kept get deploy kept").stdout
    listed = json.loads(stack.run(f"azlocal k8s-configuration list {TARGET}").stdout)
    assert [item["name"] for item in listed] == ["kept-config"]
