"""The pending-work index against Azurite: a deferred create is claimed exactly once, entries of a newer
generation survive the settling of an older one, and deletions are found by name."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest

from shared import pending
from shared.timestamps import utc_now


@pytest.fixture()
def index(storage_connection_string: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AzureWebJobsStorage", storage_connection_string)
    monkeypatch.setenv("PENDING_WORK_TABLE", f"pendingtest{uuid.uuid4().hex[:8]}")
    return "sub|rg|microsoft.kubernetes|connectedclusters|c1"


def test_a_deferred_create_is_claimed_by_exactly_one_of_many(index: str):
    pending.note_create(index, "cfg", 3)
    entry = pending.get_pending_create(index, "cfg")
    assert entry is not None and entry.state == pending.DEFERRED and entry.generation == 3

    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda _: pending.claim_create(entry, due_at=utc_now() + timedelta(minutes=1)),
                             range(8)))

    assert len([win for win in wins if win]) == 1
    claimed = pending.get_pending_create(index, "cfg")
    assert claimed.state == pending.STARTED and claimed.due_at
    assert not pending.claim_create(claimed, due_at=utc_now())  # Started is never claimed again


def test_a_released_claim_can_be_claimed_again_but_a_stale_release_changes_nothing(index: str):
    pending.note_create(index, "cfg", 1)
    claim = pending.claim_create(pending.get_pending_create(index, "cfg"), due_at=utc_now())
    pending.release_claim(pending.get_pending_create(index, "cfg"), claim)  # the start failed
    again = pending.get_pending_create(index, "cfg")
    assert again.state == pending.DEFERRED
    second = pending.claim_create(again, due_at=utc_now())
    assert second

    pending.note_create(index, "cfg", 2)  # a newer PUT replaced the entry meanwhile
    pending.release_claim(again, second)
    assert pending.get_pending_create(index, "cfg").generation == 2


def test_settling_an_older_generation_keeps_the_newer_entry(index: str):
    pending.note_create(index, "cfg", 2)
    pending.settle_create(index, "cfg", 1)
    assert pending.get_pending_create(index, "cfg").generation == 2
    pending.settle_create(index, "cfg", 2)
    assert pending.get_pending_create(index, "cfg") is None
    assert pending.pending_creates() == []


def test_deletions_are_found_by_cluster_and_name_and_forgotten(index: str):
    entry = pending.PendingDelete(operation_id="op-1", configuration_id="/x/cfg", cluster_key=index, name="cfg",
                                  generation=4, configuration_hash="h", operator_scope="cluster",
                                  window_seconds=600.0, due_at="2026-01-01T00:00:00.000000+00:00")
    pending.note_delete(entry)
    pending.note_delete(replace(entry, operation_id="op-2", name="other"))

    assert pending.deletes_of(index, "cfg") == [entry]
    assert {d.operation_id for d in pending.pending_deletes()} == {"op-1", "op-2"}
    pending.forget_delete("op-1")
    assert pending.deletes_of(index, "cfg") == []


def test_purges_come_due_in_time_order(index: str):
    now = utc_now()
    pending.note_purge("later", due_at=now + timedelta(hours=1))
    pending.note_purge("second", due_at=now - timedelta(minutes=1))
    pending.note_purge("first", due_at=now - timedelta(minutes=2))

    due = pending.due_purges(now)

    assert [instance for _, instance in due] == ["first", "second"]
    pending.forget_purge(due[0][0])
    assert [instance for _, instance in pending.due_purges(now)] == ["second"]

