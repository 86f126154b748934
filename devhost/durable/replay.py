"""One orchestrator episode, host side: which task ids the SDK will use, and what its answer asks for.

The Python SDK numbers every task it schedules with one counter, in the order it meets them while
replaying the history, and only ever matches completions by that number (`TaskScheduledId`,
`TimerId`). A wrong number is not an error: the SDK defers the event and the orchestration hangs.
So the host keeps the same counter:

- New top-level actions in the SDK's (flat, append-only, schema V2/V3) action list get the next numbers
  in list order; a compound action (task_all / task_any) numbers its children depth-first;
  WaitForExternalEvent takes none (events match by name); ContinueAsNew takes one.
- Retries are the host's job (as DTFx's retry interceptor): after a retried task fails, the SDK numbers
  a retry timer *while it processes the failure*, and when that timer fires (attempts left) it numbers the
  rescheduled task. Those numbers are taken at event-processing time, not from the action list, so the
  host puts such events FIRST among an episode's new events: they cannot resume user code, so nothing
  else takes a number in between and the host knows exactly which numbers they get.

`Execution` is that bookkeeping for one execution (generation) of an instance; it is rebuilt from the
history and two counters stored with the instance (next id, actions seen).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from devhost.durable.history import (
    DECISION_EVENTS,
    EventType,
    OrchestrationStatus,
    completion_id,
    event,
)

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"


class ActionType:
    CallActivity = 0
    CallActivityWithRetry = 1
    CallSubOrchestrator = 2
    CallSubOrchestratorWithRetry = 3
    ContinueAsNew = 4
    CreateTimer = 5
    WaitForExternalEvent = 6
    CallEntity = 7
    CallHttp = 8
    SignalEntity = 9
    ScheduledSignalEntity = 10
    WhenAny = 11
    WhenAll = 12


UNSUPPORTED_ACTIONS = {
    ActionType.CallEntity: "durable entities (call_entity)",
    ActionType.SignalEntity: "durable entities (signal_entity)",
    ActionType.ScheduledSignalEntity: "durable entities (signal_entity)",
    ActionType.CallHttp: "durable HTTP (call_http)",
}


@dataclass(frozen=True)
class FunctionCatalog:
    """Names of the app's activity and orchestrator functions (case-insensitive, as the host)."""

    activities: dict[str, str]
    orchestrators: dict[str, str]

    @classmethod
    def of(cls, *, activities: Iterable[str], orchestrators: Iterable[str]) -> FunctionCatalog:
        return cls({n.lower(): n for n in activities}, {n.lower(): n for n in orchestrators})

    def activity_error(self, name: str) -> str | None:
        if name.lower() in self.activities:
            return None
        known = "', '".join(sorted(self.activities.values()))
        extra = f"The following are the known activity functions: '{known}'." if known else \
            "No activity functions are currently registered!"
        return f"The function '{name}' doesn't exist, is disabled, or is not an activity function. " \
               f"Additional info: {extra}"

    def orchestrator_error(self, name: str) -> str | None:
        if name.lower() in self.orchestrators:
            return None
        known = "', '".join(sorted(self.orchestrators.values()))
        extra = f"The following are the known orchestrator functions: '{known}'." if known else \
            "No orchestrator functions are currently registered!"
        return f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. " \
               f"Additional info: {extra}"


