"""The durable benchmark app: trivial activities, so the figures measure the host and its storage."""

import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    value = 0
    for _ in range(context.get_input()):
        value = yield context.call_activity("inc", value)
    return value


@app.orchestration_trigger(context_name="context")
def fan(context: df.DurableOrchestrationContext):
    results = yield context.task_all([context.call_activity("inc", n) for n in range(context.get_input())])
    return sum(results)


@app.activity_trigger(input_name="value")
def inc(value: int) -> int:
    return value + 1
