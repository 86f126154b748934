"""The Deployment controller's status, and image faults an agent must be able to tell apart."""

from __future__ import annotations

from kubernetes import client

from tests.fixtures.kubesim_process import KubeSimProcess
from tests.kubesim.helpers import condition, deployment, eventually


def _available(apps: client.AppsV1Api, namespace: str, name: str) -> client.V1Deployment | None:
    current = apps.read_namespaced_deployment(name, namespace)
    available = condition(current, "Available")
    return current if available is not None and available.status == "True" else None


def test_deployment_becomes_available(apps: client.AppsV1Api, core: client.CoreV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("flux", replicas=2))
    ready = eventually(lambda: (d := _available(apps, namespace, "flux")) and d.status.ready_replicas == 2 and d)
    status = ready.status
    assert status.observed_generation == ready.metadata.generation == 1
    assert (status.replicas, status.updated_replicas, status.available_replicas) == (2, 2, 2)
    progressing = condition(ready, "Progressing")
    assert (progressing.status, progressing.reason) == ("True", "NewReplicaSetAvailable")
    pods = core.list_namespaced_pod(namespace, label_selector="name=flux").items
    assert len(pods) == 2 and {p.status.phase for p in pods} == {"Running"}
    assert all(p.metadata.owner_references[0].kind == "ReplicaSet" for p in pods)

    apps.patch_namespaced_deployment("flux", namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "flux", "image": "docker.io/fluxcd/flux:1.17.0"}]}}}})
    rolled = eventually(lambda: (d := _available(apps, namespace, "flux")) and d.status.observed_generation == 2
                        and d.status.updated_replicas == 2 and d.status.replicas == 2 and d)
    assert rolled.metadata.generation == 2
    images = {p.spec.containers[0].image for p in core.list_namespaced_pod(namespace).items}
    assert images == {"docker.io/fluxcd/flux:1.17.0"}


def test_image_fault_fails_the_deployment(kubesim: KubeSimProcess, apps: client.AppsV1Api, core: client.CoreV1Api,
                                          namespace: str) -> None:
    image = f"registry.example/{namespace}/flux:broken"
    kubesim.set_fault(f"registry.example/{namespace}/*", reason="ImagePullBackOff")
    try:
        apps.create_namespaced_deployment(namespace, deployment("flux", image=image))

        def failed() -> client.V1Deployment | None:
            current = apps.read_namespaced_deployment("flux", namespace)
            progressing = condition(current, "Progressing")
            return current if progressing is not None and progressing.status == "False" else None

        current = eventually(failed)
        assert current.status.ready_replicas == 0
        assert (condition(current, "Available").status, condition(current, "Available").reason) == (
            "False", "MinimumReplicasUnavailable")
        assert condition(current, "Progressing").reason == "ProgressDeadlineExceeded"
        failure = condition(current, "ReplicaFailure")
        assert (failure.status, failure.reason) == ("True", "ImagePullBackOff")
        assert image in failure.message
        pod = core.list_namespaced_pod(namespace).items[0]
        waiting = pod.status.container_statuses[0].state.waiting
        assert pod.status.phase == "Pending" and waiting.reason == "ImagePullBackOff" and image in waiting.message
        events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={pod.metadata.name}")
        assert [e.type for e in events.items] == ["Warning"]
        table = kubesim.kubectl("get", "pods", "-n", namespace, check=True).stdout
        assert table.splitlines()[1].split()[1:3] == ["0/1", "ImagePullBackOff"]
    finally:
        kubesim.clear_faults()
    recovered = eventually(lambda: _available(apps, namespace, "flux"))
    assert condition(recovered, "ReplicaFailure") is None
    assert recovered.status.ready_replicas == 1


def test_bad_rollout_keeps_the_old_pod(kubesim: KubeSimProcess, apps: client.AppsV1Api, namespace: str) -> None:
    apps.create_namespaced_deployment(namespace, deployment("flux"))
    eventually(lambda: _available(apps, namespace, "flux"))
    kubesim.set_fault("*:never-pulls", reason="ErrImagePull", message="manifest for {image} not found")
    try:
        apps.patch_namespaced_deployment("flux", namespace, {"spec": {"template": {"spec": {"containers": [
            {"name": "flux", "image": "docker.io/fluxcd/flux:never-pulls"}]}}}})

        def stuck() -> client.V1Deployment | None:
            current = apps.read_namespaced_deployment("flux", namespace)
            return current if condition(current, "ReplicaFailure") is not None else None

        current = eventually(stuck)
        assert condition(current, "ReplicaFailure").reason == "ErrImagePull"
        assert condition(current, "ReplicaFailure").message == "manifest for docker.io/fluxcd/flux:never-pulls not found"
        assert condition(current, "Available").status == "True"  # the old ReplicaSet still serves
        assert current.status.ready_replicas == 1 and current.status.updated_replicas == 1
    finally:
        kubesim.clear_faults()
