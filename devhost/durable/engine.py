"""The durable engine: runs orchestrator steps, activities, timers and sub-orchestrations of one task hub.

A STEP of an instance: take its new events (activity results, fired timers, sub-orchestration results held
in memory; raised events / terminate / suspend / resume read from its inbox rows), run the orchestrator
function on the cached history + those events (through the invoker and `azure.functions`' converters, as
the Python worker does), number the actions it returns (`replay.Execution`), and commit ONE transaction
in the instance's partition: the episode's history row, the instance row (If-Match ETag: the single-writer
fence) and the deletes of the inbox rows consumed. Only then is the new work dispatched, in memory.

Crash safety follows from that order: nothing counts until its step committed. An activity result, a
fired timer or a finished child is applied by its instance's next step; if the process dies first, the
activity is still pending in the history and runs again after the restart (at-least-once, as with real
Durable Functions), the timer is re-armed, the child's status is read from its own row. Raised events
and terminate requests are inbox rows until a step consumes them in the same transaction.

Ownership is per task hub partition (`partitions.py`: FNV-1a of the instance id mod partitionCount): the
engine steps only instances of partitions this process holds the lease of. On acquiring partitions every
non-terminal instance of them is loaded from its table partition and its pending work rebuilt from the
history: TaskScheduled without a completion -> run the activity; TimerCreated without TimerFired -> arm
the timer; SubOrchestrationInstanceCreated without a completion -> make sure the child exists (or take its
result). Releasing a partition lets a step in progress finish and drops its instances from memory (results
of activities still running are discarded; the next owner runs them again from the history). A child in
another partition is created, and a child's result reaches a parent in another partition, through the
owning process (`remote`, see forwarding.py). The ETag fence stays what makes two writers safe.

Everything runs on the host's one event loop; orchestrator code and sync activities run in the invoker's
thread pool. A semaphore per kind caps concurrency (host.json maxConcurrent{Orchestrator,Activity}Functions).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import traceback
import uuid
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from azure.functions import meta

from devhost.bindings import Invocation, UnsupportedBindingError
from devhost.durable import history as hist
from devhost.durable.history import ACTIVE_STATUSES, TERMINAL_STATUSES, EventType, OrchestrationStatus
from devhost.durable.metrics import DurableMetrics
from devhost.durable.options import DurableOptions, timespan_text
from devhost.durable.partitions import partition_list, partition_of
from devhost.durable.replay import Execution, FunctionCatalog, OrchestratorAnswer, completed_event
from devhost.durable.store import (
    FINAL_PARTS,
    MAX_TRANSACTION_OPS,
    InboxItem,
    InstanceExists,
    InstanceRecord,
    PartitionSnapshot,
    PayloadTooLarge,
    StaleInstance,
    TaskHubStore,
    new_inbox_key,
)
from devhost.invoking import user_exc_info
from devhost.logs import fields

if TYPE_CHECKING:
    from devhost.host import Host
    from devhost.indexing import IndexedFunction

log = logging.getLogger("devhost.durable")

MAX_INBOX_PER_STEP = MAX_TRANSACTION_OPS - 1 - FINAL_PARTS - 5  # room for the instance row and history parts
LIVE_STATUSES = (*ACTIVE_STATUSES, "ContinuedAsNew")
INVALID_ID_CHARS = set("/\\#?")
MAX_INSTANCE_ID = 256
FINISHED_CACHE = 2000
RESULT_REDELIVERY_WINDOW = timedelta(minutes=2)  # a dead owner's partitions move within ~15 s


class NotOwner(Exception):
    """This process does not own the partition of the instance (another process holds its lease)."""

    def __init__(self, message: str, instance_id: str | None = None) -> None:
        super().__init__(message)
        self.instance_id = instance_id


class RemotePartitions(Protocol):
    """What the engine asks of the processes owning other partitions (forwarding.py, through service.py)."""

    async def create_child(self, *, name: str, instance_id: str, input_text: str | None,
                           parent: tuple[str, str, int]) -> str:
        """'created' or 'exists'; ValueError when the child cannot be created (e.g. input too large)."""
        ...

    async def deliver(self, instance_id: str, execution_id: str, event: dict[str, Any]) -> None:
        """Hand a child's result to the owner of the parent; retries until some owner accepts it."""
        ...


class InstanceAlreadyExists(Exception):
    pass


def validate_instance_id(instance_id: str) -> None:
    if not instance_id:
        raise ValueError("Instance ID must not be empty.")
    if instance_id.startswith("@"):
        raise ValueError("Orchestration instance ids must not start with @.")
    if any(c in INVALID_ID_CHARS or ord(c) < 32 or 127 <= ord(c) < 160 for c in instance_id):
        raise ValueError("Orchestration instance ids must not contain /, \\, #, ?, or control characters.")
    if len(instance_id) > MAX_INSTANCE_ID:
        raise ValueError(f"Instance ID lengths must not exceed {MAX_INSTANCE_ID} characters.")


