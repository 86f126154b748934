"""Task numbering against the real Python SDK, in-process (no host, no storage): the part that hangs silently
when wrong. A small driver plays the host: it runs orchestrator episodes exactly as the engine does
(`Execution.order_new_events` -> SDK -> `Execution.decide`) and completes the work it asks for, with
activities failing on purpose so that retries of parallel tasks interleave.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import azure.durable_functions as df
from azure.functions import meta

from devhost.durable import history as hist
from devhost.durable.history import EventType
from devhost.durable.replay import Execution, FunctionCatalog, OrchestratorAnswer

app = df.DFApp()
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=10, max_number_of_attempts=3)


@app.orchestration_trigger(context_name="context")
def parallel_retries(context):
    first = context.call_activity_with_retry("flaky", RETRY, "a:2")  # fails twice, then succeeds
    second = context.call_activity_with_retry("flaky", RETRY, "b:1")
    plain = context.call_activity("flaky", "c:0")
    together = yield context.task_all([first, second, plain])
    after = yield context.call_activity_with_retry("flaky", RETRY, "d:2")
    try:
        yield context.call_activity_with_retry("flaky", RETRY, "e:9")  # exhausts its 3 attempts
    except Exception as exc:  # noqa: BLE001 - the SDK raises a plain Exception for a failed task
        after += " / " + str(exc).split(" \n ")[0]
    winner = yield context.task_any([context.call_activity("flaky", "f:0"),
                                     context.create_timer(context.current_utc_datetime + timedelta(hours=1))])
    # A retried task fails in the same episode in which another result resumes the code, which then
    # schedules a new task: the retry timer must get its number first.
    slow = context.call_activity_with_retry("flaky", RETRY, "g:1")
    yield context.task_any([slow, context.call_activity("flaky", "h:0")])
    tail = yield context.call_activity("flaky", "i:0")
    late = yield slow
    return [together, after, winner.result, tail, late]


class Driver:
    """Plays the host for one instance: episodes, then activities run at once, timers fire in order."""

    def __init__(self, fn, name: str) -> None:
        self.fn = fn
        self.converter = meta.get_binding_registry().get("orchestrationTrigger")
        self.catalog = FunctionCatalog.of(activities=["flaky"], orchestrators=[name])
        self.execution = Execution(execution_id="exec")
        self.now = datetime(2026, 1, 1, tzinfo=UTC)
        self.history: list[dict] = []
        self.ready = [hist.execution_started(self.now, name=name, input_text=None, instance_id="i",
                                             execution_id="exec", parent=None)]
        self.timers: list[dict] = []
        self.runs: dict[str, int] = {}

    def episode(self) -> OrchestratorAnswer:
        new = [ev for ev in self.ready if self.execution.accepts(ev)]
        self.ready = []
        ordered, retry_work = self.execution.order_new_events(new, self.now)
        started = hist.event(EventType.OrchestratorStarted, self.now)
        context = {"history": [{**e, "IsPlayed": True} for e in self.history] + [started, *ordered],
                   "input": None, "instanceId": "i", "isReplaying": bool(self.history), "parentInstanceId": None,
                   "upperSchemaVersion": 1, "upperSchemaVersionNew": 2}
        try:
            datum = meta.Datum(type="json", value=json.dumps(context))
            returned = self.fn(self.converter.decode(datum, trigger_metadata={}))
            answer = OrchestratorAnswer.from_return(self.converter.encode(returned, expected_type=None).value)
        except Exception as exc:  # noqa: BLE001 - the SDK's way of reporting an orchestrator failure
            answer = OrchestratorAnswer.from_exception(exc)
        decided = self.execution.decide(actions=answer.actions, now=self.now, catalog=self.catalog,
                                        instance_id="i", parent_instance_id=None)
        work = [*retry_work, *decided.events]
        episode = [started, *ordered, *work]
        for ev in episode:
            self.execution.record(ev)
        self.history += episode
        for ev in work:
            if ev["EventType"] == EventType.TaskScheduled:
                key, fails = json.loads(ev["Input"]).split(":")
                self.runs[key] = self.runs.get(key, 0) + 1
                if self.runs[key] <= int(fails):
                    self.ready.append(hist.task_failed(self.now, ev["EventId"], f"{key} failed", "details"))
                else:
                    self.ready.append(hist.task_completed(self.now, ev["EventId"], json.dumps(key)))
            elif ev["EventType"] == EventType.TimerCreated:
                self.timers.append(ev)
        return answer

    def run(self, max_episodes: int = 100) -> OrchestratorAnswer:
        for _ in range(max_episodes):
            answer = self.episode()
            if answer.is_done or answer.error:
                return answer
            if not self.ready:
                assert self.timers, "no work left and not done: a task number was wrong, the SDK is waiting"
                self.timers.sort(key=lambda ev: ev["FireAt"])
                timer = self.timers.pop(0)
                self.now = max(self.now, hist.parse_timestamp(timer["FireAt"]))
                self.ready.append(hist.timer_fired(self.now, timer["EventId"], timer["FireAt"]))
        raise AssertionError("too many episodes")


def test_parallel_retries_and_exhausted_retry_get_the_right_task_numbers():
    fn = next(f for f in app.get_functions() if f.get_function_name() == "parallel_retries").get_user_function()
    driver = Driver(fn, "parallel_retries")
    answer = driver.run()
    assert answer.error is None, answer.error
    assert answer.output == [["a", "b", "c"], "d / e failed", "f", "i", "g"]
    assert driver.runs == {"a": 3, "b": 2, "c": 1, "d": 3, "e": 3, "f": 1, "g": 2, "h": 1, "i": 1}
    # Task numbers are dense: every number the SDK used has exactly one decision event.
    numbers = sorted(ev["EventId"] for ev in driver.history
                     if ev["EventType"] in (EventType.TaskScheduled, EventType.TimerCreated))
    assert numbers == list(range(len(numbers)))
