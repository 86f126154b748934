"""kubectl 1.32 against kubesim through the kubeconfig only: no --validate=false, no insecure flags."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.fixtures.kubesim_process import KubeSimProcess
from tests.kubesim.helpers import eventually

DEPLOY_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: flux
  namespace: {namespace}
  labels:
    name: flux
    instanceName: cluster-config
spec:
  replicas: 1
  selector:
    matchLabels:
      name: flux
  template:
    metadata:
      labels:
        name: flux
    spec:
      containers:
      - name: flux
        image: {image}
        args: ["--git-url=git@github.com:Azure/arc-k8s-demo"]
        ports:
        - containerPort: 3030
        env:
        - name: KUBECONFIG
          value: /root/.kubectl/config
      - name: sidecar
        image: memcached:1.5.15
"""


def _new_namespace(kubesim: KubeSimProcess) -> str:
    name = f"kc-{uuid.uuid4().hex[:8]}"
    kubesim.kubectl("create", "namespace", name, check=True)
    return name


def _header(output: str) -> list[str]:
    return output.splitlines()[0].split()


def test_create_namespace_is_listed(kubesim: KubeSimProcess) -> None:
    created = kubesim.kubectl("create", "namespace", "kc-created")
    assert created.returncode == 0, created.stderr
    assert "namespace/kc-created created" in created.stdout
    listing = kubesim.kubectl("get", "ns", check=True).stdout
    assert _header(listing) == ["NAME", "STATUS", "AGE"]
    rows = {line.split()[0]: line.split()[1] for line in listing.splitlines()[1:]}
    assert rows["kc-created"] == "Active"
    assert {"default", "kube-system", "kube-public"} <= rows.keys()


def test_apply_twice_creates_then_patches(kubesim: KubeSimProcess, tmp_path: Path) -> None:
    namespace = _new_namespace(kubesim)
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(DEPLOY_YAML.format(namespace=namespace, image="docker.io/fluxcd/flux:1.16.0"))
    first = kubesim.kubectl("apply", "-f", str(manifest))
    assert first.returncode == 0, first.stderr
    assert "deployment.apps/flux created" in first.stdout

    manifest.write_text(DEPLOY_YAML.format(namespace=namespace, image="docker.io/fluxcd/flux:1.17.0"))
    second = kubesim.kubectl("apply", "-f", str(manifest))
    assert second.returncode == 0, second.stderr
    assert "deployment.apps/flux configured" in second.stdout
    images = kubesim.kubectl("get", "deploy", "flux", "-n", namespace, "-o",
                             "jsonpath={.spec.template.spec.containers[*].image}", check=True).stdout
    assert images.split() == ["docker.io/fluxcd/flux:1.17.0", "memcached:1.5.15"]
    # The strategic merge patch merged the containers by name: env and ports survived.
    containers = json.loads(kubesim.kubectl("get", "deploy", "flux", "-n", namespace, "-o", "json",
                                            check=True).stdout)["spec"]["template"]["spec"]["containers"]
    assert containers[0]["env"] == [{"name": "KUBECONFIG", "value": "/root/.kubectl/config"}]
    assert containers[0]["ports"][0]["containerPort"] == 3030

    def ready_row() -> list[str] | None:
        output = kubesim.kubectl("get", "deploy", "-n", namespace, "-l", "name=flux", check=True).stdout
        assert _header(output) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        row = output.splitlines()[1].split()
        return row if row[1] == "1/1" else None

    row = eventually(ready_row)
    assert row[:4] == ["flux", "1/1", "1", "1"]
    unchanged = kubesim.kubectl("apply", "-f", str(manifest), check=True)
    assert "deployment.apps/flux unchanged" in unchanged.stdout


def test_rollout_status_and_pods_look_sane(kubesim: KubeSimProcess) -> None:
    namespace = _new_namespace(kubesim)
    kubesim.kubectl("create", "deployment", "web", "-n", namespace, "--image=nginx:1.25", "--replicas=2", check=True)
    kubesim.kubectl("rollout", "status", "deploy/web", "-n", namespace, "--timeout=20s", check=True)
    pods = kubesim.kubectl("get", "pods", "-n", namespace, check=True).stdout
    assert _header(pods) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = [line.split() for line in pods.splitlines()[1:]]
    assert len(rows) == 2
    assert all(row[0].startswith("web-") and row[1:4] == ["1/1", "Running", "0"] for row in rows)
    scaled = kubesim.kubectl("scale", "deploy/web", "-n", namespace, "--replicas=1")
    assert scaled.returncode == 0, scaled.stderr
    eventually(lambda: len(kubesim.kubectl("get", "pods", "-n", namespace, "-o", "name").stdout.split()) == 1)


