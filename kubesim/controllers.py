"""The controllers a cluster runs, reduced to what clients observe.

- Deployment -> ReplicaSet -> Pods, with the Deployment status (`observedGeneration`, replica
  counts, Available / Progressing conditions) computed from them, as kube-controller-manager does.
  An old ReplicaSet is scaled down only once the new one is available, so a bad rollout keeps the old pod.
- A kubelet stand-in: pods become Running and Ready `ready_delay` seconds after they start, unless
  an image fault matches, then they stay Pending with the fault's waiting reason (and a Warning event).
- Namespaces: a new one gets the `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap; a
  Terminating one has its contents deleted, then disappears.
- Garbage collection by ownerReferences (background, foreground and orphan deletion) and the CRD
  cleanup that deletes custom resources before their CRD.

Every handler runs from the event loop after the store reported a change, re-reads what it needs,
and writes only what differs, so handlers are idempotent and converge.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from kubesim import errors, timestamps
from kubesim.faults import Fault, Faults
from kubesim.resources import CRD_KEY, NAMESPACE_KEY, ResourceType
from kubesim.selectors import selector_object_matches
from kubesim.store import Event, Key
from kubesim.verbs import CRD_CLEANUP_FINALIZER, NAME_ALPHABET, Verbs, random_suffix

log = logging.getLogger("kubesim.controllers")

DEPLOYMENTS: Key = ("apps", "deployments")
REPLICASETS: Key = ("apps", "replicasets")
PODS: Key = ("", "pods")
NODE_NAME = "kubesim-node"
HOST_IP = "10.0.0.10"
REVISION = "deployment.kubernetes.io/revision"


def template_hash(template: dict[str, Any]) -> str:
    """A stable 10-character pod-template-hash from the alphabet Kubernetes uses for generated names."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(NAME_ALPHABET[b % len(NAME_ALPHABET)] for b in digest[:10])


def _owned_by(obj: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid and ref.get("controller") for ref in obj["metadata"].get("ownerReferences") or [])


