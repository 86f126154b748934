"""Local Flux v1 sync for clusters where no flux pod really runs (the embedded one): the agent does its job.

Every second the loop lists the cluster's flux Deployments (ours: label `name=flux` and the configuration
annotation), rebuilds each one's sync settings from what the service put on the cluster (the Deployment's
`--git-url` and flags, Secrets `flux-git-deploy` and `flux-git-auth`), and runs `sync_once` when its
`--git-poll-interval` is due. Outcomes go to the `RecordedSync` hook, which the reporter reads: Installed
is held back until a sync succeeded (so `lastConfigApplied` is the synced commit time), and a failed sync
turns the configuration Failed with the sync's message.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from kubernetes import client

from agent.assessing import belongs_to_cluster, configuration_id
from agent.hooks import RecordedSync
from agent.logs import log_event
from agent.reporting import StatusReporter
from agent.syncing import SyncSpec, secret_data_from_secret, sync_once

SECRET_NAMES = ("flux-git-deploy", "flux-git-auth")
USER_FLAG_PREFIXES = ("--git-", "--sync-garbage-collection", "--manifest-generation")
AUTH_PLACEHOLDER = "$(GIT_AUTHUSER):$(GIT_AUTHKEY)@"


def sync_settings(deployment: dict[str, Any]) -> tuple[str, str] | None:
    """(repository URL, the user's flux flags) from the flux container's args; None if it has no --git-url."""
    containers = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    args = next((c.get("args") or [] for c in containers if c.get("name") == "flux"), [])
    url = next((a.split("=", 1)[1] for a in args if a.startswith("--git-url=")), None)
    if not url:
        return None
    flags = [a for a in args if a.startswith(USER_FLAG_PREFIXES) and not a.startswith("--git-url=")]
    return url.replace(AUTH_PLACEHOLDER, ""), " ".join(flags)


class LocalSync:
    def __init__(self, *, api: client.ApiClient, cluster_id: str, reporter: StatusReporter, hook: RecordedSync,
                 work_dir: Path, tick: float = 1.0) -> None:
        self._api = api
        self._apps = client.AppsV1Api(api)
        self._core = client.CoreV1Api(api)
        self._cluster_id = cluster_id
        self._reporter = reporter
        self._hook = hook
        self._work_dir = work_dir
        self._tick = tick
        self._due: dict[str, float] = {}
        self._fingerprints: dict[str, str] = {}
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.wait(self._tick):
            try:
                self.sync_due()
            except Exception as error:  # noqa: BLE001 - the loop must outlive a bad tick
                log_event("sync.loop_error", level=logging.WARNING, error=f"{type(error).__name__}: {error}")

    def sync_due(self) -> None:
        deployments = self._apps.list_deployment_for_all_namespaces(label_selector="name=flux",
                                                                    _preload_content=False)
        for deployment in json.loads(deployments.data).get("items", []):
            config_id = configuration_id(deployment)
            settings = sync_settings(deployment)
            if config_id is None or settings is None or not belongs_to_cluster(config_id, self._cluster_id):
                continue
            namespace = deployment["metadata"]["namespace"]
            fingerprint = f"{settings}|{deployment['metadata'].get('generation')}"
            key = config_id.lower()
            if self._fingerprints.get(key) == fingerprint and time.monotonic() < self._due.get(key, 0.0):
                continue
            self._fingerprints[key] = fingerprint
            self.sync_configuration(config_id, namespace, *settings)

    def secret_data(self, namespace: str) -> dict[str, bytes]:
        data: dict[str, bytes] = {}
        for name in SECRET_NAMES:
            try:
                secret = self._core.read_namespaced_secret(name, namespace, _preload_content=False)
            except client.exceptions.ApiException as error:
                if error.status == 404:
                    continue
                raise
            data.update(secret_data_from_secret(json.loads(secret.data)))
        return data

    def sync_configuration(self, config_id: str, namespace: str, url: str, flags: str) -> None:
        spec = SyncSpec.from_configuration(url=url, operator_params=flags, secret_data=self.secret_data(namespace),
                                           default_namespace=namespace, configuration_id=config_id)
        work_dir = self._work_dir / base64.urlsafe_b64encode(config_id.lower().encode()).decode()[-60:]
        result = sync_once(spec, self._api, work_dir)
        self._due[config_id.lower()] = time.monotonic() + spec.poll_interval_seconds
        if result.ok:
            self._hook.record(config_id, datetime.fromisoformat(result.committed_at))
            log_event("sync.synced", configurationId=config_id, commit=result.commit, applied=len(result.applied),
                      deleted=len(result.deleted))
        else:
            self._hook.record_failure(config_id, result.message)
            log_event("sync.failed", level=logging.WARNING, configurationId=config_id, message=result.message)
        self._reporter.refresh(config_id)
