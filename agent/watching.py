"""Watch the flux Deployments of every configuration cluster-wide and feed their state to the reporter.

List, then watch from the list's resourceVersion; a watch that ends (timeout) resumes from the last
seen resourceVersion; 410 Gone re-lists (and forgets configurations whose Deployment went away while
we were not watching); any other error reconnects with exponential backoff.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from agent.assessing import FLUX_SELECTOR, assess, belongs_to_cluster, configuration_id
from agent.logs import log_event
from agent.reporting import StatusReporter


def api_from_kubeconfig(path: Path | str) -> client.AppsV1Api:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(path), client_configuration=configuration)
    return client.AppsV1Api(client.ApiClient(configuration))


class DeploymentWatcher:
    """Runs until `stop()`; call `run()` in a thread of its own."""

    def __init__(self, *, apps: client.AppsV1Api, cluster_id: str, reporter: StatusReporter,
                 watch_timeout: int = 30, max_backoff: float = 5.0) -> None:
        self._apps = apps
        self._cluster_id = cluster_id
        self._reporter = reporter
        self._watch_timeout = watch_timeout
        self._max_backoff = max_backoff
        self._stopping = threading.Event()
        self._relist_requested = threading.Event()
        self._watch: watch.Watch | None = None
        # (namespace, name) -> configuration id, so a DELETED or relabelled Deployment can be forgotten
        self._known: dict[tuple[str, str], str] = {}

    def stop(self) -> None:
        self._stopping.set()
        if self._watch is not None:
            self._watch.stop()

    def relist_soon(self) -> None:
        """List everything again at the next turn (an informer's resync): whatever a watch resume may have
        missed is seen then, at the latest when the current watch request ends."""
        self._relist_requested.set()
        if self._watch is not None:
            self._watch.stop()

    def run(self) -> None:
        backoff = 0.5
        resource_version: str | None = None
        while not self._stopping.is_set():
            try:
                if resource_version is None or self._relist_requested.is_set():
                    self._relist_requested.clear()
                    resource_version = self._relist()
                    backoff = 0.5
                resource_version = self._watch_from(resource_version)
            except ApiException as exc:
                if exc.status == 410:
                    log_event("watch.expired", resourceVersion=resource_version)
                    resource_version = None
                    continue
                backoff = self._back_off(exc, backoff)
            except Exception as exc:  # noqa: BLE001 - refused, reset, TLS, timeouts: reconnect
                # NB: resume from the last resourceVersion; a server that lost its history since
                # (a restart, a compaction) answers 410 and we re-list.
                backoff = self._back_off(exc, backoff)

    def _back_off(self, exc: Exception, backoff: float) -> float:
        log_event("watch.error", level=logging.WARNING, error=f"{type(exc).__name__}: {exc}"[:500],
                  retryIn=backoff)
        self._stopping.wait(backoff)
        return min(backoff * 2, self._max_backoff)

    def _relist(self) -> str:
        response = self._apps.list_deployment_for_all_namespaces(label_selector=FLUX_SELECTOR,
                                                                 _preload_content=False, _request_timeout=30)
        body = json.loads(response.data)
        seen: set[tuple[str, str]] = set()
        for item in body.get("items") or []:
            meta = item.get("metadata") or {}
            seen.add((meta.get("namespace", ""), meta.get("name", "")))
            self._handle("ADDED", item)
        for key in set(self._known) - seen:
            self._reporter.forget(self._known.pop(key), namespace=key[0], deployment=key[1])
        resource_version = body["metadata"]["resourceVersion"]
        log_event("watch.listed", deployments=len(seen), resourceVersion=resource_version)
        return resource_version

    def _watch_from(self, resource_version: str) -> str:
        self._watch = watch.Watch()
        try:
            for event in self._watch.stream(self._apps.list_deployment_for_all_namespaces,
                                            label_selector=FLUX_SELECTOR, resource_version=resource_version,
                                            allow_watch_bookmarks=True, timeout_seconds=self._watch_timeout,
                                            _request_timeout=self._watch_timeout + 15):
                raw = event.get("raw_object") or {}
                if event["type"] != "BOOKMARK":
                    self._handle(event["type"], raw)
                resource_version = (raw.get("metadata") or {}).get("resourceVersion") or resource_version
                if self._stopping.is_set():
                    break
        finally:
            self._watch = None
        return resource_version

    def _handle(self, kind: str, deployment: dict[str, Any]) -> None:
        meta = deployment.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        config_id = configuration_id(deployment)
        if config_id is None or not belongs_to_cluster(config_id, self._cluster_id):
            config_id = None
        previous = self._known.get(key)
        if previous is not None and (kind == "DELETED" or config_id is None or config_id != previous):
            del self._known[key]
            self._reporter.forget(previous, namespace=key[0], deployment=key[1])
        if kind == "DELETED" or config_id is None:
            return
        self._known[key] = config_id
        assessment = assess(deployment)
        log_event("deployment.seen", level=logging.DEBUG, configurationId=config_id, namespace=key[0],
                  deployment=key[1], type=kind,
                  state=assessment.compliance_state if assessment else "Pending")
        if assessment is not None:
            self._reporter.observe(configuration_id=config_id, assessment=assessment,
                                   observed_at=datetime.now(UTC), namespace=key[0], deployment=key[1])