@dataclass
class Execution:
    """Task-number bookkeeping for the current execution (generation) of one instance."""

    execution_id: str
    next_id: int = 0
    known_actions: int = 0
    scheduled: dict[int, dict[str, Any]] = field(default_factory=dict)  # decision events by EventId
    done: set[int] = field(default_factory=set)

    @classmethod
    def rebuild(cls, execution_id: str, events: Iterable[dict[str, Any]], *, next_id: int,
                known_actions: int) -> Execution:
        state = cls(execution_id=execution_id, next_id=next_id, known_actions=known_actions)
        for ev in events:
            state.record(ev)
        return state

    def record(self, ev: dict[str, Any]) -> None:
        """Account for one committed event."""
        kind = ev["EventType"]
        if kind in DECISION_EVENTS:
            self.scheduled[ev["EventId"]] = ev
            self.next_id = max(self.next_id, ev["EventId"] + 1)
        else:
            done = completion_id(ev)
            if done is not None:
                self.done.add(done)

    def pending(self) -> list[dict[str, Any]]:
        return [ev for task_id, ev in sorted(self.scheduled.items()) if task_id not in self.done]

    def accepts(self, ev: dict[str, Any]) -> bool:
        """Is `ev` the first completion of a task still pending, of the right kind? (duplicates are dropped)"""
        task_id = completion_id(ev)
        if task_id is None:
            return True
        origin = self.scheduled.get(task_id)
        if origin is None or task_id in self.done:
            return False
        kind = ev["EventType"]
        if kind in (EventType.TaskCompleted, EventType.TaskFailed):
            return origin["EventType"] == EventType.TaskScheduled
        if kind in (EventType.SubOrchestrationInstanceCompleted, EventType.SubOrchestrationInstanceFailed):
            return origin["EventType"] == EventType.SubOrchestrationInstanceCreated
        return origin["EventType"] == EventType.TimerCreated

    def _allocate(self) -> int:
        task_id = self.next_id
        self.next_id += 1
        return task_id

    # ------------------------------------------------------------ before the SDK runs

    def _retry_mark(self, task_id: int | None) -> dict[str, Any] | None:
        origin = self.scheduled.get(task_id) if task_id is not None else None
        return origin.get("DevhostRetry") if origin is not None else None

    def _numbers_hidden_task(self, ev: dict[str, Any]) -> bool:
        """Does the SDK number a task while processing `ev` (retry failure, retry timer with attempts left)?"""
        kind = ev["EventType"]
        mark = self._retry_mark(completion_id(ev))
        if mark is None:
            return False
        if kind in (EventType.TaskFailed, EventType.SubOrchestrationInstanceFailed):
            return True
        return kind == EventType.TimerFired and mark["attempt"] < mark["max"]

    def order_new_events(self, events: list[dict[str, Any]], now: datetime) -> tuple[list[dict[str, Any]],
                                                                                    list[dict[str, Any]]]:
        """(new events in the order the SDK must see them, the retry decisions they imply)."""
        hidden = [ev for ev in events if self._numbers_hidden_task(ev)]
        rest = [ev for ev in events if not self._numbers_hidden_task(ev)]
        decisions: list[dict[str, Any]] = []
        for ev in hidden:
            mark = self._retry_mark(completion_id(ev))
            assert mark is not None
            if ev["EventType"] == EventType.TimerFired:
                decisions.append(self._reschedule(mark, now))
            else:
                timer_id = self._allocate()
                fire_at = now + timedelta(milliseconds=mark["intervalMs"])
                decisions.append(event(EventType.TimerCreated, now, event_id=timer_id,
                                       FireAt=fire_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), DevhostRetry=dict(mark)))
        return hidden + rest, decisions

    def _reschedule(self, mark: dict[str, Any], now: datetime) -> dict[str, Any]:
        first = self.scheduled[mark["group"]]
        task_id = self._allocate()
        again = {**mark, "attempt": mark["attempt"] + 1}
        if first["EventType"] == EventType.TaskScheduled:
            return event(EventType.TaskScheduled, now, event_id=task_id, Name=first["Name"], Version="",
                         Input=first.get("Input"), DevhostRetry=again)
        explicit = mark.get("explicitId")
        return event(EventType.SubOrchestrationInstanceCreated, now, event_id=task_id, Name=first["Name"],
                     Version="", InstanceId=explicit or f"{self.execution_id}:{task_id}", Input=first.get("Input"),
                     DevhostRetry=again)

    # ------------------------------------------------------------ after the SDK answered

    def decide(self, *, actions: list[dict[str, Any]], now: datetime, catalog: FunctionCatalog,
               instance_id: str, parent_instance_id: str | None) -> Decisions:
        """Number the actions not seen before; collect what they ask for."""
        out = Decisions()
        for action in actions[self.known_actions:]:
            self._walk(action, out, now=now, catalog=catalog, instance_id=instance_id,
                       parent_instance_id=parent_instance_id)
            if out.error is not None:
                break
        self.known_actions = len(actions)
        return out

    def _walk(self, action: dict[str, Any], out: Decisions, *, now: datetime, catalog: FunctionCatalog,
              instance_id: str, parent_instance_id: str | None) -> None:
        kind = action.get("actionType")
        if kind in (ActionType.WhenAll, ActionType.WhenAny):
            for child in action.get("compoundActions") or ():
                self._walk(child, out, now=now, catalog=catalog, instance_id=instance_id,
                           parent_instance_id=parent_instance_id)
                if out.error is not None:
                    return
            return
        if kind == ActionType.WaitForExternalEvent:
            return
        if kind in UNSUPPORTED_ACTIONS:
            out.error = f"devhost does not support {UNSUPPORTED_ACTIONS[kind]}"
            return
        task_id = self._allocate()
        if kind in (ActionType.CallActivity, ActionType.CallActivityWithRetry):
            name = str(action.get("functionName"))
            out.error = catalog.activity_error(name)
            ev = event(EventType.TaskScheduled, now, event_id=task_id, Name=name, Version="",
                       Input=action.get("input"))
            if kind == ActionType.CallActivityWithRetry:
                ev["DevhostRetry"] = _retry_mark(task_id, action)
            out.events.append(ev)
        elif kind in (ActionType.CallSubOrchestrator, ActionType.CallSubOrchestratorWithRetry):
            name = str(action.get("functionName"))
            explicit = action.get("instanceId") or None
            if explicit is not None and (explicit == instance_id or explicit == parent_instance_id):
                out.error = "The instance ID of a sub-orchestration must be different than the instance ID of a " \
                            "parent orchestration."
            elif explicit is not None and (explicit.startswith("@") or any(c in explicit for c in "/\\#?")):
                out.error = f"Invalid sub-orchestration instance id {explicit!r}"
            else:
                out.error = catalog.orchestrator_error(name)
            ev = event(EventType.SubOrchestrationInstanceCreated, now, event_id=task_id, Name=name, Version="",
                       InstanceId=explicit or f"{self.execution_id}:{task_id}", Input=action.get("input"))
            if kind == ActionType.CallSubOrchestratorWithRetry:
                ev["DevhostRetry"] = {**_retry_mark(task_id, action), "explicitId": explicit}
            out.events.append(ev)
        elif kind == ActionType.CreateTimer:
            # NB: a cancelled timer still fires, as with the real Azure Storage backend; the SDK ignores it.
            out.events.append(event(EventType.TimerCreated, now, event_id=task_id, FireAt=action.get("fireAt")))
        elif kind == ActionType.ContinueAsNew:
            out.continue_as_new = True
            out.new_input = action.get("input")
        else:
            out.error = f"unexpected action type {kind!r} from the orchestrator"


