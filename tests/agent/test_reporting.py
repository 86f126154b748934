"""Dedupe, rate limiting, the message shape, the queue encoding and the state rules, without a cluster."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.storage.queue import QueueClient, QueueSasPermissions, generate_queue_sas

from agent.assessing import FAILED, INSTALLED, Assessment, assess, belongs_to_cluster
from agent.hooks import RecordedSync
from agent.reporting import AZURITE_KEY, QueueSender, StatusReporter, expand_connection_string

CONFIG = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kubernetes/connectedClusters/c/providers/" \
         "Microsoft.KubernetesConfiguration/sourceControlConfigurations/cfg"
OK = Assessment(INSTALLED, "flux deployment available")
BAD = Assessment(FAILED, "flux deployment unavailable: ImagePullBackOff: Back-off pulling image")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reporter(**options: Any) -> tuple[StatusReporter, list[dict[str, Any]], Clock]:
    sent: list[dict[str, Any]] = []
    clock = Clock()
    return StatusReporter(send=sent.append, clock=clock, **options), sent, clock


def test_message_shape_and_dedupe() -> None:
    status, sent, _clock = reporter()
    observed = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    status.observe(configuration_id=CONFIG, assessment=BAD, observed_at=observed)
    status.observe(configuration_id=CONFIG.upper(), assessment=BAD, observed_at=observed)  # same configuration
    assert sent == [{
        "configurationId": CONFIG, "complianceState": "Failed", "message": BAD.message, "messageLevel": "Error",
        "lastConfigApplied": "2026-01-02T03:04:05Z", "observedAt": "2026-01-02T03:04:05Z",
        "operatorMessage": None, "clusterState": None,
    }]


def test_flapping_is_rate_limited_and_the_last_state_wins() -> None:
    status, sent, clock = reporter(min_interval=1.0)
    status.observe(configuration_id=CONFIG, assessment=OK)
    for assessment in (BAD, OK, BAD):
        clock.now += 0.1
        status.observe(configuration_id=CONFIG, assessment=assessment)
    status.flush_due()
    assert [m["complianceState"] for m in sent] == ["Installed"]
    clock.now += 1.0
    status.flush_due()
    assert [m["complianceState"] for m in sent] == ["Installed", "Failed"]

    # flapping back to what was last sent within the interval sends nothing at all
    clock.now += 0.1
    status.observe(configuration_id=CONFIG, assessment=OK)
    status.observe(configuration_id=CONFIG, assessment=BAD)
    clock.now += 2.0
    status.flush_due()
    assert len(sent) == 2


def test_forget_and_failed_sends_are_retried() -> None:
    attempts: list[dict[str, Any]] = []

    def flaky_send(body: dict[str, Any]) -> None:
        attempts.append(body)
        if len(attempts) == 1:
            raise ConnectionError("queue unreachable")

    clock = Clock()
    status = StatusReporter(send=flaky_send, clock=clock)
    status.observe(configuration_id=CONFIG, assessment=OK)
    clock.now += 1.0
    status.flush_due()
    assert len(attempts) == 2
    status.forget(CONFIG)
    status.observe(configuration_id=CONFIG, assessment=OK)  # a new Deployment: reported again
    assert len(attempts) == 3


def test_sync_hook_sets_last_config_applied() -> None:
    sync = RecordedSync()
    status, sent, _clock = reporter(sync_hook=sync)
    commit_time = datetime(2026, 1, 1, tzinfo=UTC)
    sync.record(CONFIG, commit_time)
    status.observe(configuration_id=CONFIG, assessment=OK, observed_at=commit_time + timedelta(minutes=5))
    assert sent[0]["lastConfigApplied"] == "2026-01-01T00:00:00Z"
    assert sent[0]["observedAt"] == "2026-01-01T00:05:00Z"


def test_queue_sender_writes_base64_json(storage_connection_string: str) -> None:
    sender = QueueSender(connection_string=storage_connection_string, queue_name="status-sender-test")
    QueueSender(connection_string=storage_connection_string, queue_name="status-sender-test")  # exists: fine
    sender({"configurationId": CONFIG, "complianceState": "Installed"})
    sender.close()
    with QueueClient.from_connection_string(storage_connection_string, "status-sender-test") as queue:
        [message] = list(queue.receive_messages())
    assert json.loads(base64.b64decode(message.content)) == {"configurationId": CONFIG,
                                                             "complianceState": "Installed"}


def test_development_storage_is_expanded() -> None:
    expanded = expand_connection_string("UseDevelopmentStorage=true")
    assert f"AccountKey={AZURITE_KEY}" in expanded
    assert "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1" in expanded
    assert expand_connection_string("AccountName=x;AccountKey=y") == "AccountName=x;AccountKey=y"


def deployment(*, conditions: list[dict[str, str]], available: int = 0, updated: int = 1,
               generation: int = 1, observed: int = 1) -> dict[str, Any]:
    return {"metadata": {"generation": generation}, "spec": {"replicas": 1},
            "status": {"observedGeneration": observed, "availableReplicas": available, "updatedReplicas": updated,
                       "conditions": conditions}}


def test_assessment_rules() -> None:
    available = {"type": "Available", "status": "True"}
    assert assess(deployment(conditions=[available], available=1)) == OK
    assert assess(deployment(conditions=[available], available=1, generation=2)) is None  # not observed yet
    assert assess(deployment(conditions=[{"type": "Progressing", "status": "True"}])) is None  # pending
    failure = {"type": "ReplicaFailure", "status": "True", "reason": "ImagePullBackOff", "message": "Back-off"}
    assert assess(deployment(conditions=[available, failure], available=1)) == Assessment(
        FAILED, "flux deployment unavailable: ImagePullBackOff: Back-off")
    deadline = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet has timed out progressing."}
    assert assess(deployment(conditions=[deadline])) == Assessment(
        FAILED, "flux deployment unavailable: ProgressDeadlineExceeded: ReplicaSet has timed out progressing.")
    assert belongs_to_cluster(CONFIG.upper(), CONFIG.split("/providers/Microsoft.KubernetesConfiguration")[0])
    assert not belongs_to_cluster(CONFIG, "/subscriptions/s/resourceGroups/rg/providers/"
                                          "Microsoft.Kubernetes/connectedClusters/c2")


def test_queue_sender_with_an_add_only_sas_sends_without_creating(storage_connection_string: str) -> None:
    """A cluster holding only an add-only SAS cannot create the queue (403); the service created it."""
    with QueueClient.from_connection_string(storage_connection_string, "status-sas-test") as queue:
        queue.create_queue()
        sas = generate_queue_sas(queue.account_name, queue.queue_name, queue.credential.account_key,
                                 permission=QueueSasPermissions(add=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=1))
        endpoint = queue.url.rsplit("/", 1)[0]
    sender = QueueSender(connection_string=f"QueueEndpoint={endpoint};SharedAccessSignature={sas}",
                         queue_name="status-sas-test")
    sender({"configurationId": CONFIG, "complianceState": "Installed"})
    sender.close()
    with QueueClient.from_connection_string(storage_connection_string, "status-sas-test") as queue:
        [message] = list(queue.receive_messages())
    assert json.loads(base64.b64decode(message.content))["complianceState"] == "Installed"


def test_the_same_state_of_a_re_applied_generation_is_sent_again() -> None:
    """A re-PUT re-applies the Deployment with a new generation annotation; its workflow waits for a status."""
    status, sent, clock = reporter(min_interval=1.0)
    first = Assessment(INSTALLED, "flux deployment available", "1")
    status.observe(configuration_id=CONFIG, assessment=first)
    clock.now += 5
    status.observe(configuration_id=CONFIG, assessment=first)  # a resync of the same generation: nothing new
    status.observe(configuration_id=CONFIG, assessment=Assessment(INSTALLED, "flux deployment available", "2"))

    assert [m["complianceState"] for m in sent] == ["Installed", "Installed"]
    deployment_with_generation = {"metadata": {"generation": 1, "annotations": {
        "gitops.azure.local/configuration-generation": "7"}}, "spec": {"replicas": 1}, "status": {
        "observedGeneration": 1, "availableReplicas": 1, "updatedReplicas": 1}}
    assert assess(deployment_with_generation).generation == "7"


def test_resend_all_sends_every_last_state_again_newly_observed() -> None:
    status, sent, clock = reporter(min_interval=1.0)
    status.observe(configuration_id=CONFIG, assessment=OK, observed_at=datetime(2026, 1, 1, tzinfo=UTC))
    clock.now += 5
    status.resend_all()

    assert [m["complianceState"] for m in sent] == ["Installed", "Installed"]
    assert sent[1]["observedAt"] > sent[0]["observedAt"]
