"""History events in the Durable Task Framework's JSON shape (what the Python SDK reads), and their display.

Every event carries `EventType`, `EventId`, `IsPlayed`, `Timestamp`. The SDK reads only a few fields:
`TaskCompleted/TaskFailed.TaskScheduledId`, `Result`, `Reason`, `Details`; `TimerFired.TimerId`;
`EventRaised.Name/Input`; sub-orchestration completions like task completions; `OrchestratorStarted.
Timestamp` (the orchestration's clock) and `ExecutionStarted.Version`. Decision events (`TaskScheduled`,
`TimerCreated`, `SubOrchestrationInstanceCreated`) are the host's own record of what it was asked to do.

Fields starting with `Devhost` are devhost's bookkeeping (retry state); they are dropped from the
history shown by the management API.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any


class EventType(IntEnum):
    ExecutionStarted = 0
    ExecutionCompleted = 1
    ExecutionFailed = 2
    ExecutionTerminated = 3
    TaskScheduled = 4
    TaskCompleted = 5
    TaskFailed = 6
    SubOrchestrationInstanceCreated = 7
    SubOrchestrationInstanceCompleted = 8
    SubOrchestrationInstanceFailed = 9
    TimerCreated = 10
    TimerFired = 11
    OrchestratorStarted = 12
    OrchestratorCompleted = 13
    EventSent = 14
    EventRaised = 15
    ContinueAsNew = 16
    GenericEvent = 17
    HistoryState = 18
    ExecutionSuspended = 19
    ExecutionResumed = 20


class OrchestrationStatus(IntEnum):
    """DurableTask.Core's OrchestrationStatus numbers (as stored in ExecutionCompleted events)."""

    Running = 0
    Completed = 1
    ContinuedAsNew = 2
    Failed = 3
    Canceled = 4
    Terminated = 5
    Pending = 6
    Suspended = 7


TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
ACTIVE_STATUSES = ("Pending", "Running", "Suspended")
COMPLETION_EVENTS = frozenset({EventType.TaskCompleted, EventType.TaskFailed,
                               EventType.SubOrchestrationInstanceCompleted,
                               EventType.SubOrchestrationInstanceFailed})
DECISION_EVENTS = frozenset({EventType.TaskScheduled, EventType.TimerCreated,
                             EventType.SubOrchestrationInstanceCreated})


def utcnow() -> datetime:
    return datetime.now(UTC)


def timestamp(when: datetime) -> str:
    """`2026-11-25T14:00:00.123456Z`: the SDK's own DATETIME_STRING_FORMAT, always UTC."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    """Timestamps written by `timestamp()` or by the SDK (`fireAt`); naive values are taken as UTC."""
    value = datetime.fromisoformat(text) if text else utcnow()
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def event(kind: EventType, when: datetime, *, event_id: int = -1, **fields: Any) -> dict[str, Any]:
    return {"EventType": int(kind), "EventId": event_id, "IsPlayed": False, "Timestamp": timestamp(when), **fields}


def execution_started(when: datetime, *, name: str, input_text: str | None, instance_id: str, execution_id: str,
                      parent: dict[str, Any] | None) -> dict[str, Any]:
    return event(EventType.ExecutionStarted, when, Name=name, Version="", Input=input_text,
                 OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
                 ParentInstance=parent, Tags=None)


def task_completed(when: datetime, task_id: int, result: str | None) -> dict[str, Any]:
    return event(EventType.TaskCompleted, when, TaskScheduledId=task_id, Result=result)


def task_failed(when: datetime, task_id: int, reason: str, details: str | None) -> dict[str, Any]:
    return event(EventType.TaskFailed, when, TaskScheduledId=task_id, Reason=reason, Details=details)


def timer_fired(when: datetime, timer_id: int, fire_at: str) -> dict[str, Any]:
    return event(EventType.TimerFired, when, TimerId=timer_id, FireAt=fire_at)


def suborchestration_completed(when: datetime, task_id: int, result: str | None) -> dict[str, Any]:
    return event(EventType.SubOrchestrationInstanceCompleted, when, TaskScheduledId=task_id, Result=result)


def suborchestration_failed(when: datetime, task_id: int, reason: str, details: str | None) -> dict[str, Any]:
    return event(EventType.SubOrchestrationInstanceFailed, when, TaskScheduledId=task_id, Reason=reason,
                 Details=details)


def event_raised(when: datetime, name: str, input_text: str | None) -> dict[str, Any]:
    return event(EventType.EventRaised, when, Name=name, Input=input_text)


def completion_id(ev: dict[str, Any]) -> int | None:
    """The task id an event completes (TaskScheduledId / TimerId), or None."""
    kind = ev["EventType"]
    if kind in COMPLETION_EVENTS:
        return ev.get("TaskScheduledId")
    if kind == EventType.TimerFired:
        return ev.get("TimerId")
    return None


# ---------------------------------------------------------------- display (management API, showHistory)


def parse_json_token(text: str | None) -> Any:
    """The real extension's ParseToJToken: JSON if it parses, else the raw string; None stays None."""
    if text is None:
        return None
    stripped = text.strip()
    if not stripped:
        return ""
    try:
        return json.loads(stripped)
    except ValueError:
        return stripped