def _retry_mark(task_id: int, action: dict[str, Any]) -> dict[str, Any]:
    options = action.get("retryOptions") or {}
    return {"group": task_id, "attempt": 1, "max": int(options.get("maxNumberOfAttempts") or 1),
            "intervalMs": int(options.get("firstRetryIntervalInMilliseconds") or 1000)}


@dataclass
class Decisions:
    events: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    continue_as_new: bool = False
    new_input: Any = None


# ---------------------------------------------------------------- reading the SDK's answer


@dataclass(frozen=True)
class OrchestratorAnswer:
    """What the orchestrator function returned (or raised), read like the real extension's shim."""

    is_done: bool
    actions: list[dict[str, Any]]
    output: Any = None
    has_output: bool = False
    error: str | None = None
    custom_status: Any = None
    has_custom_status: bool = False

    @classmethod
    def from_state(cls, state: dict[str, Any], *, error: str | None = None) -> OrchestratorAnswer:
        actions = state.get("actions") or []
        if state.get("schemaVersion") is None:
            # Schema V1: one list per episode; flatten it (only reached if the SDK ignored our schema offer).
            flat = [a for group in actions for a in group]
        else:
            flat = list(actions[0]) if actions else []
        return cls(is_done=bool(state.get("isDone")), actions=flat, output=state.get("output"),
                   has_output="output" in state, error=error or state.get("error"),
                   custom_status=state.get("customStatus"), has_custom_status="customStatus" in state)

    @classmethod
    def from_return(cls, text: str | bytes) -> OrchestratorAnswer:
        return cls.from_state(json.loads(text))

    @classmethod
    def from_exception(cls, exc: BaseException) -> OrchestratorAnswer:
        """An orchestrator exception carries its state after `$OutOfProcData$:`; anything else is raw."""
        text = str(exc)
        head, marker, tail = text.partition(OUT_OF_PROC_MARKER)
        if marker:
            try:
                state = json.loads(tail)
            except ValueError:
                state = {}
            return cls.from_state(state, error=state.get("error") or head)
        return cls(is_done=False, actions=[], error=f"{type(exc).__name__}: {exc}" if text else type(exc).__name__)


def completed_event(now: datetime, status: OrchestrationStatus, result: str | None) -> dict[str, Any]:
    return event(EventType.ExecutionCompleted, now, OrchestrationStatus=int(status), Result=result)

