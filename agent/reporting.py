"""Status events to the service: dedupe per configuration, rate limit, and the queue message.

`StatusReporter.observe()` is called for every assessment; it sends only when a configuration's
(complianceState, message) differs from what was last sent, and at most once per `min_interval`
per configuration (a flapping Deployment: the last state wins when the interval is over).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agent.assessing import FAILED, INSTALLED, Assessment
from agent.hooks import NoSync, SyncHook
from agent.logs import log_event

DEFAULT_QUEUE = "configuration-status"
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def expand_connection_string(connection_string: str) -> str:
    """NB: the Azure SDKs do not understand `UseDevelopmentStorage=true`; spell out Azurite's defaults."""
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    if parts.get("UseDevelopmentStorage", "").lower() != "true":
        return connection_string
    proxy = parts.get("DevelopmentStorageProxyUri", "http://127.0.0.1").rstrip("/")
    return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={proxy}:10000/{AZURITE_ACCOUNT};QueueEndpoint={proxy}:10001/{AZURITE_ACCOUNT};"
            f"TableEndpoint={proxy}:10002/{AZURITE_ACCOUNT};")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def status_message(*, configuration_id: str, assessment: Assessment, observed_at: datetime,
                   last_config_applied: datetime | None) -> dict[str, Any]:
    """The SPEC section 5 message body (before base64)."""
    return {
        "configurationId": configuration_id,
        "complianceState": assessment.compliance_state,
        "message": assessment.message,
        "messageLevel": "Error" if assessment.compliance_state == FAILED else "Information",
        "lastConfigApplied": iso(last_config_applied or observed_at),
        "observedAt": iso(observed_at),
        "operatorMessage": None,
        "clusterState": None,
    }


class QueueSender:
    """Sends JSON bodies to a storage queue, base64-encoded as the Functions queue trigger expects."""

    def __init__(self, *, connection_string: str, queue_name: str) -> None:
        from azure.core.exceptions import HttpResponseError, ResourceExistsError
        from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

        self.queue_name = queue_name
        self._client = QueueClient.from_connection_string(
            expand_connection_string(connection_string), queue_name,
            message_encode_policy=TextBase64EncodePolicy(), message_decode_policy=TextBase64DecodePolicy(),
            retry_total=2, initial_backoff=0.5, increment_base=2)  # NB: the reporter retries itself
        self._exists_error = ResourceExistsError
        self._refused_error = HttpResponseError
        self._created = False
        try:
            self._ensure_queue()
        except Exception as exc:  # noqa: BLE001 - storage down at start: retried on the first send
            log_event("queue.unavailable", level=logging.WARNING, queue=queue_name,
                      error=f"{type(exc).__name__}: {exc}"[:500])

    def _ensure_queue(self) -> None:
        if self._created:
            return
        try:
            self._client.create_queue()
        except self._exists_error:
            pass
        except self._refused_error as exc:
            # NB: a credential that may only add messages (an add-only SAS) cannot create the queue; the
            # service creates it, so send anyway.
            if exc.status_code not in (401, 403):
                raise
        self._created = True

    def __call__(self, body: dict[str, Any]) -> None:
        self._ensure_queue()
        self._client.send_message(json.dumps(body))

    def close(self) -> None:
        self._client.close()


@dataclass
class _Track:
    sent: Assessment | None = None
    sent_at: float = float("-inf")
    pending: Assessment | None = None
    pending_observed_at: datetime | None = None
    name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    observed: Assessment | None = None  # what the Deployment says, before the sync hook's verdict


class StatusReporter:
    """Per-configuration dedupe and rate limiting in front of a `send(body)` callable. Thread-safe."""

    def __init__(self, *, send: Callable[[dict[str, Any]], None], sync_hook: SyncHook | None = None,
                 min_interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._send = send
        self._sync = sync_hook or NoSync()
        self._min_interval = min_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._tracks: dict[str, _Track] = {}

    def observe(self, *, configuration_id: str, assessment: Assessment, observed_at: datetime | None = None,
                **log_fields: Any) -> None:
        observed_at = observed_at or datetime.now(UTC)
        with self._lock:
            track = self._tracks.setdefault(configuration_id.lower(), _Track())
            track.name = configuration_id
            track.extra = log_fields
            track.observed = assessment
            self._queue(track, observed_at)

    def refresh(self, configuration_id: str) -> None:
        """Re-judge a configuration after the sync hook learnt something (a sync succeeded or failed)."""
        with self._lock:
            track = self._tracks.get(configuration_id.lower())
            if track is not None and track.observed is not None:
                self._queue(track, datetime.now(UTC))

    def _effective(self, track: _Track) -> Assessment | None:
        """The Deployment's state as the sync qualifies it: a failed sync fails, Installed waits for a sync."""
        assessment = track.observed
        failure = self._sync.sync_failure(track.name)
        if failure is not None:
            return Assessment(FAILED, failure, assessment.generation if assessment else None)
        if assessment is not None and assessment.compliance_state == INSTALLED \
                and self._sync.holds_installed(track.name):
            return None
        return assessment

    def _queue(self, track: _Track, observed_at: datetime) -> None:
        """Make the effective state pending (sent at once unless rate-limited); the lock is held."""
        assessment = self._effective(track)
        if assessment is None or assessment == track.sent:
            if track.pending is not None and assessment is not None:
                log_event("status.flap_dropped", configurationId=track.name,
                          complianceState=track.pending.compliance_state, **track.extra)
            track.pending = None
            return
        track.pending, track.pending_observed_at = assessment, observed_at
        self._flush_track(track)

    def resend_all(self) -> None:
        """Send every configuration's last sent state again, newly observed: the service stores nothing new
        for it, but a workflow still waiting (its status was lost, or delayed by a crash) gets it now."""
        now = datetime.now(UTC)
        with self._lock:
            for track in self._tracks.values():
                if track.pending is None and track.sent is not None:
                    track.pending, track.pending_observed_at = track.sent, now
                    self._flush_track(track)

    def forget(self, configuration_id: str, **log_fields: Any) -> None:
        with self._lock:
            if self._tracks.pop(configuration_id.lower(), None) is not None:
                log_event("status.forgotten", configurationId=configuration_id, **log_fields)

    def flush_due(self, *, force: bool = False) -> None:
        """Send pending states whose interval has passed (all of them with force=True)."""
        with self._lock:
            for track in self._tracks.values():
                self._flush_track(track, force=force)

    def _flush_track(self, track: _Track, *, force: bool = False) -> None:
        if track.pending is None or track.pending_observed_at is None:
            return
        now = self._clock()
        if not force and now - track.sent_at < self._min_interval:
            return
        body = status_message(configuration_id=track.name, assessment=track.pending,
                              observed_at=track.pending_observed_at,
                              last_config_applied=self._sync.last_config_applied(track.name))
        try:
            self._send(body)
        except Exception as exc:  # noqa: BLE001 - NB: kept pending; the flusher retries later
            track.sent_at = now
            log_event("status.send_failed", level=logging.WARNING, configurationId=track.name,
                      error=f"{type(exc).__name__}: {exc}", **track.extra)
            return
        track.sent, track.sent_at, track.pending = track.pending, now, None
        log_event("status.sent", configurationId=track.name, complianceState=body["complianceState"],
                  message=body["message"], observedAt=body["observedAt"], **track.extra)