def display_history(events: list[dict[str, Any]], *, show_output: bool, show_input: bool) -> list[dict[str, Any]]:
    """The history as `GET instances/{id}?showHistory=true` shows it (DurableClient.GetDurableOrchestrationStatus).

    Event types become names; completions absorb their scheduling event (FunctionName, ScheduledTime, Input);
    OrchestratorStarted/Completed and the absorbed scheduling events are dropped; EventId and IsPlayed go.
    """
    items = [{k: v for k, v in ev.items() if not k.startswith("Devhost")} for ev in events]
    scheduled: dict[tuple[str, int], int] = {}
    drop: set[int] = set()
    for index, item in enumerate(items):
        kind = EventType(item["EventType"])
        item["EventType"] = kind.name
        if kind in (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated):
            scheduled[(kind.name, item["EventId"])] = index
            item.pop("Version", None)
        elif kind in (EventType.TaskCompleted, EventType.TaskFailed, EventType.SubOrchestrationInstanceCompleted,
                      EventType.SubOrchestrationInstanceFailed):
            origin = ("TaskScheduled" if kind in (EventType.TaskCompleted, EventType.TaskFailed)
                      else "SubOrchestrationInstanceCreated")
            source = scheduled.get((origin, item.get("TaskScheduledId")))
            if source is not None:
                item["ScheduledTime"] = items[source]["Timestamp"]
                item["FunctionName"] = items[source].get("Name")
                if show_input:
                    item["Input"] = items[source].get("Input")
                drop.add(source)
            item.pop("TaskScheduledId", None)
            if kind in (EventType.TaskCompleted, EventType.SubOrchestrationInstanceCompleted):
                if show_output:
                    item["Result"] = parse_json_token(item.get("Result"))
                else:
                    item.pop("Result", None)
        elif kind == EventType.ExecutionStarted:
            item["FunctionName"] = item.pop("Name", None)
            for key in ("OrchestrationInstance", "ParentInstance", "Version", "Tags"):
                item.pop(key, None)
        elif kind == EventType.ExecutionCompleted:
            status = item.get("OrchestrationStatus")
            if isinstance(status, int):
                item["OrchestrationStatus"] = OrchestrationStatus(status).name
            if show_output:
                item["Result"] = parse_json_token(item.get("Result"))
            else:
                item.pop("Result", None)
        elif kind == EventType.TimerFired:
            item.pop("TimerId", None)
        elif kind in (EventType.OrchestratorStarted, EventType.OrchestratorCompleted):
            drop.add(index)
        if not show_input:
            item.pop("Input", None)
        item.pop("EventId", None)
        item.pop("IsPlayed", None)
    return [item for index, item in enumerate(items) if index not in drop]