@dataclass
class Instance:
    """An instance the engine works on: its committed state plus what is waiting for its next step."""

    record: InstanceRecord
    execution: Execution
    history: list[dict[str, Any]] = field(default_factory=list)  # committed, current generation
    played: list[str] = field(default_factory=list)  # the same events as JSON with IsPlayed=true (cache)
    history_keys: list[str] = field(default_factory=list)
    inbox: list[InboxItem] = field(default_factory=list)
    ready: list[dict[str, Any]] = field(default_factory=list)
    in_flight: set[tuple[str, int]] = field(default_factory=set)  # (execution id, task id) running
    children: set[int] = field(default_factory=set)  # sub-orchestration tasks whose child was handled
    timers: dict[int, asyncio.TimerHandle] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    stored: bool = True  # the instance row exists (False only while creating)
    driving: bool = False
    gone: bool = False  # finished, purged or dropped: no more steps
    last_time: datetime | None = None
    backoff: float = 0.0

    @property
    def instance_id(self) -> str:
        return self.record.instance_id

    @property
    def suspended(self) -> bool:
        return self.record.status == "Suspended"

    def has_work(self) -> bool:
        if self.gone:
            return False
        if self.record.step == 0:
            return True
        if self.suspended:
            return any(item.kind in ("resume", "terminate") for item in self.inbox)
        return bool(self.inbox or self.ready)

    def set_history(self, events: list[dict[str, Any]]) -> None:
        self.history = list(events)
        self.played = [json.dumps({**ev, "IsPlayed": True}) for ev in events]
        self.last_time = None
        for ev in reversed(events):
            if ev["EventType"] == EventType.OrchestratorStarted:
                self.last_time = hist.parse_timestamp(ev["Timestamp"])
                break

    def append_history(self, events: list[dict[str, Any]]) -> None:
        self.history.extend(events)
        self.played.extend(json.dumps({**ev, "IsPlayed": True}) for ev in events)
        for ev in events:
            self.execution.record(ev)


@dataclass
class StepPlan:
    """What one step takes: new events for the orchestrator, inbox rows to delete, a terminate request."""

    new_events: list[dict[str, Any]] = field(default_factory=list)
    control_events: list[dict[str, Any]] = field(default_factory=list)
    consumed: list[InboxItem] = field(default_factory=list)
    taken_ready: list[dict[str, Any]] = field(default_factory=list)
    terminate_reason: str | None = None
    suspended: bool = False