def test_imperative_create_commands_send_protobuf(kubesim: KubeSimProcess) -> None:
    """`kubectl create <kind>` encodes protobuf; kubesim decodes it for every served built-in kind."""
    ns = _new_namespace(kubesim)
    for args in (["configmap", "settings", "--from-literal=a=1", "--from-literal=b="],
                 ["secret", "generic", "flux-git-deploy", "--from-literal=identity=PRIVATE KEY"],
                 ["serviceaccount", "flux"],
                 ["role", "flux", "--verb=get,list", "--resource=pods,configmaps"],
                 ["rolebinding", "flux", "--role=flux", f"--serviceaccount={ns}:flux"],
                 ["service", "clusterip", "memcached", "--tcp=11211:11211"],
                 ["deployment", "memcached", "--image=memcached:1.5.15", "--port=11211", "--replicas=0"]):
        result = kubesim.kubectl("create", *args, "-n", ns)
        assert result.returncode == 0, (args, result.stderr)
    result = kubesim.kubectl("create", "clusterrolebinding", f"{ns}-admin", "--clusterrole=cluster-admin",
                             f"--serviceaccount={ns}:flux")
    assert result.returncode == 0, result.stderr

    def get(*args: str) -> dict:
        return json.loads(kubesim.kubectl("get", *args, "-n", ns, "-o", "json", check=True).stdout)

    assert get("configmap", "settings")["data"] == {"a": "1", "b": ""}
    assert get("secret", "flux-git-deploy")["data"] == {"identity": "UFJJVkFURSBLRVk="}
    assert get("secret", "flux-git-deploy")["type"] == "Opaque"
    assert get("role", "flux")["rules"][0]["verbs"] == ["get", "list"]
    assert get("rolebinding", "flux")["subjects"] == [{"kind": "ServiceAccount", "name": "flux", "namespace": ns}]
    service = get("service", "memcached")
    assert service["spec"]["ports"][0]["port"] == 11211 and service["spec"]["clusterIP"].startswith("10.")
    memcached = get("deployment", "memcached")
    assert memcached["spec"]["replicas"] == 0
    container = memcached["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "memcached:1.5.15"
    assert container["ports"] == [{"containerPort": 11211, "protocol": "TCP"}]
    crb = json.loads(kubesim.kubectl("get", "clusterrolebinding", f"{ns}-admin", "-o", "json", check=True).stdout)
    assert crb["roleRef"]["name"] == "cluster-admin"


def test_tables_show_the_usual_columns(kubesim: KubeSimProcess) -> None:
    ns = _new_namespace(kubesim)
    kubesim.kubectl("create", "configmap", "c", "-n", ns, "--from-literal=x=1", check=True)
    kubesim.kubectl("create", "secret", "generic", "s", "-n", ns, "--from-literal=x=1", check=True)
    expected = {
        "configmaps": ["NAME", "DATA", "AGE"],
        "secrets": ["NAME", "TYPE", "DATA", "AGE"],
        "serviceaccounts": ["NAME", "SECRETS", "AGE"],
    }
    for kind, header in expected.items():
        output = kubesim.kubectl("get", kind, "-n", ns, check=True).stdout
        assert _header(output) == header, output
    configmaps = kubesim.kubectl("get", "cm", "-n", ns, check=True).stdout
    rows = {line.split()[0]: line.split()[1] for line in configmaps.splitlines()[1:]}
    assert rows == {"c": "1", "kube-root-ca.crt": "1"}
    services = kubesim.kubectl("get", "svc", "-n", "default", check=True).stdout
    assert _header(services) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert services.splitlines()[1].split()[:5] == ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"]


def test_strict_validation_rejects_unknown_fields(kubesim: KubeSimProcess, tmp_path: Path) -> None:
    ns = _new_namespace(kubesim)
    manifest = tmp_path / "typo.yaml"
    manifest.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\n  namespace: {ns}\n"
                        f"datta:\n  a: b\n")
    result = kubesim.kubectl("apply", "-f", str(manifest))
    assert result.returncode != 0
    assert 'unknown field "datta"' in result.stderr


def test_delete_namespace_terminates_then_disappears(kubesim: KubeSimProcess, tmp_path: Path) -> None:
    ns = _new_namespace(kubesim)
    manifest = tmp_path / "held.yaml"
    manifest.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: {ns}\n"
                        f"  finalizers: [example.com/hold]\ndata:\n  a: b\n")
    kubesim.kubectl("apply", "-f", str(manifest), check=True)
    kubesim.kubectl("delete", "ns", ns, "--wait=false", check=True)
    status = kubesim.kubectl("get", "ns", ns, check=True).stdout
    assert status.splitlines()[1].split()[:2] == [ns, "Terminating"]
    refused = kubesim.kubectl("create", "configmap", "late", "-n", ns)
    assert refused.returncode != 0
    assert "because it is being terminated" in refused.stderr
    kubesim.kubectl("patch", "configmap", "held", "-n", ns, "--type=merge", "-p", '{"metadata":{"finalizers":null}}',
                    check=True)
    kubesim.kubectl("wait", "--for=delete", f"namespace/{ns}", "--timeout=15s", check=True)
    gone = kubesim.kubectl("get", "ns", ns)
    assert gone.returncode != 0
    assert f'namespaces "{ns}" not found' in gone.stderr
    assert "(NotFound)" in gone.stderr


def test_delete_namespace_waits_until_gone(kubesim: KubeSimProcess) -> None:
    ns = _new_namespace(kubesim)
    kubesim.kubectl("create", "deployment", "web", "-n", ns, "--image=nginx:1.25", check=True)
    deleted = kubesim.kubectl("delete", "ns", ns, "--timeout=20s")
    assert deleted.returncode == 0, deleted.stderr
    gone = kubesim.kubectl("get", "ns", ns)
    assert "NotFound" in gone.stderr
