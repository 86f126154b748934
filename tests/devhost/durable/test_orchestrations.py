"""Durable Functions features under a real devhost process, state in Azurite (app: apps/durable_app).

Every test checks what the orchestration returned AND the state behind it: the history the management API
shows, the rows in the task hub's table, or the counters the app's activities keep in Azurite.
"""

from __future__ import annotations

import json
import time
import uuid

import requests
from azure.data.tables import TableClient, UpdateMode

from tests.devhost.durable.conftest import events_of


def unquote(value):
    """Events raised by the Python client reach the orchestrator JSON-encoded once more (as with the real
    extension, Azure/azure-functions-durable-python#295): accept both forms."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# ---------------------------------------------------------------- activities


def test_sequential_activities_return_outputs_in_order(durable):
    response = durable.run("sequence", ["Tokyo", "Seattle", "London"])
    assert response.status_code == 200, response.text
    assert response.json() == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]

    listed = durable.webhook("GET", "instances/", params={"runtimeStatus": "Completed", "top": "1000"}).json()
    instance_id = next(s["instanceId"] for s in listed if s["name"] == "sequence")
    status = durable.wait(instance_id, history=True)
    done = events_of(status, "TaskCompleted")
    assert [(e["FunctionName"], e["Result"]) for e in done] == [
        ("hello", "Hello Tokyo!"), ("hello", "Hello Seattle!"), ("hello", "Hello London!")]
    # One activity per episode: each was scheduled after the previous one completed.
    assert done[0]["ScheduledTime"] <= done[0]["Timestamp"] <= done[1]["ScheduledTime"]
    rows = durable.partition_rows(instance_id)
    instance_row = next(r for r in rows if r["RowKey"] == "instance")
    assert instance_row["Status"] == "Completed"
    assert json.loads(instance_row["Output0"]) == ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]
    assert instance_row["Step"] == 4  # start + three completions, one committed step each
    assert not [r for r in rows if r["RowKey"].startswith("I")]  # nothing left in the inbox


def test_fan_out_fan_in_with_task_all(durable):
    instance_id = durable.start_id("fan_out", 40)
    status = durable.wait(instance_id, history=True)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"count": 40, "sum": sum(2 * n for n in range(40))}
    done = events_of(status, "TaskCompleted")
    assert len(done) == 40 and {e["FunctionName"] for e in done} == {"double"}
    # All 40 were scheduled by the first episode, before any result came back.
    assert len({e["ScheduledTime"] for e in done}) == 1
    assert sorted(json.loads(e["Input"]) for e in done) == list(range(40))


def test_task_any_with_a_timer_as_timeout_both_outcomes(durable):
    timed_out = durable.start_id("approval", 1)
    approved = durable.start_id("approval", 60)
    durable.wait(approved, statuses={"Running"})
    assert durable.raise_event(approved, "approve", "alice").status_code == 202

    late = durable.wait(timed_out, history=True)
    assert late["output"] == {"outcome": "timeout"}
    assert len(events_of(late, "TimerFired")) == 1 and not events_of(late, "EventRaised")

    won = durable.wait(approved, history=True)
    assert won["runtimeStatus"] == "Completed"
    assert won["output"]["outcome"] == "approved" and unquote(won["output"]["by"]) == "alice"
    assert [e["Name"] for e in events_of(won, "EventRaised")] == ["approve"]
    assert not events_of(won, "TimerFired")  # it completed long before its 60 s timeout


def test_durable_timer_fires_at_its_time_split_into_short_timers(durable):
    # host.json: maximumShortTimerDuration 2 s, longRunningTimerIntervalDuration 1 s -> the SDK splits 3.5 s.
    instance_id = durable.start_id("sleeper", 3.5)
    status = durable.wait(instance_id, history=True)
    output = status["output"]
    assert output["woke"] >= output["fire_at"] > output["started"]
    fired = events_of(status, "TimerFired")
    assert len(fired) >= 3  # 1 s + 1 s + ... pieces, the last one at the requested time
    assert fired[-1]["FireAt"].rstrip("Z").startswith(output["fire_at"][:19])
    assert len(events_of(status, "TimerCreated")) == len(fired)


# ---------------------------------------------------------------- external events


def test_event_raised_after_the_orchestration_waits(durable):
    instance_id = durable.start_id("wait_for_go")
    running = durable.wait(instance_id, statuses={"Running"})
    assert running["output"] is None
    assert durable.raise_event(instance_id, "go", {"n": 1}).status_code == 202
    status = durable.wait(instance_id, history=True)
    assert unquote(status["output"]["payload"]) == {"n": 1}
    assert [e["Name"] for e in events_of(status, "EventRaised")] == ["go"]


def test_event_raised_before_the_orchestration_waits(durable):
    instance_id = durable.start_id("wait_for_go", "late")  # waits for "proceed" before it waits for "go"
    assert durable.raise_event(instance_id, "go", {"early": True}).status_code == 202
    durable.wait(instance_id, statuses={"Running"})
    assert durable.raise_event(instance_id, "proceed", True).status_code == 202
    status = durable.wait(instance_id, history=True)
    assert unquote(status["output"]["payload"]) == {"early": True}
    # "go" was recorded first, while the orchestrator was still waiting for "proceed".
    assert [e["Name"] for e in events_of(status, "EventRaised")] == ["go", "proceed"]
    assert [e["FunctionName"] for e in events_of(status, "TaskCompleted")] == ["hello"]


# ---------------------------------------------------------------- retries


def test_activity_retry_succeeds_on_the_third_attempt(durable):
    instance_id = durable.start_id("retry_flaky")
    status = durable.wait(instance_id, history=True)
    assert status["runtimeStatus"] == "Completed", status["output"]
    assert status["output"] == {"attempts": 3}
    assert durable.counter("flaky", instance_id) == 3  # the activity really ran three times
    assert len(events_of(status, "TaskFailed")) == 2
    assert len(events_of(status, "TaskCompleted")) == 1
    assert len(events_of(status, "TimerFired")) == 2  # one retry timer per failure


def test_retry_exhausted_fails_the_orchestration_with_the_activity_error(durable):
    instance_id = durable.start_id("retry_exhausted")
    status = durable.wait(instance_id, history=True)
    assert status["runtimeStatus"] == "Failed"
    assert status["output"].startswith("Orchestrator function 'retry_exhausted' failed: "
                                       "Activity function 'flaky' failed: ValueError: flaky failure 2 of")
    assert durable.counter("flaky", instance_id) == 2  # maxNumberOfAttempts
    assert [e["Reason"].split(":")[0] for e in events_of(status, "TaskFailed")] == [
        "Activity function 'flaky' failed"] * 2
    assert events_of(status, "ExecutionCompleted")[0]["OrchestrationStatus"] == "Failed"


# ---------------------------------------------------------------- sub-orchestrations


def test_sub_orchestrations_return_outputs_and_propagate_failures(durable):
    parent_id = f"parent-{uuid.uuid4().hex[:8]}"
    durable.start_id("parent", instance_id=parent_id)
    status = durable.wait(parent_id, history=True)
    assert status["runtimeStatus"] == "Completed", status["output"]
    generated, explicit, retried = status["output"]
    assert (generated["doubled"], explicit["doubled"], retried["doubled"]) == (6, 8, 10)
    assert explicit["child"] == f"{parent_id}-kid"
    # Generated ids are "{parent execution id}:{task id}", as DurableTask.Core makes them.
    assert generated["child"].endswith(":0") and retried["child"].endswith(":2")
    assert {generated["parent"], explicit["parent"], retried["parent"]} == {parent_id}
    created = events_of(status, "SubOrchestrationInstanceCompleted")
    assert [e["FunctionName"] for e in created] == ["child"] * 3
    child = durable.wait(f"{parent_id}-kid")
    assert child["runtimeStatus"] == "Completed" and child["output"]["doubled"] == 8

    failing = durable.start_id("parent_of_failure")
    failed = durable.wait(failing, history=True)
    assert failed["runtimeStatus"] == "Failed"
    assert "Orchestrator function 'child' failed: child cannot take -1" in failed["output"]
    assert len(events_of(failed, "SubOrchestrationInstanceFailed")) == 1


# ---------------------------------------------------------------- continue_as_new, custom status


def test_continue_as_new_loops_with_a_fresh_history(durable):
    instance_id = durable.start_id("counter", {"n": 0, "until": 4})
    status = durable.wait(instance_id, history=True)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"n": 4, "instance": instance_id}
    # Only the last execution's history is kept: one start, with the last input, and no activity.
    started = events_of(status, "ExecutionStarted")
    assert len(started) == 1 and json.loads(json.loads(started[0]["Input"])) == {"n": 3, "until": 4}
    assert not events_of(status, "TaskCompleted")
    history_rows = [r for r in durable.partition_rows(instance_id) if r["RowKey"].startswith("H")]
    generations = {r["RowKey"][1:9] for r in history_rows}
    assert generations == {"00000004"}  # older generations' rows were deleted


def test_custom_status_is_visible_through_get_status(durable):
    instance_id = durable.start_id("with_status")
    running = durable.wait(instance_id, statuses={"Running"})
    deadline = time.monotonic() + 10
    while durable.client_status(instance_id)["customStatus"] is None and time.monotonic() < deadline:
        time.sleep(0.05)
    seen = durable.client_status(instance_id)
    assert seen["runtimeStatus"] == "Running"
    assert seen["customStatus"] == {"stage": "waiting", "for": "done"}
    assert running["name"] == "with_status"
    durable.raise_event(instance_id, "done", "ok")
    final = durable.wait(instance_id)
    assert final["customStatus"] == {"stage": "finished"}
    assert durable.client_status(instance_id)["customStatus"] == {"stage": "finished"}


def test_suspend_holds_events_until_resume(durable):
    instance_id = durable.start_id("with_status")
    durable.wait(instance_id, statuses={"Running"})
    assert durable.webhook("POST", f"instances/{instance_id}/suspend", params={"reason": "pause"}).status_code == 202
    assert durable.wait(instance_id, statuses={"Suspended"})["runtimeStatus"] == "Suspended"
    assert durable.raise_event(instance_id, "done", "held").status_code == 202
    time.sleep(0.5)
    assert durable.status(instance_id).json()["runtimeStatus"] == "Suspended"
    assert durable.webhook("POST", f"instances/{instance_id}/resume", params={"reason": "go"}).status_code == 202
    status = durable.wait(instance_id, history=True)
    assert unquote(status["output"]) == "held"
    kinds = [e["EventType"] for e in status["historyEvents"]]
    assert kinds.index("ExecutionSuspended") < kinds.index("ExecutionResumed") < kinds.index("EventRaised")


# ---------------------------------------------------------------- management API


def test_terminate_and_purge_through_the_management_api(durable):
    instance_id = durable.start_id("wait_for_go")
    durable.wait(instance_id, statuses={"Running"})
    assert durable.webhook("POST", f"instances/{instance_id}/terminate", key=None).status_code == 401
    response = durable.webhook("POST", f"instances/{instance_id}/terminate", params={"reason": "no longer needed"})
    assert response.status_code == 202
    status = durable.wait(instance_id, history=True)
    assert status["runtimeStatus"] == "Terminated" and status["output"] == "no longer needed"
    assert events_of(status, "ExecutionTerminated")
    # As the real extension: a finished instance is gone for terminate and raiseEvent.
    assert durable.webhook("POST", f"instances/{instance_id}/terminate").status_code == 410
    assert durable.webhook("POST", f"instances/{instance_id}/raiseEvent/go", json=1).status_code == 410
    assert durable.webhook("POST", "instances/nobody/raiseEvent/go", json=1).status_code == 404
    assert durable.webhook("POST", "instances/nobody/terminate").status_code == 404

    purged = durable.webhook("DELETE", f"instances/{instance_id}", key="master")
    assert purged.status_code == 200 and purged.json() == {"instancesDeleted": 1}
    assert durable.status(instance_id).status_code == 404
    assert durable.webhook("DELETE", f"instances/{instance_id}").status_code == 404
    assert durable.partition_rows(instance_id) == []

    # The client SDK's purge goes through the RPC endpoint and reads the same answers.
    other = durable.start_id("sequence", ["x"])
    durable.wait(other)
    deleted = requests.delete(f"{durable.base}/api/purge/{other}", timeout=30)
    assert deleted.json() == {"instancesDeleted": 1}
    assert requests.delete(f"{durable.base}/api/purge/{other}", timeout=30).json() == {"instancesDeleted": 0}

    # And the client SDK's terminate.
    stopped = durable.start_id("wait_for_go")
    durable.wait(stopped, statuses={"Running"})
    by_client = requests.post(f"{durable.base}/api/terminate/{stopped}", params={"reason": "by the client"},
                              timeout=30)
    assert by_client.status_code == 202
    assert durable.wait(stopped)["output"] == "by the client"


def test_status_queries_by_filters_and_pages(durable):
    ids = [durable.start_id("sequence", [f"p{n}"]) for n in range(3)]
    failing = durable.start_id("exploding")
    for instance_id in [*ids, failing]:
        durable.wait(instance_id)
    waiting = durable.start_id("wait_for_go")
    durable.wait(waiting, statuses={"Running"})

    everything = {s["instanceId"]: s for s in durable.webhook("GET", "instances/", params={"top": "1000"}).json()}
    assert set(ids) | {failing, waiting} <= set(everything)
    assert everything[waiting]["runtimeStatus"] == "Running"

    by_client = {s["instanceId"]: s["runtimeStatus"] for s in
                 requests.get(f"{durable.base}/api/list", params={"status": "Failed"}, timeout=30).json()}
    assert by_client.get(failing) == "Failed" and set(by_client.values()) == {"Failed"}
    running = {s["instanceId"] for s in requests.get(
        f"{durable.base}/api/list", params={"status": "Running"}, timeout=30).json()}
    assert waiting in running and not running & set(ids)

    # Pages of 2 with the continuation header, newest filter: created from the first of ours.
    created_from = durable.status(ids[0]).json()["createdTime"]
    seen: list[str] = []
    token = None
    for _ in range(50):
        headers = {"x-ms-continuation-token": token} if token else {}
        page = durable.webhook("GET", "instances/", headers=headers,
                               params={"top": "2", "runtimeStatus": "Completed", "createdTimeFrom": created_from})
        assert page.status_code == 200 and len(page.json()) <= 2
        seen += [s["instanceId"] for s in page.json()]
        token = page.headers.get("x-ms-continuation-token")
        if not token:
            break
    assert set(ids) <= set(seen) and failing not in seen and waiting not in seen
    assert len(seen) == len(set(seen))
    durable.webhook("POST", f"instances/{waiting}/terminate")

    # Purge by filters: finished instances created in the window, of the statuses asked for.
    assert durable.webhook("DELETE", "instances/").status_code == 400  # createdTimeFrom is required
    purged = durable.webhook("DELETE", "instances/", params={"createdTimeFrom": created_from,
                                                              "runtimeStatus": "Completed"})
    assert purged.status_code == 200 and purged.json()["instancesDeleted"] >= len(ids)
    assert [durable.status(i).status_code for i in ids] == [404] * len(ids)
    assert durable.status(failing).status_code == 200  # Failed was not asked for
    assert durable.partition_rows(ids[0]) == []


def test_check_status_response_shapes(durable):
    started = durable.start("sequence", ["shape"])
    assert started.status_code == 202
    body = started.json()
    instance_id = body["id"]
    # The client SDK copies the binding's managementUrls (rewind included) with the instance id filled in.
    assert set(body) == {"id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri", "rewindPostUri",
                         "purgeHistoryDeleteUri", "restartPostUri", "suspendPostUri", "resumePostUri"}
    assert started.headers["Location"] == body["statusQueryGetUri"]
    assert started.headers["Retry-After"] == "10"
    prefix = f"{durable.base}/runtime/webhooks/durabletask/instances/{instance_id}"
    query = f"taskHub={durable.hub}&connection=Storage&code={durable.system_key}"
    assert body["statusQueryGetUri"] == f"{prefix}?{query}"
    assert body["sendEventPostUri"] == f"{prefix}/raiseEvent/{{eventName}}?{query}"
    assert body["terminatePostUri"] == f"{prefix}/terminate?reason={{text}}&{query}"
    assert body["purgeHistoryDeleteUri"] == f"{prefix}?{query}"
    # The URLs work as given (system key in `code`).
    deadline = time.monotonic() + 20
    while (status := requests.get(body["statusQueryGetUri"], timeout=30)).status_code == 202:
        assert status.headers["Location"] and time.monotonic() < deadline
        time.sleep(0.05)
    assert status.status_code == 200 and status.json()["output"] == ["Hello shape!"]

    completed = durable.run("sequence", ["fast"])
    assert completed.status_code == 200 and completed.json() == ["Hello fast!"]
    pending = durable.run("wait_for_go", timeout_ms=300)  # never gets its event: not done in time
    assert pending.status_code == 202
    assert pending.headers["Location"] == pending.json()["statusQueryGetUri"]
    assert durable.webhook("POST", f"instances/{pending.json()['id']}/terminate").status_code == 202


def test_orchestrator_exception_fails_the_instance_with_its_message(durable):
    response = durable.run("exploding")
    assert response.status_code == 500
    failed = response.json()
    assert failed["runtimeStatus"] == "Failed"
    assert failed["output"] == "Orchestrator function 'exploding' failed: orchestrator exploded on purpose"
    status = durable.wait(failed["instanceId"], history=True)
    assert [e["EventType"] for e in status["historyEvents"]] == [
        "ExecutionStarted", "TaskCompleted", "ExecutionCompleted"]
    assert status["historyEvents"][-1]["OrchestrationStatus"] == "Failed"
    # 200 for a failed instance, 500 only when asked (returnInternalServerErrorOnFailure).
    assert durable.status(failed["instanceId"]).status_code == 200
    assert durable.status(failed["instanceId"], returnInternalServerErrorOnFailure="true").status_code == 500


def test_unknown_orchestrator_is_a_bad_request(durable):
    response = durable.webhook("POST", "orchestrators/no_such_orchestrator", json={"x": 1})
    assert response.status_code == 400
    assert "The function 'no_such_orchestrator' doesn't exist" in response.json()["ExceptionMessage"]
    assert "'sequence'" in response.json()["ExceptionMessage"]
    assert durable.webhook("POST", "orchestrators/sequence", key=None).status_code == 401
    master = durable.webhook("POST", "orchestrators/sequence", key="master", json=json.dumps(["m"]))
    assert master.status_code == 202
    # The extension's own check-status payload has no rewind URL (CreateCheckStatusResponseMessage).
    assert set(master.json()) == {"id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri",
                                  "purgeHistoryDeleteUri", "restartPostUri", "suspendPostUri", "resumePostUri"}
    assert master.headers["Location"] == master.json()["statusQueryGetUri"]
    assert durable.wait(master.json()["id"])["output"] == ["Hello m!"]


def test_a_step_against_a_changed_instance_row_is_fenced_and_redone(durable):
    """The instance row's ETag fences every commit: a step prepared against an older row fails and is redone
    from what the table holds (here a foreign write between two steps stands in for another writer)."""
    instance_id = durable.start_id("wait_for_go")
    durable.wait(instance_id, statuses={"Running"})
    with TableClient.from_connection_string(durable.connection_string, f"DevhostDurable{durable.hub}") as table:
        row = table.get_entity(instance_id, "instance")
        table.update_entity({"PartitionKey": instance_id, "RowKey": "instance", "Poked": True},
                            mode=UpdateMode.MERGE)
        assert table.get_entity(instance_id, "instance").metadata["etag"] != row.metadata["etag"]
    assert durable.raise_event(instance_id, "go", "after the poke").status_code == 202
    status = durable.wait(instance_id, history=True)
    assert unquote(status["output"]["payload"]) == "after the poke"
    assert [e["Name"] for e in events_of(status, "EventRaised")] == ["go"]  # applied once
    assert "durable step lost a race; reloading" in durable.host.stderr()
    assert not [r for r in durable.partition_rows(instance_id) if r["RowKey"].startswith("I")]