class Engine:
    def __init__(self, *, host: Host, options: DurableOptions, store: TaskHubStore, metrics: DurableMetrics,
                 orchestrators: dict[str, IndexedFunction], activities: dict[str, IndexedFunction]) -> None:
        self.host = host
        self.options = options
        self.store = store
        self.metrics = metrics
        self.orchestrators = {name.lower(): fn for name, fn in orchestrators.items()}
        self.activities = {name.lower(): fn for name, fn in activities.items()}
        self.catalog = FunctionCatalog.of(activities=activities, orchestrators=orchestrators)
        self.instances: dict[str, Instance] = {}
        # Records of recently finished instances (this process wrote them, so they are current until purged):
        # status polls after completion and 410 answers cost no storage request.
        self.finished: OrderedDict[str, InstanceRecord] = OrderedDict()
        self.partition_count = options.partition_count
        self.owned: set[int] = set()
        self._recovering: dict[int, asyncio.Event] = {}
        # Storage writes in progress outside a step (creations, inbox rows, purges), per partition: releasing a
        # partition waits for them, so the next owner's recovery (which starts after the release) sees them.
        self._writers: Counter[int] = Counter()
        self._writers_done = asyncio.Condition()
        self.remote: RemotePartitions | None = None
        self._orchestrator_slots = asyncio.Semaphore(options.max_orchestrators)
        self._activity_slots = asyncio.Semaphore(options.max_activities)
        self._tasks: set[asyncio.Task] = set()
        self._context_tail = json.dumps({
            "upperSchemaVersion": 1, "upperSchemaVersionNew": 2,
            "longRunningTimerIntervalDuration": timespan_text(options.long_timer_interval),
            "maximumShortTimerDuration": timespan_text(options.max_short_timer),
        })[1:-1]

    # ------------------------------------------------------------ lifecycle

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("durable background task %s failed", task.get_name(), exc_info=task.exception())

    @property
    def owning(self) -> bool:
        return bool(self.owned)

    def partition(self, instance_id: str) -> int:
        return partition_of(instance_id, self.partition_count)

    def owns(self, instance_id: str) -> bool:
        return self.partition(instance_id) in self.owned

    def new_instance_id(self) -> str:
        """A fresh id, preferably in a partition this process owns (its first episode then runs here)."""
        instance_id = uuid.uuid4().hex
        for _ in range(64):
            if not self.owned or self.owns(instance_id):
                break
            instance_id = uuid.uuid4().hex
        return instance_id

    async def adopt_partitions(self, partitions: set[int]) -> None:
        """Newly owned partitions: work their instances from now on (recovered from the table)."""
        for k in partitions:
            self._recovering.setdefault(k, asyncio.Event())
        self.owned |= partitions
        try:
            await self.recover(partitions)
        finally:
            for k in partitions:
                event = self._recovering.pop(k, None)
                if event is not None:
                    event.set()

    @contextlib.asynccontextmanager
    async def _writing(self, instance_id: str) -> AsyncIterator[None]:
        """A write to the instance's table partition that must land while this process owns its partition."""
        self._require_owner(instance_id)
        k = self.partition(instance_id)
        self._writers[k] += 1
        try:
            yield
        finally:
            self._writers[k] -= 1
            if self._writers[k] <= 0:
                del self._writers[k]
            async with self._writers_done:
                self._writers_done.notify_all()

    async def drop_partitions(self, partitions: set[int]) -> None:
        """Stop working these partitions: steps and writes in progress finish, then their instances leave memory."""
        self.owned -= partitions
        async with self._writers_done:
            await self._writers_done.wait_for(lambda: not any(self._writers.get(k) for k in partitions))
        dropped = [inst for instance_id, inst in self.instances.items() if self.partition(instance_id) in partitions]
        for inst in dropped:
            inst.gone = True
            self._cancel_timers(inst)
            del self.instances[inst.instance_id]
        for inst in dropped:
            async with inst.lock:  # NB: a step in progress commits (or fails) before the lease goes
                pass
        for instance_id in [i for i in self.finished if self.partition(i) in partitions]:
            del self.finished[instance_id]
        if dropped:
            log.info("durable partitions dropped %s", fields(partitions=partition_list(partitions),
                                                              instances=len(dropped)))

    async def _owned_and_recovered(self, instance_id: str) -> None:
        """NotOwner unless the instance's partition is ours; else wait while it is being recovered (the instance
        may not be in memory yet)."""
        self._require_owner(instance_id)
        event = self._recovering.get(self.partition(instance_id))
        if event is not None:
            await event.wait()

    async def recover(self, partitions: set[int] | None = None) -> int:
        """Load every non-terminal instance of the partitions (default: all owned) and restart its work."""
        wanted = self.owned if partitions is None else partitions
        ids = [i for i in await self.store.active_instance_ids(LIVE_STATUSES) if self.partition(i) in wanted]
        slots = asyncio.Semaphore(8)

        async def load(instance_id: str) -> None:
            try:
                async with slots:
                    snapshot = await self.store.load_partition(instance_id)
            except Exception:
                # NB: one unreadable partition must not keep the rest of the hub from running
                log.exception("durable recovery: cannot load instance %s", fields(instance_id=instance_id))
                return
            if (snapshot.instance is not None and snapshot.instance.status in LIVE_STATUSES
                    and self.owns(instance_id) and instance_id not in self.instances):
                self._adopt(snapshot)

        await asyncio.gather(*(load(i) for i in ids))
        await self._redeliver_results(wanted)
        if ids:
            log.info("durable recovery %s", fields(hub=self.options.hub_name, instances=len(ids),
                                                   partitions=partition_list(wanted)))
        self.metrics.count("instancesRecovered", len(ids))
        return len(ids)

    async def _redeliver_results(self, partitions: set[int]) -> None:
        """Send the results of children of these partitions that finished lately to their parents again.

        NB: a process that dies between a child's final commit and handing its result to a parent in another
        partition would leave a parent that stays loaded elsewhere waiting forever; the new owner of the
        child's partition closes that gap. Parents ignore results they already have.
        """
        since = hist.utcnow() - RESULT_REDELIVERY_WINDOW
        try:
            records = await self.store.finished_children(since, TERMINAL_STATUSES)
        except Exception:
            log.exception("durable recovery: cannot read recently finished sub-orchestrations")
            return
        for record in records:
            if self.partition(record.instance_id) not in partitions or record.parent_task_id is None:
                continue
            self._report_to_parent(record)

    def _adopt(self, snapshot: PartitionSnapshot) -> Instance:
        """Take over an instance from its stored partition: cache its history, re-dispatch pending work."""
        record = snapshot.instance
        assert record is not None
        execution = Execution.rebuild(record.execution_id, snapshot.history, next_id=record.next_event_id,
                                      known_actions=record.known_actions)
        inst = self.instances.get(record.instance_id)
        if inst is None:
            inst = Instance(record=record, execution=execution)
            self.instances[record.instance_id] = inst
        else:
            inst.record, inst.execution = record, execution
        inst.set_history(snapshot.history)
        inst.history_keys = list(snapshot.history_keys)
        inst.inbox = list(snapshot.inbox)
        inst.ready = [ev for ev in inst.ready if execution.accepts(ev)]
        inst.stored, inst.gone = True, False
        if snapshot.garbage:
            self._spawn(self.store.delete_rows(record.instance_id, snapshot.garbage), "durable-gc")
        self._dispatch(inst, execution.pending())
        self._wake(inst)
        return inst

    async def shutdown(self) -> None:
        self.owned.clear()
        for inst in self.instances.values():
            self._cancel_timers(inst)
            inst.gone = True
        self.instances.clear()
        self.finished.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def gauges(self) -> dict[str, Any]:
        return {
            "owner": self.owning,
            "instancesInMemory": len(self.instances),
            "activitiesInFlight": sum(len(i.in_flight) for i in self.instances.values()),
            "timersArmed": sum(len(i.timers) for i in self.instances.values()),
        }

    # ------------------------------------------------------------ client operations

    def _require_owner(self, instance_id: str) -> None:
        if not self.owns(instance_id):
            raise NotOwner(f"this devhost process does not own partition {self.partition(instance_id)} "
                           f"(instance {instance_id!r}); another process holds its lease", instance_id)

    async def start_new(self, name: str, instance_id: str | None, input_token: Any) -> str:
        """Create an instance and run its first episode; returns the instance id."""
        problem = self.catalog.orchestrator_error(name)
        if problem:
            raise ValueError(problem)
        instance_id = instance_id or self.new_instance_id()
        validate_instance_id(instance_id)
        await self._owned_and_recovered(instance_id)
        outcome = await self._create(name=self.catalog.orchestrators[name.lower()], instance_id=instance_id,
                                     input_text=None if input_token is None else json.dumps(input_token),
                                     parent=None)
        if outcome == "exists":
            raise InstanceAlreadyExists(
                f"An Orchestration instance with the status Running already exists for instance id {instance_id}.")
        return instance_id

    async def _create(self, *, name: str, instance_id: str, input_text: str | None,
                      parent: tuple[str, str, int] | None) -> str:
        """'created', or 'exists' when a live instance has that id (the real default: NonRunningStates)."""
        async with self._writing(instance_id):
            return await self._create_owned(name=name, instance_id=instance_id, input_text=input_text,
                                            parent=parent)

    async def _create_owned(self, *, name: str, instance_id: str, input_text: str | None,
                            parent: tuple[str, str, int] | None) -> str:
        live = self.instances.get(instance_id)
        if live is not None and not live.gone:
            return "exists"
        generation = 1
        while True:
            record = InstanceRecord(
                instance_id=instance_id, name=name, status="Pending", execution_id=uuid.uuid4().hex,
                generation=generation, input_text=input_text,
                parent_instance_id=parent[0] if parent else None,
                parent_execution_id=parent[1] if parent else None,
                parent_task_id=parent[2] if parent else None)
            inst = Instance(record=record, execution=Execution(execution_id=record.execution_id), stored=False)
            try:
                async with self._orchestrator_slots, inst.lock:
                    await self._step(inst)
                break
            except InstanceExists:
                existing = await self.store.read_instance(instance_id)
                if existing is None:
                    continue
                if existing.status in LIVE_STATUSES:
                    return "exists"
                # NB: re-creating a finished instance replaces it; a new generation number keeps any row the
                # purge might miss from ever looking like part of the new history.
                await self.store.purge(instance_id)
                generation = existing.generation + 1
        self.metrics.count("instancesCreated")
        self.finished.pop(instance_id, None)
        self._wake(inst)  # NB: a first episode may already have continued-as-new
        log.info("orchestration started %s", fields(name=name, instance_id=instance_id,
                                                     parent=parent[0] if parent else None))
        return "created"

    async def create_child(self, *, name: str, instance_id: str, input_text: str | None,
                           parent: tuple[str, str, int]) -> str:
        """A sub-orchestration whose parent lives in another partition ('created' / 'exists')."""
        await self._owned_and_recovered(instance_id)
        return await self._create(name=name, instance_id=instance_id, input_text=input_text, parent=parent)

    async def accept_result(self, instance_id: str, execution_id: str, event: dict[str, Any]) -> None:
        """A child's result from another partition's owner. NB: a parent not in memory yet (its partition is
        being recovered) re-reads the child's row when it is adopted, so dropping the result then is safe."""
        await self._owned_and_recovered(instance_id)
        self._deliver(instance_id, execution_id, event)

    async def _control(self, instance_id: str, item: InboxItem) -> int:
        """Write a durable request (event / terminate / suspend / resume): 202, or 404 / 410."""
        await self._owned_and_recovered(instance_id)
        inst = self.instances.get(instance_id)
        if inst is None or inst.gone:
            record = self.finished.get(instance_id) or await self.store.read_instance(instance_id)
            if record is None:
                return 404
            if record.status in TERMINAL_STATUSES:
                return 410
            raise NotOwner(f"instance {instance_id!r} is not loaded by this process")
        async with self._writing(instance_id):
            await self.store.add_inbox(instance_id, item)
        if inst.gone:
            if not self.owns(instance_id):
                return 202  # NB: its partition was released after the write: the next owner reads the row
            # NB: purged or finished while we wrote: do not leave a row behind for a future instance
            await self.store.delete_rows(instance_id, [item.row_key])
            return 410
        inst.inbox.append(item)
        self._wake(inst)
        return 202

    async def raise_event(self, instance_id: str, name: str, data_text: str | None) -> int:
        return await self._control(instance_id, InboxItem(new_inbox_key(), "event", name, data_text))

    async def terminate(self, instance_id: str, reason: str | None) -> int:
        return await self._control(instance_id, InboxItem(new_inbox_key(), "terminate", None, reason))

    async def suspend(self, instance_id: str, reason: str | None) -> int:
        return await self._control(instance_id, InboxItem(new_inbox_key(), "suspend", None, reason))

    async def resume(self, instance_id: str, reason: str | None) -> int:
        return await self._control(instance_id, InboxItem(new_inbox_key(), "resume", None, reason))

    async def read(self, instance_id: str, *, with_history: bool) -> tuple[InstanceRecord, list[dict]] | None:
        """Committed state (memory when loaded: this process is the only writer), else the table."""
        inst = self.instances.get(instance_id)
        if inst is not None and not inst.gone and inst.stored:
            return inst.record, list(inst.history) if with_history else []
        finished = self.finished.get(instance_id)
        if finished is not None and not with_history:
            return finished, []
        if with_history:
            snapshot = await self.store.load_partition(instance_id)
            return (snapshot.instance, snapshot.history) if snapshot.instance is not None else None
        record = await self.store.read_instance(instance_id)
        return (record, []) if record is not None else None

    async def purge(self, instance_id: str) -> int:
        """Delete an instance and its history, whatever its status; returns the number deleted (0 or 1)."""
        await self._owned_and_recovered(instance_id)
        self.finished.pop(instance_id, None)
        inst = self.instances.pop(instance_id, None)
        if inst is not None:
            inst.gone = True
            self._cancel_timers(inst)
            async with inst.lock:  # NB: let a step in progress finish before its rows go
                pass
        async with self._writing(instance_id):
            deleted = await self.store.purge(instance_id)
        return 1 if deleted else 0

    # ------------------------------------------------------------ stepping

    def _wake(self, inst: Instance) -> None:
        if inst.driving or not inst.has_work() or not self.owns(inst.instance_id):
            return
        inst.driving = True
        self._spawn(self._drive(inst), f"durable-step-{inst.instance_id}")

    async def _drive(self, inst: Instance) -> None:
        try:
            await asyncio.sleep(0)  # let results arriving in the same loop turn join this step
            while self.owns(inst.instance_id) and inst.has_work():
                if inst.backoff:
                    await asyncio.sleep(inst.backoff)
                async with self._orchestrator_slots, inst.lock:
                    if not inst.has_work():
                        break
                    try:
                        await self._step(inst)
                        inst.backoff = 0.0
                    except StaleInstance as exc:
                        log.warning("durable step lost a race; reloading %s",
                                    fields(instance_id=inst.instance_id, reason=str(exc)))
                        await self._reload(inst)
                    except Exception:
                        inst.backoff = min(max(inst.backoff * 2, 0.2), 5.0)
                        log.exception("durable step failed; will retry %s",
                                      fields(instance_id=inst.instance_id, retry_in_s=inst.backoff))
        finally:
            inst.driving = False
        if inst.has_work() and self.owns(inst.instance_id):
            self._wake(inst)

    async def _reload(self, inst: Instance) -> None:
        snapshot = await self.store.load_partition(inst.instance_id)
        if inst.gone or not self.owns(inst.instance_id):
            return  # NB: dropped with its partition meanwhile
        if snapshot.instance is None or snapshot.instance.status not in LIVE_STATUSES:
            inst.gone = True
            self._cancel_timers(inst)
            if self.instances.get(inst.instance_id) is inst:
                del self.instances[inst.instance_id]
            return
        self._adopt(snapshot)

    def _plan(self, inst: Instance) -> StepPlan:
        plan = StepPlan(suspended=inst.suspended)
        now = hist.utcnow()
        for item in inst.inbox:
            if len(plan.consumed) >= MAX_INBOX_PER_STEP:
                break
            if item.kind == "terminate":
                plan.consumed.append(item)
                plan.terminate_reason = item.data or ""
                break
            if item.kind == "suspend":
                plan.consumed.append(item)
                if not plan.suspended:
                    plan.control_events.append(hist.event(EventType.ExecutionSuspended, now, Reason=item.data))
                    plan.suspended = True
            elif item.kind == "resume":
                plan.consumed.append(item)
                if plan.suspended:
                    plan.control_events.append(hist.event(EventType.ExecutionResumed, now, Reason=item.data))
                    plan.suspended = False
            elif not plan.suspended:  # events wait in the inbox while the instance is suspended
                plan.consumed.append(item)
                plan.new_events.append(hist.event_raised(now, item.name or "", item.data))
        if not plan.suspended:
            seen: set[int] = set()
            for ev in inst.ready:
                task_id = hist.completion_id(ev)
                if inst.execution.accepts(ev) and task_id not in seen:
                    plan.new_events.append(ev)
                    if task_id is not None:
                        seen.add(task_id)
                plan.taken_ready.append(ev)
        return plan

    async def _step(self, inst: Instance) -> None:
        record = inst.record
        plan = self._plan(inst)
        now = hist.utcnow()
        if inst.last_time is not None and inst.last_time > now:
            now = inst.last_time
        for ev in plan.new_events:
            if ev["EventType"] == EventType.TimerFired:
                now = max(now, hist.parse_timestamp(ev.get("FireAt") or ev["Timestamp"]))
        starting = record.step == 0
        if starting:
            plan.new_events.insert(0, hist.execution_started(
                now, name=record.name, input_text=record.input_text, instance_id=record.instance_id,
                execution_id=record.execution_id, parent=self._parent_info(record)))

        if plan.terminate_reason is not None:
            await self._commit_terminal(inst, plan, now)
            return
        if not plan.new_events and not plan.control_events and not plan.consumed:
            # NB: only duplicate or stale results: nothing to record
            taken = {id(ev) for ev in plan.taken_ready}
            inst.ready = [ev for ev in inst.ready if id(ev) not in taken]
            return
        if not plan.new_events:  # suspend / resume only: no need to run the orchestrator
            status = "Suspended" if plan.suspended else "Running"
            episode = [hist.event(EventType.OrchestratorStarted, now), *plan.control_events,
                       hist.event(EventType.OrchestratorCompleted, now)]
            new = record.copy(step=record.step + 1, status=status, last_updated_time=now)
            await self._commit(inst, new, episode, plan)
            return

        saved = (inst.execution.next_id, inst.execution.known_actions)
        try:
            await self._run_episode(inst, plan, now)
        except BaseException:
            inst.execution.next_id, inst.execution.known_actions = saved
            raise

    async def _run_episode(self, inst: Instance, plan: StepPlan, now: datetime) -> None:
        record = inst.record
        execution = inst.execution
        ordered, retry_decisions = execution.order_new_events(plan.control_events + plan.new_events, now)
        started = hist.event(EventType.OrchestratorStarted, now)
        answer = await self._call_orchestrator(inst, [started, *ordered])
        decisions = execution.decide(actions=answer.actions, now=now, catalog=self.catalog,
                                     instance_id=record.instance_id, parent_instance_id=record.parent_instance_id)
        custom = record.custom_status_text
        if answer.has_custom_status:
            custom = json.dumps(answer.custom_status)
        episode = [started, *ordered]
        error = answer.error or decisions.error
        if error is not None:
            output = f"Orchestrator function '{record.name}' failed: {error}"
            episode.append(completed_event(now, OrchestrationStatus.Failed, output))
            episode.append(hist.event(EventType.OrchestratorCompleted, now))
            new = record.copy(step=record.step + 1, status="Failed", output_text=output, custom_status_text=custom,
                              last_updated_time=now, next_event_id=execution.next_id,
                              known_actions=execution.known_actions)
            await self._commit(inst, new, episode, plan)
            return
        if answer.is_done and decisions.continue_as_new:
            input_text = None if decisions.new_input is None else json.dumps(decisions.new_input)
            new = record.copy(step=0, status="ContinuedAsNew", generation=record.generation + 1,
                              execution_id=uuid.uuid4().hex, next_event_id=0, known_actions=0,
                              input_text=input_text, output_text=None, custom_status_text=None,
                              last_updated_time=now)
            await self._commit(inst, new, None, plan)
            return
        work = [*retry_decisions, *decisions.events]
        episode.extend(work)
        if answer.is_done:
            try:
                output = json.dumps(answer.output) if answer.has_output else None
                new = record.copy(step=record.step + 1, status="Completed", output_text=output,
                                  custom_status_text=custom, last_updated_time=now,
                                  next_event_id=execution.next_id, known_actions=execution.known_actions)
                new.to_entity()  # NB: size check before the history mentions a completion we cannot store
            except (PayloadTooLarge, TypeError, ValueError) as exc:
                answer_error = f"the orchestration output cannot be stored: {exc}"
                output = f"Orchestrator function '{record.name}' failed: {answer_error}"
                episode = [started, *ordered, completed_event(now, OrchestrationStatus.Failed, output),
                           hist.event(EventType.OrchestratorCompleted, now)]
                new = record.copy(step=record.step + 1, status="Failed", output_text=output, last_updated_time=now)
                await self._commit(inst, new, episode, plan)
                return
            episode.append(completed_event(now, OrchestrationStatus.Completed, output))
            episode.append(hist.event(EventType.OrchestratorCompleted, now))
            await self._commit(inst, new, episode, plan)
            return
        episode.append(hist.event(EventType.OrchestratorCompleted, now))
        status = "Suspended" if plan.suspended else "Running"
        new = record.copy(step=record.step + 1, status=status, custom_status_text=custom, last_updated_time=now,
                          next_event_id=execution.next_id, known_actions=execution.known_actions)
        await self._commit(inst, new, episode, plan, work=work)

    async def _commit_terminal(self, inst: Instance, plan: StepPlan, now: datetime) -> None:
        record = inst.record
        reason = plan.terminate_reason or ""
        episode = [hist.event(EventType.OrchestratorStarted, now),
                   hist.event(EventType.ExecutionTerminated, now, Input=reason),
                   completed_event(now, OrchestrationStatus.Terminated, reason),
                   hist.event(EventType.OrchestratorCompleted, now)]
        new = record.copy(step=record.step + 1, status="Terminated", output_text=reason, last_updated_time=now)
        await self._commit(inst, new, episode, plan)

    def _parent_info(self, record: InstanceRecord) -> dict[str, Any] | None:
        if record.parent_instance_id is None:
            return None
        return {"OrchestrationInstance": {"InstanceId": record.parent_instance_id,
                                          "ExecutionId": record.parent_execution_id},
                "TaskScheduleId": record.parent_task_id, "Name": None, "Version": ""}

    async def _call_orchestrator(self, inst: Instance, new_events: list[dict[str, Any]]) -> OrchestratorAnswer:
        record = inst.record
        fn = self.orchestrators.get(record.name.lower())
        if fn is None:
            missing = self.catalog.orchestrator_error(record.name)
            return OrchestratorAnswer(is_done=False, actions=[], error=missing)
        input_token = None if record.input_text is None else json.loads(record.input_text)
        head = json.dumps({"input": input_token, "instanceId": record.instance_id,
                           "isReplaying": bool(inst.history), "parentInstanceId": record.parent_instance_id})[1:-1]
        events = inst.played + [json.dumps(ev) for ev in new_events]
        context = '{"history":[' + ",".join(events) + "]," + head + "," + self._context_tail + "}"
        invocation = Invocation(function=fn, invocation_id=str(uuid.uuid4()),
                                trigger_datum=meta.Datum(type="json", value=context))
        self.metrics.count("orchestratorEpisodes")
        try:
            result = await self.host.invoker.invoke(invocation)
        except UnsupportedBindingError as exc:
            return OrchestratorAnswer(is_done=False, actions=[], error=str(exc))
        except Exception as exc:
            answer = OrchestratorAnswer.from_exception(exc)
            log.error("Executed '%s' (Failed) %s", fn.name,
                      fields(function=fn.name, invocation_id=invocation.invocation_id,
                             instance_id=record.instance_id), exc_info=user_exc_info(exc.__cause__ or exc))
            return answer
        value = result.return_value.value if result.return_value is not None else None
        if value is None:
            return OrchestratorAnswer(is_done=False, actions=[], error="the orchestrator returned no state")
        return OrchestratorAnswer.from_return(value)

    async def _commit(self, inst: Instance, new: InstanceRecord, episode: list[dict[str, Any]] | None,
                      plan: StepPlan, *, work: list[dict[str, Any]] = ()) -> None:
        old = inst.record
        new.etag = old.etag
        try:
            etag, keys = await self.store.commit(record=new, create=not inst.stored, events=episode,
                                                 inbox_done=[item.row_key for item in plan.consumed])
        except PayloadTooLarge as exc:
            # NB: the step cannot be stored (custom status / output too large): fail the instance instead
            now = hist.utcnow()
            output = f"Orchestrator function '{old.name}' failed: {exc}"
            failed = old.copy(step=old.step + 1, status="Failed", output_text=output, custom_status_text=None,
                              last_updated_time=now)
            failed.etag = old.etag
            episode = [hist.event(EventType.OrchestratorStarted, now),
                       completed_event(now, OrchestrationStatus.Failed, output),
                       hist.event(EventType.OrchestratorCompleted, now)]
            etag, keys = await self.store.commit(record=failed, create=not inst.stored, events=episode,
                                                 inbox_done=[item.row_key for item in plan.consumed])
            new, work = failed, []
        new.etag = etag
        self.metrics.count("steps")
        consumed = {item.row_key for item in plan.consumed}
        inst.inbox = [item for item in inst.inbox if item.row_key not in consumed]
        taken = {id(ev) for ev in plan.taken_ready}
        inst.ready = [ev for ev in inst.ready if id(ev) not in taken]
        inst.record = new
        if not inst.stored:
            inst.stored = True
            if self.owns(new.instance_id):
                self.instances[new.instance_id] = inst
            else:  # NB: its partition was released while the first episode ran: the next owner recovers it
                inst.gone = True
        if new.generation != old.generation:  # continue-as-new: a fresh execution and history
            old_keys = inst.history_keys
            inst.execution = Execution(execution_id=new.execution_id)
            inst.set_history([])
            inst.history_keys = []
            inst.ready.clear()
            inst.children.clear()
            self._cancel_timers(inst)
            if old_keys:
                self._spawn(self.store.delete_rows(new.instance_id, old_keys), "durable-gc")
            self.metrics.count("continuedAsNew")
            return
        if episode is not None:
            inst.append_history(episode)
            inst.history_keys.extend(keys)
            inst.last_time = hist.parse_timestamp(episode[0]["Timestamp"])
        if new.status in TERMINAL_STATUSES:
            self._finish(inst)
            return
        self._dispatch(inst, list(work))

    def _finish(self, inst: Instance) -> None:
        record = inst.record
        inst.gone = True
        self._cancel_timers(inst)
        if self.instances.get(record.instance_id) is inst:
            del self.instances[record.instance_id]
        self.finished[record.instance_id] = record
        while len(self.finished) > FINISHED_CACHE:
            self.finished.popitem(last=False)
        self.metrics.count(f"instances{record.status}")
        level = logging.INFO if record.status == "Completed" else logging.WARNING
        log.log(level, "orchestration %s %s", record.status.lower(),
                fields(name=record.name, instance_id=record.instance_id,
                       output=None if record.status == "Completed" else record.output_text))
        if record.parent_instance_id is not None and record.parent_task_id is not None:
            self._report_to_parent(record)

    def _report_to_parent(self, record: InstanceRecord) -> None:
        """Hand a finished child's result to its parent, here or through the owner of the parent's partition."""
        assert record.parent_instance_id is not None and record.parent_task_id is not None
        result = self._child_result(record, record.parent_task_id)
        if self.owns(record.parent_instance_id) or self.remote is None:
            self._deliver(record.parent_instance_id, record.parent_execution_id or "", result)
        else:
            self._spawn(self.remote.deliver(record.parent_instance_id, record.parent_execution_id or "", result),
                        f"durable-result-{record.parent_instance_id}")

    @staticmethod
    def _child_result(record: InstanceRecord, task_id: int) -> dict[str, Any]:
        now = hist.utcnow()
        if record.status == "Completed":
            return hist.suborchestration_completed(now, task_id, record.output_text)
        if record.status == "Terminated":
            reason = f"Sub-orchestration '{record.instance_id}' was terminated: {record.output_text or ''}"
            return hist.suborchestration_failed(now, task_id, reason, "")
        return hist.suborchestration_failed(now, task_id, record.output_text or "sub-orchestration failed", "")

    def _deliver(self, instance_id: str, execution_id: str, ev: dict[str, Any]) -> None:
        """Hand a result to a loaded instance's next step (dropped if the execution is no longer current)."""
        inst = self.instances.get(instance_id)
        if inst is None or inst.gone or inst.record.execution_id != execution_id:
            return
        inst.ready.append(ev)
        self._wake(inst)

    # ------------------------------------------------------------ work: activities, timers, children

    def _dispatch(self, inst: Instance, decisions: list[dict[str, Any]]) -> None:
        if inst.gone:  # NB: its partition was released during the step: the next owner dispatches the work
            return
        execution_id = inst.record.execution_id
        for ev in decisions:
            kind = ev["EventType"]
            task_id = ev["EventId"]
            if kind == EventType.TaskScheduled:
                if (execution_id, task_id) in inst.in_flight:
                    continue
                inst.in_flight.add((execution_id, task_id))
                self._spawn(self._run_activity(inst, execution_id, ev), f"durable-activity-{ev['Name']}")
            elif kind == EventType.TimerCreated:
                self._arm_timer(inst, execution_id, ev)
            elif kind == EventType.SubOrchestrationInstanceCreated:
                if task_id in inst.children:
                    continue
                inst.children.add(task_id)
                self._spawn(self._start_child(inst, execution_id, ev), f"durable-child-{ev['InstanceId']}")

    async def _run_activity(self, inst: Instance, execution_id: str, ev: dict[str, Any]) -> None:
        task_id = ev["EventId"]
        name = ev["Name"]
        try:
            async with self._activity_slots:
                fn = self.activities.get(name.lower())
                if fn is None:
                    reason = self.catalog.activity_error(name) or name
                    result = hist.task_failed(hist.utcnow(), task_id, reason, "")
                else:
                    result = await self._invoke_activity(fn, inst.instance_id, task_id, ev.get("Input"))
        finally:
            inst.in_flight.discard((execution_id, task_id))
        self._deliver(inst.instance_id, execution_id, result)

    async def _invoke_activity(self, fn: IndexedFunction, instance_id: str, task_id: int,
                               input_text: str | None) -> dict[str, Any]:
        invocation = Invocation(function=fn, invocation_id=str(uuid.uuid4()),
                                trigger_datum=meta.Datum(type="json", value=input_text or "null"))
        try:
            result = await self.host.invoker.invoke(invocation)
        except Exception as exc:
            self.metrics.count("activitiesFailed")
            log.error("Executed '%s' (Failed) %s", fn.name,
                      fields(function=fn.name, invocation_id=invocation.invocation_id, instance_id=instance_id),
                      exc_info=user_exc_info(exc))
            details = "".join(traceback.format_exception(*user_exc_info(exc))).strip()
            reason = f"Activity function '{fn.name}' failed: {type(exc).__name__}: {exc}"
            return hist.task_failed(hist.utcnow(), task_id, reason, details)
        self.metrics.count("activitiesCompleted")
        value = result.return_value.value if result.return_value is not None else None
        return hist.task_completed(hist.utcnow(), task_id, "null" if value is None else str(value))

    def _arm_timer(self, inst: Instance, execution_id: str, ev: dict[str, Any]) -> None:
        task_id = ev["EventId"]
        if task_id in inst.timers:
            return
        fire_at = ev.get("FireAt") or ev["Timestamp"]
        delay = (hist.parse_timestamp(fire_at) - hist.utcnow()).total_seconds()
        loop = asyncio.get_running_loop()
        inst.timers[task_id] = loop.call_later(max(0.0, delay), self._timer_fired, inst, execution_id, task_id,
                                               fire_at)

    def _timer_fired(self, inst: Instance, execution_id: str, task_id: int, fire_at: str) -> None:
        inst.timers.pop(task_id, None)
        self.metrics.count("timersFired")
        self._deliver(inst.instance_id, execution_id, hist.timer_fired(hist.utcnow(), task_id, fire_at))

    @staticmethod
    def _cancel_timers(inst: Instance) -> None:
        for handle in inst.timers.values():
            handle.cancel()
        inst.timers.clear()

    async def _start_child(self, parent: Instance, execution_id: str, ev: dict[str, Any]) -> None:
        """Create the child of a SubOrchestrationInstanceCreated decision, or collect its result if it exists."""
        child_id = ev["InstanceId"]
        link = (parent.instance_id, execution_id, ev["EventId"])

        def linked(record: InstanceRecord) -> bool:
            return (record.parent_instance_id, record.parent_execution_id, record.parent_task_id) == link

        live = self.instances.get(child_id)
        if live is not None and not live.gone and live.stored and self.owns(child_id):
            if not linked(live.record):
                reason = f"An orchestration with instance ID '{child_id}' is already running"
                self._deliver(parent.instance_id, execution_id,
                              hist.suborchestration_failed(hist.utcnow(), ev["EventId"], reason, ""))
            return
        existing = await self.store.read_instance(child_id)
        if existing is not None and linked(existing):
            if existing.status in TERMINAL_STATUSES:
                self._deliver(parent.instance_id, execution_id, self._child_result(existing, ev["EventId"]))
            return  # NB: a live child of ours is loaded by recovery and reports when it finishes
        delay = 0.2
        name = self.catalog.orchestrators.get(ev["Name"].lower(), ev["Name"])
        while True:
            try:
                if self.owns(child_id) or self.remote is None:
                    outcome = await self._create(name=name, instance_id=child_id,
                                                 input_text=json.dumps(ev.get("Input")), parent=link)
                else:
                    outcome = await self.remote.create_child(name=name, instance_id=child_id,
                                                             input_text=json.dumps(ev.get("Input")), parent=link)
                break
            except NotOwner:  # NB: the child's partition changed hands meanwhile: ask its (new) owner
                await asyncio.sleep(0.05)
                if parent.gone or not self.owns(parent.instance_id):
                    return
                continue
            except ValueError as exc:  # e.g. an input too large to store: the child cannot exist
                self._deliver(parent.instance_id, execution_id, hist.suborchestration_failed(
                    hist.utcnow(), ev["EventId"], f"Could not create sub-orchestration '{child_id}': {exc}", ""))
                return
            except Exception:
                # NB: storage trouble is not the child's failure: keep trying while the parent waits for it
                log.exception("creating sub-orchestration failed; retrying %s",
                              fields(instance_id=child_id, retry_in_s=delay))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                if parent.gone or not self.owns(parent.instance_id):
                    return
        if outcome == "exists":
            reason = f"An orchestration with instance ID '{child_id}' is already running"
            self._deliver(parent.instance_id, execution_id,
                          hist.suborchestration_failed(hist.utcnow(), ev["EventId"], reason, ""))