def _owner_ref(owner: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _keep_times(new: list[dict[str, Any]], old: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Conditions keep their timestamps while status, reason and message stay the same."""
    previous = {c.get("type"): c for c in old or []}
    for condition in new:
        before = previous.get(condition["type"])
        if not before:
            continue
        if before.get("status") == condition["status"]:
            condition["lastTransitionTime"] = before.get("lastTransitionTime", condition.get("lastTransitionTime"))
            if before.get("reason") == condition.get("reason") and before.get("message") == condition.get("message"):
                for stamp in ("lastUpdateTime", "lastProbeTime"):
                    if stamp in before:
                        condition[stamp] = before[stamp]
    return new


def _max_unavailable(spec: dict[str, Any]) -> int:
    replicas = int(spec.get("replicas") or 0)
    value = ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return replicas * int(value[:-1] or 0) // 100
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class Controllers:
    def __init__(self, verbs: Verbs, *, faults: Faults, ready_delay: float, ca_pem: bytes) -> None:
        self.verbs = verbs
        self.store = verbs.store
        self.registry = verbs.registry
        self.faults = faults
        self.ready_delay = ready_delay
        self.ca_pem = ca_pem
        self._pending: set[tuple[str, ...]] = set()
        self._ready_at: dict[str, float] = {}  # pod uid -> when the kubelet stand-in may start it
        self._warned: set[tuple[str, str]] = set()  # (pod uid, reason) already reported by an event
        self._handlers: dict[str, Callable[..., None]] = {
            "deployment": self.reconcile_deployment, "replicaset": self.reconcile_replicaset,
            "pod": self.reconcile_pod, "namespace-init": self.init_namespace,
            "namespace-finalize": self.finalize_namespace, "gc": self.collect_dependents,
            "foreground": self.finish_foreground, "crd-cleanup": self.cleanup_crd,
        }
        self.store.add_listener(self._on_event)

    def _rt(self, key: Key) -> ResourceType:
        rt = self.registry.for_key(key)
        assert rt is not None, key
        return rt

    # --- scheduling ----------------------------------------------------------------------------
    def schedule(self, *task: str, delay: float = 0.0) -> None:
        if task in self._pending:
            return
        self._pending.add(task)
        asyncio.get_running_loop().call_later(max(0.0, delay), self._run, task)

    def _run(self, task: tuple[str, ...]) -> None:
        self._pending.discard(task)
        try:
            self._handlers[task[0]](*task[1:])
        except errors.StatusError as exc:
            if exc.code == 409:  # raced with a client: try again on fresh state
                self.schedule(*task, delay=0.05)
            elif exc.code != 404:
                log.warning("controller task=%s failed: %s", task, exc.message)
        except Exception:
            log.exception("controller task=%s crashed", task)

    def _on_event(self, event: Event) -> None:
        meta = event.obj["metadata"]
        namespace, name = event.namespace, meta["name"]
        if event.key == DEPLOYMENTS and event.type != "DELETED":
            self.schedule("deployment", namespace, name)
        elif event.key == REPLICASETS:
            if event.type != "DELETED":
                self.schedule("replicaset", namespace, name)
            self._schedule_owner(event, "deployment")
        elif event.key == PODS:
            if event.type != "DELETED":
                self.schedule("pod", namespace, name)
            else:
                self._ready_at.pop(meta.get("uid", ""), None)
            self._schedule_owner(event, "replicaset")
            # A pod's waiting reason (a fault) changes the Deployment's conditions, not the ReplicaSet's counts.
            for ref in meta.get("ownerReferences") or []:
                rs = self.store.get(REPLICASETS, namespace, ref.get("name", "")) if ref.get("controller") else None
                for owner in (rs or {}).get("metadata", {}).get("ownerReferences") or []:
                    if owner.get("controller") and owner.get("kind") == "Deployment":
                        self.schedule("deployment", namespace, owner.get("name", ""))
        elif event.key == NAMESPACE_KEY:
            if event.type == "ADDED":
                self.schedule("namespace-init", name)
            if event.type != "DELETED" and meta.get("deletionTimestamp"):
                self.schedule("namespace-finalize", name)
        elif event.key == CRD_KEY and event.type != "DELETED" and meta.get("deletionTimestamp"):
            self.schedule("crd-cleanup", name)
        if namespace and event.type in ("DELETED", "MODIFIED"):
            ns = self.store.get(NAMESPACE_KEY, "", namespace)
            if ns is not None and ns["metadata"].get("deletionTimestamp"):
                self.schedule("namespace-finalize", namespace)
        if event.type == "DELETED":
            self.schedule("gc", meta.get("uid", ""))
            for ref in meta.get("ownerReferences") or []:
                self.schedule("foreground", ref.get("uid", ""))
            rt = self.registry.for_key(event.key)
            if rt is not None and not rt.builtin:
                self.schedule("crd-cleanup", f"{rt.plural}.{rt.group}")
        elif "foregroundDeletion" in (meta.get("finalizers") or []) and meta.get("deletionTimestamp"):
            self.schedule("foreground", meta.get("uid", ""))

    def _schedule_owner(self, event: Event, task: str) -> None:
        for ref in event.obj["metadata"].get("ownerReferences") or []:
            if ref.get("controller"):
                self.schedule(task, event.namespace, ref.get("name", ""))

    def resync(self) -> None:
        """After a restart from a state file: look at everything once."""
        for obj in self.store.list(DEPLOYMENTS):
            self.schedule("deployment", obj["metadata"]["namespace"], obj["metadata"]["name"])
        for obj in self.store.list(REPLICASETS):
            self.schedule("replicaset", obj["metadata"]["namespace"], obj["metadata"]["name"])
        for obj in self.store.list(PODS):
            self.schedule("pod", obj["metadata"]["namespace"], obj["metadata"]["name"])
        for obj in self.store.list(NAMESPACE_KEY):
            if obj["metadata"].get("deletionTimestamp"):
                self.schedule("namespace-finalize", obj["metadata"]["name"])
        for obj in self.store.list(CRD_KEY):
            if obj["metadata"].get("deletionTimestamp"):
                self.schedule("crd-cleanup", obj["metadata"]["name"])

    def faults_changed(self) -> None:
        """Re-evaluate every pod (and so every Deployment) against the new faults."""
        self._warned.clear()
        for obj in self.store.list(PODS):
            self.schedule("pod", obj["metadata"]["namespace"], obj["metadata"]["name"])

    # --- deployments ---------------------------------------------------------------------------
    def reconcile_deployment(self, namespace: str, name: str) -> None:
        rt_dep, rt_rs = self._rt(DEPLOYMENTS), self._rt(REPLICASETS)
        deployment = self.store.get(DEPLOYMENTS, namespace, name)
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            return
        deployment.update(apiVersion="apps/v1", kind="Deployment")
        spec = deployment.get("spec") or {}
        replicas = int(spec.get("replicas") or 0)
        uid = deployment["metadata"]["uid"]
        template = spec.get("template") or {}
        digest = template_hash(template)
        owned = [rs for rs in self.store.list(REPLICASETS, namespace) if _owned_by(rs, uid)]
        new_rs = next((rs for rs in owned if (rs["metadata"].get("labels") or {}).get("pod-template-hash") == digest),
                      None)
        revision = 1 + max((int((rs["metadata"].get("annotations") or {}).get(REVISION, "0") or 0) for rs in owned),
                           default=0)
        if new_rs is None:
            new_rs = self._create_replicaset(deployment, digest, revision, replicas)
        else:
            if (new_rs.get("spec") or {}).get("replicas") != replicas:
                new_rs["spec"]["replicas"] = replicas
                new_rs = self.verbs.update(rt_rs, namespace, new_rs["metadata"]["name"], new_rs)[0]
        new_available = int((new_rs.get("status") or {}).get("availableReplicas") or 0)
        for rs in owned:
            if rs["metadata"]["name"] == new_rs["metadata"]["name"]:
                continue
            if new_available >= replicas and (rs.get("spec") or {}).get("replicas"):
                rs["spec"]["replicas"] = 0
                self.verbs.update(rt_rs, namespace, rs["metadata"]["name"], rs)
        status = self._deployment_status(deployment, new_rs["metadata"]["name"], namespace)
        if status != deployment.get("status"):
            self.verbs.update(rt_dep, namespace, name, {**deployment, "status": status}, subresource="status")

    def _create_replicaset(self, deployment: dict[str, Any], digest: str, revision: int,
                           replicas: int) -> dict[str, Any]:
        spec = deployment.get("spec") or {}
        template = json.loads(json.dumps(spec.get("template") or {}))
        template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = digest
        selector = json.loads(json.dumps(spec.get("selector") or {}))
        selector.setdefault("matchLabels", {})["pod-template-hash"] = digest
        meta = deployment["metadata"]
        body = {
            "metadata": {"name": f"{meta['name']}-{digest}", "namespace": meta["namespace"],
                         "labels": dict(template["metadata"]["labels"]),
                         "annotations": {REVISION: str(revision),
                                         "deployment.kubernetes.io/desired-replicas": str(replicas),
                                         "deployment.kubernetes.io/max-replicas": str(replicas + 1)},
                         "ownerReferences": [_owner_ref(deployment)]},
            "spec": {"replicas": replicas, "selector": selector, "template": template,
                     "minReadySeconds": spec.get("minReadySeconds", 0)},
        }
        try:
            return self.verbs.create(self._rt(REPLICASETS), meta["namespace"], body)[0]
        except errors.StatusError as exc:
            if exc.code != 409:
                raise
            return self.verbs.get(self._rt(REPLICASETS), meta["namespace"], body["metadata"]["name"])

    def _pod_fault(self, namespace: str, rs_uid: str) -> tuple[Fault, str] | None:
        """The fault a pod of this ReplicaSet is stuck on, once the kubelet stand-in has reported it."""
        for pod in self.store.list(PODS, namespace):
            if not _owned_by(pod, rs_uid):
                continue
            for container in (pod.get("status") or {}).get("containerStatuses") or []:
                fault = self.faults.find(container.get("image", ""))
                waiting = (container.get("state") or {}).get("waiting") or {}
                if fault and waiting.get("reason") == fault.reason:
                    return fault, container.get("image", "")
        return None

    def _deployment_status(self, deployment: dict[str, Any], new_rs_name: str, namespace: str) -> dict[str, Any]:
        spec, old_status = deployment.get("spec") or {}, deployment.get("status") or {}
        uid = deployment["metadata"]["uid"]
        replica_sets = [rs for rs in self.store.list(REPLICASETS, namespace) if _owned_by(rs, uid)]
        new_rs = next(rs for rs in replica_sets if rs["metadata"]["name"] == new_rs_name)

        def total(field: str, sets: list[dict[str, Any]]) -> int:
            return sum(int((rs.get("status") or {}).get(field) or 0) for rs in sets)

        desired = int(spec.get("replicas") or 0)
        replicas, updated = total("replicas", replica_sets), total("replicas", [new_rs])
        ready, available = total("readyReplicas", replica_sets), total("availableReplicas", replica_sets)
        new_available = total("availableReplicas", [new_rs])
        now = timestamps.now()
        fault = self._pod_fault(namespace, new_rs["metadata"]["uid"])
        if available >= desired - _max_unavailable(spec):
            available_condition = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            available_condition = ("False", "MinimumReplicasUnavailable",
                                   "Deployment does not have minimum availability.")
        if fault is not None:
            progressing = ("False", "ProgressDeadlineExceeded", f'ReplicaSet "{new_rs_name}" has timed out progressing.')
        elif new_available >= desired and updated == desired and replicas == desired:
            progressing = ("True", "NewReplicaSetAvailable", f'ReplicaSet "{new_rs_name}" has successfully progressed.')
        else:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{new_rs_name}" is progressing.')
        conditions = [
            {"type": "Available", "status": available_condition[0], "lastUpdateTime": now, "lastTransitionTime": now,
             "reason": available_condition[1], "message": available_condition[2]},
            {"type": "Progressing", "status": progressing[0], "lastUpdateTime": now, "lastTransitionTime": now,
             "reason": progressing[1], "message": progressing[2]},
        ]
        if fault is not None:
            rule, image = fault
            conditions.append({"type": "ReplicaFailure", "status": "True", "lastUpdateTime": now,
                               "lastTransitionTime": now, "reason": rule.reason, "message": rule.message_for(image)})
        status: dict[str, Any] = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": replicas, "updatedReplicas": updated, "readyReplicas": ready,
            "availableReplicas": available,
        }
        if desired - available > 0:
            status["unavailableReplicas"] = desired - available
        status["conditions"] = _keep_times(conditions, old_status.get("conditions"))
        return status

    # --- replica sets --------------------------------------------------------------------------
    def reconcile_replicaset(self, namespace: str, name: str) -> None:
        rt_rs, rt_pod = self._rt(REPLICASETS), self._rt(PODS)
        rs = self.store.get(REPLICASETS, namespace, name)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        rs.update(apiVersion="apps/v1", kind="ReplicaSet")
        spec = rs.get("spec") or {}
        uid = rs["metadata"]["uid"]
        pods = [p for p in self.store.list(PODS, namespace)
                if _owned_by(p, uid) and not p["metadata"].get("deletionTimestamp")]
        wanted = int(spec.get("replicas") or 0)
        template = spec.get("template") or {}
        for _ in range(wanted - len(pods)):
            labels = dict((template.get("metadata") or {}).get("labels") or {})
            body = {"metadata": {"name": f"{name}-{random_suffix()}", "namespace": namespace, "labels": labels,
                                 "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
                                 "ownerReferences": [_owner_ref(rs)]},
                    "spec": json.loads(json.dumps(template.get("spec") or {}))}
            pods.append(self.verbs.create(rt_pod, namespace, body)[0])
        if len(pods) > wanted:
            pods.sort(key=lambda p: p["metadata"].get("creationTimestamp", ""))
            for pod in pods[wanted:]:
                self.verbs.delete(rt_pod, namespace, pod["metadata"]["name"])
            pods = pods[:wanted]

        def ready(pod: dict[str, Any]) -> bool:
            return any(c.get("type") == "Ready" and c.get("status") == "True"
                       for c in (pod.get("status") or {}).get("conditions") or [])

        matching = [p for p in pods if selector_object_matches(spec.get("selector"), p["metadata"].get("labels"))]
        ready_count = sum(1 for p in pods if ready(p))
        status = {"replicas": len(pods), "fullyLabeledReplicas": len(matching), "readyReplicas": ready_count,
                  "availableReplicas": ready_count, "observedGeneration": rs["metadata"].get("generation", 1)}
        if status != rs.get("status"):
            self.verbs.update(rt_rs, namespace, name, {**rs, "status": status}, subresource="status")

    # --- the kubelet stand-in ------------------------------------------------------------------
    def reconcile_pod(self, namespace: str, name: str) -> None:
        rt = self._rt(PODS)
        pod = self.store.get(PODS, namespace, name)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return
        pod.update(apiVersion="v1", kind="Pod")
        uid = pod["metadata"]["uid"]
        spec = pod.get("spec") or {}
        if not spec.get("nodeName"):
            pod["spec"]["nodeName"] = NODE_NAME
            pod = self.verbs.update(rt, namespace, name, pod)[0]
            spec = pod["spec"]
        now = timestamps.now()
        status = dict(pod.get("status") or {})
        if uid not in self._ready_at:
            # NB: a pod that started before a restart keeps its age, so it does not flap back to not-ready.
            started = timestamps.parse(status.get("startTime"))
            elapsed = (dt.datetime.now(dt.UTC) - started).total_seconds() if started else 0.0
            self._ready_at[uid] = time.monotonic() + max(0.0, self.ready_delay - elapsed)
        ready_in = self._ready_at[uid] - time.monotonic()
        if ready_in > 0:
            self.schedule("pod", namespace, name, delay=ready_in)
        previous = {c.get("name"): c for c in status.get("containerStatuses") or []}
        statuses, faults = [], []
        for container in spec.get("containers") or []:
            image = container.get("image", "")
            rule = self.faults.find(image)
            if ready_in > 0:
                state: dict[str, Any] = {"waiting": {"reason": "ContainerCreating"}}
            elif rule is not None:
                state = {"waiting": {"reason": rule.reason, "message": rule.message_for(image)}}
                faults.append((rule, image))
            else:
                before = ((previous.get(container.get("name")) or {}).get("state") or {}).get("running") or {}
                state = {"running": {"startedAt": before.get("startedAt") or now}}
            running = "running" in state
            statuses.append({"name": container.get("name"), "image": image,
                             "imageID": f"{image}@sha256:{hashlib.sha256(image.encode()).hexdigest()}" if running else "",
                             "ready": running, "started": running, "restartCount": 0, "state": state})
        all_ready = bool(statuses) and all(s["ready"] for s in statuses)
        ready_text = "True" if all_ready else "False"
        start = status.get("startTime") or now
        conditions = [
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": start},
            {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": start},
            {"type": "ContainersReady", "status": ready_text, "lastProbeTime": None, "lastTransitionTime": now},
            {"type": "Ready", "status": ready_text, "lastProbeTime": None, "lastTransitionTime": now},
        ]
        if not all_ready:
            unready = " ".join(s["name"] for s in statuses if not s["ready"])
            for condition in conditions[2:]:
                condition.update(reason="ContainersNotReady", message=f"containers with unready status: [{unready}]")
        new_status: dict[str, Any] = {
            "phase": "Running" if all_ready else "Pending",
            "conditions": _keep_times(conditions, status.get("conditions")),
            "hostIP": HOST_IP, "hostIPs": [{"ip": HOST_IP}], "startTime": start,
            "containerStatuses": statuses, "qosClass": status.get("qosClass", "BestEffort")}
        if ready_in <= 0:
            ip = status.get("podIP") or self._pod_ip(uid)
            new_status.update(podIP=ip, podIPs=[{"ip": ip}])
        if new_status != pod.get("status"):
            self.verbs.update(rt, namespace, name, {**pod, "status": new_status}, subresource="status")
        for rule, image in faults:
            if (uid, rule.reason) not in self._warned:
                self._warned.add((uid, rule.reason))
                self._event(pod, reason="Failed", message=rule.message_for(image))

    @staticmethod
    def _pod_ip(uid: str) -> str:
        number = int(hashlib.sha256(uid.encode()).hexdigest()[:6], 16)
        return f"10.244.{number % 250}.{number // 250 % 250 + 2}"

    def _event(self, pod: dict[str, Any], *, reason: str, message: str) -> None:
        meta = pod["metadata"]
        now = timestamps.now()
        body = {"metadata": {"name": f"{meta['name']}.{time.time_ns():x}", "namespace": meta["namespace"]},
                "involvedObject": {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"],
                                   "uid": meta["uid"], "apiVersion": "v1", "resourceVersion": meta["resourceVersion"]},
                "reason": reason, "message": message, "source": {"component": "kubelet", "host": NODE_NAME},
                "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": "Warning",
                "reportingComponent": "kubelet", "reportingInstance": NODE_NAME}
        try:
            self.verbs.create(self._rt(("", "events")), meta["namespace"], body)
        except errors.StatusError as exc:
            log.info("event for pod=%s/%s not recorded: %s", meta["namespace"], meta["name"], exc.message)

    # --- namespaces ----------------------------------------------------------------------------
    def init_namespace(self, name: str) -> None:
        ns = self.store.get(NAMESPACE_KEY, "", name)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return
        defaults = [(("", "serviceaccounts"), {"metadata": {"name": "default"}}),
                    (("", "configmaps"), {"metadata": {"name": "kube-root-ca.crt", "annotations": {
                        "kubernetes.io/description": "Contains a CA bundle that can be used to verify the "
                                                     "kube-apiserver when using internal endpoints such as the "
                                                     "internal service IP or kubernetes.default.svc. No other "
                                                     "usage is guaranteed across distributions of Kubernetes "
                                                     "clusters."}},
                                          "data": {"ca.crt": self.ca_pem.decode()}})]
        for key, body in defaults:
            if not self.store.exists(key, name, body["metadata"]["name"]):
                try:
                    self.verbs.create(self._rt(key), name, body)
                except errors.StatusError as exc:
                    if exc.code not in (403, 409):
                        raise

    def finalize_namespace(self, name: str) -> None:
        """Delete what the namespace holds; once empty, drop the `kubernetes` finalizer so it goes."""
        ns = self.store.get(NAMESPACE_KEY, "", name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        keys = set(self.registry.namespaced_keys())
        waiting: dict[str, int] = {}
        for key in keys:
            rt = self._rt(key)
            for obj in self.store.list(key, name):
                meta = obj["metadata"]
                if not meta.get("deletionTimestamp"):
                    try:
                        self.verbs.delete(rt, name, meta["name"], options={"propagationPolicy": "Background"})
                    except errors.StatusError as exc:
                        if exc.code != 404:
                            raise
                for finalizer in (self.store.get(key, name, meta["name"]) or {}).get("metadata", {}).get(
                        "finalizers") or []:
                    waiting[finalizer] = waiting.get(finalizer, 0) + 1
        rt_ns = self._rt(NAMESPACE_KEY)
        ns = self.store.get(NAMESPACE_KEY, "", name)
        if ns is None:
            return
        ns.update(apiVersion="v1", kind="Namespace")
        remaining = self.store.count_in_namespace(name, keys)
        if remaining == 0:
            finalizers = [f for f in (ns.get("spec") or {}).get("finalizers") or [] if f != "kubernetes"]
            self.verbs.update(rt_ns, "", name, {**ns, "spec": {**(ns.get("spec") or {}), "finalizers": finalizers}},
                              subresource="finalize")
            return
        now = timestamps.now()
        conditions = [{"type": "NamespaceContentRemaining", "status": "True", "lastTransitionTime": now,
                       "reason": "SomeResourcesRemain",
                       "message": f"Some resources are remaining: {remaining} objects"}]
        if waiting:
            conditions.append({"type": "NamespaceFinalizersRemaining", "status": "True", "lastTransitionTime": now,
                               "reason": "SomeFinalizersRemain",
                               "message": "Some content in the namespace has finalizers remaining: " + ", ".join(
                                   f"{f} in {n} resource instances" for f, n in sorted(waiting.items()))})
        status = {**(ns.get("status") or {}), "phase": "Terminating"}
        status["conditions"] = _keep_times(conditions, status.get("conditions"))
        if status != ns.get("status"):
            self.verbs.update(rt_ns, "", name, {**ns, "status": status}, subresource="status")

    # --- garbage collection --------------------------------------------------------------------
    def _find_uid(self, uid: str) -> tuple[Key, dict[str, Any]] | None:
        return next(((key, obj) for key, obj in self.store.iter_all() if obj["metadata"].get("uid") == uid), None)

    def _dependents(self, uid: str) -> list[tuple[Key, dict[str, Any]]]:
        return [(key, obj) for key, obj in self.store.iter_all()
                if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])]

    def collect_dependents(self, owner_uid: str) -> None:
        """Background deletion: dependents whose owners are all gone are deleted."""
        for key, obj in self._dependents(owner_uid):
            meta = obj["metadata"]
            others = [ref.get("uid") for ref in meta.get("ownerReferences") or [] if ref.get("uid") != owner_uid]
            if any(self._find_uid(uid) is not None for uid in others) or meta.get("deletionTimestamp"):
                continue
            rt = self.registry.for_key(key)
            if rt is None:
                continue
            try:
                self.verbs.delete(rt, meta.get("namespace", ""), meta["name"],
                                  options={"propagationPolicy": "Background"})
            except errors.StatusError as exc:
                if exc.code != 404:
                    raise

    def finish_foreground(self, owner_uid: str) -> None:
        """Foreground deletion: delete the dependents, then let the owner go."""
        found = self._find_uid(owner_uid)
        if found is None:
            return
        key, owner = found
        meta = owner["metadata"]
        if not meta.get("deletionTimestamp") or "foregroundDeletion" not in (meta.get("finalizers") or []):
            return
        dependents = self._dependents(owner_uid)
        for dep_key, dep in dependents:
            rt = self.registry.for_key(dep_key)
            if rt is not None and not dep["metadata"].get("deletionTimestamp"):
                self.verbs.delete(rt, dep["metadata"].get("namespace", ""), dep["metadata"]["name"],
                                  options={"propagationPolicy": "Foreground"})
        if not self._dependents(owner_uid):
            rt = self._rt(key)
            updated = json.loads(json.dumps(owner))
            updated["metadata"]["finalizers"] = [f for f in meta["finalizers"] if f != "foregroundDeletion"]
            self.verbs.update(rt, meta.get("namespace", ""), meta["name"], present_for(rt, updated))

    def cleanup_crd(self, name: str) -> None:
        crd = self.store.get(CRD_KEY, "", name)
        if crd is None or not crd["metadata"].get("deletionTimestamp"):
            return
        spec = crd.get("spec") or {}
        key = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
        rt = self.registry.for_key(key)
        if rt is not None:
            for obj in self.store.list(key):
                if not obj["metadata"].get("deletionTimestamp"):
                    self.verbs.delete(rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if not self.store.list(key):
            crd["metadata"]["finalizers"] = [f for f in crd["metadata"].get("finalizers") or []
                                             if f != CRD_CLEANUP_FINALIZER]
            rt_crd = self._rt(CRD_KEY)
            self.verbs.update(rt_crd, "", name, present_for(rt_crd, crd))


def present_for(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    return {**obj, "apiVersion": rt.api_version, "kind": rt.kind}
