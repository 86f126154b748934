"""Durable app for the devhost tests: an HTTP starter using the durable client, and one orchestrator per feature.

Runs unchanged under the real Functions host too: no devhost imports here. The devhost-only host.json
settings (maximumShortTimerDuration, longRunningTimerIntervalDuration) make the SDK split timers longer
than 2 s into 1 s pieces, so long-timer handling is exercised in seconds.
"""

import json
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func
from durable_activities import bp as activities_bp

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(activities_bp)


def as_json(data: object, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(data), status_code=status, mimetype="application/json")


def status_json(status) -> dict:
    return {
        "exists": bool(status),
        "name": status.name,
        "instanceId": status.instance_id,
        "runtimeStatus": status.runtime_status.value if status.runtime_status else None,
        "input": status.input_,
        "output": status.output,
        "customStatus": status.custom_status,
        "history": status.history,
        "createdTime": status.created_time.isoformat() if status.created_time else None,
    }


# ---------------------------------------------------------------- HTTP: the durable client


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["name"], req.params.get("id"),
                                         json.loads(body) if body else None)
    return client.create_check_status_response(req, instance_id)


@app.route(route="run/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["name"], req.params.get("id"),
                                         json.loads(body) if body else None)
    timeout = int(req.params.get("timeout_ms", "20000"))
    return await client.wait_for_completion_or_create_check_status_response(
        req, instance_id, timeout_in_milliseconds=timeout, retry_interval_in_milliseconds=min(100, timeout))


@app.route(route="status/{id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    show = req.params.get("history") == "1"
    result = await client.get_status(req.route_params["id"], show_history=show, show_history_output=show,
                                     show_input=True)
    return as_json(status_json(result))


@app.route(route="list", methods=["GET"])
@app.durable_client_input(client_name="client")
async def list_instances(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    if "status" in req.params:
        wanted = [df.OrchestrationRuntimeStatus(s) for s in req.params["status"].split(",")]
        found = await client.get_status_by(runtime_status=wanted)
    else:
        found = await client.get_status_all()
    return as_json([{"instanceId": s.instance_id, "runtimeStatus": s.runtime_status.value, "name": s.name}
                    for s in found])


@app.route(route="raise/{id}/{event}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def raise_event(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    await client.raise_event(req.route_params["id"], req.route_params["event"], req.get_json())
    return func.HttpResponse(status_code=202)


@app.route(route="terminate/{id}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def terminate(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    await client.terminate(req.route_params["id"], req.params.get("reason", "stopped by test"))
    return func.HttpResponse(status_code=202)


@app.route(route="purge/{id}", methods=["DELETE"])
@app.durable_client_input(client_name="client")
async def purge(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    result = await client.purge_instance_history(req.route_params["id"])
    return as_json({"instancesDeleted": result.instances_deleted})


# ---------------------------------------------------------------- orchestrators


@app.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext):
    results = []
    for city in context.get_input():
        results.append((yield context.call_activity("hello", city)))
    return results


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    doubled = yield context.task_all([context.call_activity("double", n) for n in range(count)])
    return {"count": len(doubled), "sum": sum(doubled)}


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    timeout = context.create_timer(context.current_utc_datetime + timedelta(seconds=context.get_input()))
    approved = context.wait_for_external_event("approve")
    winner = yield context.task_any([approved, timeout])
    if winner == approved:
        timeout.cancel()
        return {"outcome": "approved", "by": approved.result}
    return {"outcome": "timeout"}


@app.orchestration_trigger(context_name="context")
def sleeper(context: df.DurableOrchestrationContext):
    seconds = context.get_input()
    started = context.current_utc_datetime
    fire_at = started + timedelta(seconds=seconds)
    yield context.create_timer(fire_at)
    return {"started": started.isoformat(), "fire_at": fire_at.isoformat(),
            "woke": context.current_utc_datetime.isoformat()}


@app.orchestration_trigger(context_name="context")
def wait_for_go(context: df.DurableOrchestrationContext):
    if context.get_input() == "late":
        # NB: busy with something else first (an activity, then another event), so a test can raise "go"
        # before this orchestration waits for it
        yield context.call_activity("hello", "warm-up")
        yield context.wait_for_external_event("proceed")
    payload = yield context.wait_for_external_event("go")
    return {"payload": payload}


@app.orchestration_trigger(context_name="context")
def retry_flaky(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=100, max_number_of_attempts=5)
    attempts = yield context.call_activity_with_retry("flaky", options, {"key": context.instance_id, "fail": 2})
    return {"attempts": attempts}


@app.orchestration_trigger(context_name="context")
def retry_exhausted(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=2)
    yield context.call_activity_with_retry("flaky", options, {"key": context.instance_id, "fail": 99})
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    generated = yield context.call_sub_orchestrator("child", 3)
    explicit = yield context.call_sub_orchestrator("child", 4, f"{context.instance_id}-kid")
    retried = yield context.call_sub_orchestrator_with_retry(
        "child", df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=2), 5)
    return [generated, explicit, retried]


@app.orchestration_trigger(context_name="context")
def parent_of_failure(context: df.DurableOrchestrationContext):
    result = yield context.call_sub_orchestrator("child", -1)
    return result


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext):
    value = context.get_input()
    doubled = yield context.call_activity("double", value)
    if value < 0:
        raise ValueError(f"child cannot take {value}")
    return {"child": context.instance_id, "parent": context.parent_instance_id, "doubled": doubled}


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    state = context.get_input()
    state["n"] += 1
    if state["n"] < state["until"]:
        yield context.call_activity("hello", f"round {state['n']}")
        context.continue_as_new(state)
        return None
    return {"n": state["n"], "instance": context.instance_id}


@app.orchestration_trigger(context_name="context")
def with_status(context: df.DurableOrchestrationContext):
    context.set_custom_status({"stage": "waiting", "for": "done"})
    payload = yield context.wait_for_external_event("done")
    context.set_custom_status({"stage": "finished"})
    return payload


@app.orchestration_trigger(context_name="context")
def exploding(context: df.DurableOrchestrationContext):
    yield context.call_activity("hello", "before the explosion")
    raise RuntimeError("orchestrator exploded on purpose")


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    total = 0
    for step in range(1, context.get_input() + 1):
        total += yield context.call_activity("count_step", {"run": context.instance_id, "step": step})
    return total


@app.orchestration_trigger(context_name="context")
def mixed(context: df.DurableOrchestrationContext):
    """Every kind of durable work in one (the partition tests): activities, a timer, an event, a child."""
    data = context.get_input()
    doubled = yield context.task_all([context.call_activity("double", data["n"]),
                                      context.call_activity("double", data["n"] + 1)])
    yield context.create_timer(context.current_utc_datetime + timedelta(milliseconds=200))
    go = yield context.wait_for_external_event("go")
    kid = yield context.call_sub_orchestrator("child", data["n"], data["child"])
    return {"doubled": doubled, "go": go, "kid": kid["doubled"], "kid_parent": kid["parent"]}
