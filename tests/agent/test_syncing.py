"""agent.syncing.sync_once against real Git servers on loopback and a real kubesim process."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.gcmark import GC_MARK_LABEL, make_gc_mark, resource_id, sync_set_name
from agent.syncing import SyncSpec, sync_once
from tests.fixtures.git_servers import (
    GitDaemon,
    GitHttpServer,
    SshServer,
    commit_files,
    commit_time,
    generate_ed25519_key,
    make_demo_repository,
    remove_files,
    sshd_available,
    tag_target,
)
from tests.fixtures.kubesim_process import KubeSimProcess, running_kubesim

DEMO_OBJECTS = {
    "<cluster>:namespace/cluster-config": "/api/v1/namespaces/cluster-config",
    "<cluster>:namespace/team-a": "/api/v1/namespaces/team-a",
    "<cluster>:namespace/team-b": "/api/v1/namespaces/team-b",
    "<cluster>:namespace/itops": "/api/v1/namespaces/itops",
    "team-a:deployment/arc-k8s-demo": "/apis/apps/v1/namespaces/team-a/deployments/arc-k8s-demo",
    "team-a:configmap/endpoints": "/api/v1/namespaces/team-a/configmaps/endpoints",
}


@pytest.fixture
def sim(tmp_path: Path):
    with running_kubesim(tmp_path / "kubesim", ready_delay=0) as process:
        yield process


@pytest.fixture
def repos(tmp_path: Path) -> Path:
    root = tmp_path / "repos"
    make_demo_repository(root / "demo.git")
    return root


@pytest.fixture
def daemon(repos: Path):
    with GitDaemon(base_path=repos) as server:
        yield server


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def assert_demo_synced(sim: KubeSimProcess, spec: SyncSpec) -> None:
    sync_set = sync_set_name(url=spec.url, branch=spec.branch, paths=spec.paths)
    for rid, path in DEMO_OBJECTS.items():
        status, body = sim.request("GET", path)
        assert status == 200, (rid, body)
        assert body["metadata"]["labels"][GC_MARK_LABEL] == make_gc_mark(sync_set, rid)


def run(spec: SyncSpec, sim: KubeSimProcess, work: Path):
    with sim.api_client() as api:
        return sync_once(spec, api, work)


def test_gc_mark_matches_flux_algorithm():
    # sha256("abc" + "<cluster>:namespace/team-a"), RawURLEncoding, computed independently
    import base64
    import hashlib
    digest = hashlib.sha256(b"abc<cluster>:namespace/team-a").digest()
    assert make_gc_mark("abc", resource_id(namespace=None, kind="Namespace", name="team-a")) == \
        "sha256." + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_git_daemon_sync_applies_seed_objects(sim, repos, daemon, tmp_path):
    spec = SyncSpec.from_configuration(url=daemon.url("demo.git"), operator_params="--git-readonly")
    result = run(spec, sim, tmp_path / "work")
    assert result.ok, result.message
    assert set(result.applied) == set(DEMO_OBJECTS)
    assert result.commit == subprocess.check_output(["git", "rev-parse", "master"], cwd=repos / "demo.git",
                                                    text=True).strip()
    assert result.committed_at == iso(commit_time(repos / "demo.git", "master"))
    assert_demo_synced(sim, spec)
    assert tag_target(repos / "demo.git", "flux-sync") is None
    # a second sync is an update, not a conflict
    again = run(spec, sim, tmp_path / "work")
    assert again.ok, again.message


def test_http_basic_auth_sync_and_wrong_password(sim, repos, tmp_path):
    with GitHttpServer(project_root=repos, user="flux", password="s3cret") as http:
        good = SyncSpec.from_configuration(url=http.url("demo.git"),
                                           secret_data={"GIT_AUTHUSER": "flux", "GIT_AUTHKEY": "s3cret"})
        result = run(good, sim, tmp_path / "good")
        assert result.ok, result.message
        assert_demo_synced(sim, good)
        assert "s3cret" not in (tmp_path / "good" / "repo" / ".git" / "config").read_text()

        bad = SyncSpec.from_configuration(url=http.url("demo.git"),
                                          secret_data={"GIT_AUTHUSER": "flux", "GIT_AUTHKEY": "wrong"})
        failed = run(bad, sim, tmp_path / "bad")
        assert failed.state == "Failed"
        assert "Authentication failed" in failed.message and "wrong" not in failed.message


@pytest.mark.parametrize("gc", [True, False])
def test_removed_manifest_garbage_collection(sim, repos, daemon, tmp_path, gc):
    params = "--git-readonly" + (" --sync-garbage-collection" if gc else "")
    spec = SyncSpec.from_configuration(url=daemon.url("demo.git"), operator_params=params)
    assert run(spec, sim, tmp_path / "work").ok
    remove_files(repos / "demo.git", ["team-a/configmap.yaml"])
    result = run(spec, sim, tmp_path / "work")
    assert result.ok, result.message
    status, _ = sim.request("GET", DEMO_OBJECTS["team-a:configmap/endpoints"])
    if gc:
        assert result.deleted == ("team-a:configmap/endpoints",)
        assert status == 404
    else:
        assert result.deleted == ()
        assert status == 200
    # untouched objects (and the kubesim built-ins without a mark) stay
    assert sim.request("GET", DEMO_OBJECTS["team-a:deployment/arc-k8s-demo"])[0] == 200
    assert sim.request("GET", "/api/v1/namespaces/default")[0] == 200


def test_missing_branch(sim, daemon, tmp_path):
    spec = SyncSpec.from_configuration(url=daemon.url("demo.git"), operator_params="--git-branch=nope")
    result = run(spec, sim, tmp_path / "work")
    assert result.state == "Failed"
    assert "branch 'nope' not found" in result.message


def test_missing_path(sim, daemon, tmp_path):
    spec = SyncSpec.from_configuration(url=daemon.url("demo.git"), operator_params="--git-path=team-a,nowhere")
    result = run(spec, sim, tmp_path / "work")
    assert result.state == "Failed"
    assert "git path 'nowhere' not found" in result.message
    assert result.applied == ()


def test_bad_yaml_names_file_and_line(sim, repos, daemon, tmp_path):
    commit_files(repos / "demo.git", {"team-b/broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                                           "  name: x\n data: [unclosed\n"})
    spec = SyncSpec.from_configuration(url=daemon.url("demo.git"))
    result = run(spec, sim, tmp_path / "work")
    assert result.state == "Failed"
    assert "team-b/broken.yaml line 5" in result.message, result.message


def test_git_path_limits_what_is_applied(sim, daemon, tmp_path):
    spec = SyncSpec.from_configuration(url=daemon.url("demo.git"), operator_params="--git-path=namespaces")
    result = run(spec, sim, tmp_path / "work")
    assert result.ok, result.message
    assert set(result.applied) == {rid for rid in DEMO_OBJECTS if rid.startswith("<cluster>")}


def test_sync_tag_pushed_only_when_not_readonly(sim, repos, tmp_path):
    with GitHttpServer(project_root=repos, user="flux", password="pw") as http:
        creds = {"GIT_AUTHUSER": "flux", "GIT_AUTHKEY": "pw"}
        readonly = SyncSpec.from_configuration(
            url=http.url("demo.git"), secret_data=creds,
            operator_params="--git-readonly --git-user=Flux --git-email=flux@example.com")
        assert run(readonly, sim, tmp_path / "ro").ok
        assert tag_target(repos / "demo.git", "flux-sync") is None

        writable = SyncSpec.from_configuration(url=http.url("demo.git"), secret_data=creds,
                                               operator_params="--git-user=Flux --git-email=flux@example.com")
        assert not writable.readonly
        result = run(writable, sim, tmp_path / "rw")
        assert result.ok, result.message
        assert tag_target(repos / "demo.git", "flux-sync") == result.commit

        newer = commit_files(repos / "demo.git", {"team-b/cm.yaml": "apiVersion: v1\nkind: ConfigMap\n"
                                                                   "metadata: {name: b, namespace: team-b}\n"})
        assert run(writable, sim, tmp_path / "rw").ok
        assert tag_target(repos / "demo.git", "flux-sync") == newer


def test_without_git_user_readonly_is_implied():
    assert SyncSpec.from_configuration(url="git://x/y.git", operator_params="--git-email=a@b").readonly


needs_sshd = pytest.mark.skipif(not sshd_available(), reason="sshd (Debian openssh-server) is not installed "
                                "or not running as root; install with `apt-get install -y openssh-server`")


@pytest.fixture
def ssh_setup(tmp_path: Path, repos: Path):
    keys = tmp_path / "keys"
    keys.mkdir()
    good_pub = generate_ed25519_key(keys / "good")
    generate_ed25519_key(keys / "other")
    with SshServer(work_dir=tmp_path / "sshd", authorized_keys=[good_pub]) as server:
        yield server, keys


@needs_sshd
def test_ssh_authorized_key_syncs(sim, repos, ssh_setup, tmp_path):
    server, keys = ssh_setup
    spec = SyncSpec.from_configuration(url=server.url(repos / "demo.git"), secret_data={
        "identity": (keys / "good").read_text(), "known_hosts": server.known_hosts_line + "\n"})
    result = run(spec, sim, tmp_path / "work")
    assert result.ok, result.message
    assert_demo_synced(sim, spec)


@needs_sshd
def test_ssh_unauthorized_key_is_permission_denied(sim, repos, ssh_setup, tmp_path):
    server, keys = ssh_setup
    spec = SyncSpec.from_configuration(url=server.url(repos / "demo.git"), secret_data={
        "identity": (keys / "other").read_text(), "known_hosts": server.known_hosts_line + "\n"})
    result = run(spec, sim, tmp_path / "work")
    assert result.state == "Failed"
    assert "Permission denied (publickey)" in result.message


@needs_sshd
def test_ssh_wrong_known_hosts_is_host_key_verification(sim, repos, ssh_setup, tmp_path):
    server, keys = ssh_setup
    wrong = generate_ed25519_key(keys / "fakehost")
    host = server.known_hosts_line.split()[0]
    spec = SyncSpec.from_configuration(url=server.url(repos / "demo.git"), secret_data={
        "identity": (keys / "good").read_text(), "known_hosts": f"{host} {' '.join(wrong.split()[:2])}\n"})
    result = run(spec, sim, tmp_path / "work")
    assert result.state == "Failed"
    assert "Host key verification failed" in result.message
    assert "host key changed" in result.message


def test_object_the_cluster_rejects_fails_with_its_source(sim, repos, daemon, tmp_path):
    commit_files(repos / "demo.git", {"team-b/widget.yaml": "apiVersion: example.com/v1\nkind: Widget\n"
                                                           "metadata: {name: w, namespace: team-b}\n"})
    spec = SyncSpec.from_configuration(url=daemon.url("demo.git"))
    result = run(spec, sim, tmp_path / "work")
    assert result.state == "Failed"
    assert "team-b/widget.yaml" in result.message and "Widget" in result.message
    assert "team-a:configmap/endpoints" in result.applied      # the rest is still applied, as fluxd does


def test_operator_params_parsing():
    spec = SyncSpec.from_configuration(
        url="git://h/r.git", operator_params="'--git-branch=main' --git-path=a,b --git-poll-interval=1m30s "
                                             "--sync-garbage-collection --git-label=mine")
    assert (spec.branch, spec.paths, spec.poll_interval_seconds) == ("main", ("a", "b"), 90.0)
    assert spec.garbage_collection and spec.readonly and spec.label == "mine"
    assert SyncSpec.from_configuration(url="git://h/r.git").poll_interval_seconds == 300.0
