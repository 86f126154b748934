"""Sample v2 app for the devhost tests: every HTTP feature the host must copy, nothing else.

Runs unchanged under the real Functions host too (that is the point): no devhost imports here.
"""

import json
import logging

import azure.durable_functions as df
import azure.functions as func
from http_app_blueprints import durable_bp, plain_bp

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
log = logging.getLogger("http_app")


def describe(req: func.HttpRequest) -> dict:
    body = req.get_body()
    return {
        "method": req.method,
        "url": req.url,
        "params": dict(req.params),
        "route_params": dict(req.route_params),
        "headers": {k: v for k, v in req.headers.items() if k.startswith("x-test")},
        "body": body.decode("utf-8", "replace"),
        "json": req.get_json() if body and req.headers.get("content-type", "").startswith("application/json") else None,
    }


def as_json(data: object, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(data), status_code=status, mimetype="application/json")


@app.route(route="echo", methods=["GET", "POST", "PUT"], auth_level=func.AuthLevel.ANONYMOUS)
def echo(req: func.HttpRequest) -> func.HttpResponse:
    return as_json(describe(req))


@app.route(route="items/{id:int}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def item_by_id(req: func.HttpRequest) -> func.HttpResponse:
    return as_json({"route": "by_id", **describe(req)})


@app.route(route="items/special", auth_level=func.AuthLevel.ANONYMOUS)
def item_special(req: func.HttpRequest) -> func.HttpResponse:
    return as_json({"route": "special", **describe(req)})


@app.route(route="items/{name:alpha}", auth_level=func.AuthLevel.ANONYMOUS)
def item_by_name(req: func.HttpRequest) -> func.HttpResponse:
    return as_json({"route": "by_name", **describe(req)})


@app.route(route="items/{*rest}", auth_level=func.AuthLevel.ANONYMOUS)
def item_rest(req: func.HttpRequest) -> func.HttpResponse:
    return as_json({"route": "rest", **describe(req)})


@app.route(route="files/{*path}", auth_level=func.AuthLevel.ANONYMOUS)
def files(req: func.HttpRequest) -> func.HttpResponse:
    return as_json(describe(req))


@app.route(route="opt/{a}/{b?}", auth_level=func.AuthLevel.ANONYMOUS)
def optional(req: func.HttpRequest) -> func.HttpResponse:
    return as_json(describe(req))


@app.route(route="typed/{flag:bool}/{uid:guid}/{code3:length(3)}/{rx:regex(^ab+c$)}",
           auth_level=func.AuthLevel.ANONYMOUS)
def typed(req: func.HttpRequest) -> func.HttpResponse:
    return as_json(describe(req))


@app.route(route="only-get", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def only_get(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("got it")


@app.route(route="status", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def custom_status(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"created": req.get_json()}),
        status_code=201,
        headers={"X-Custom": "yes", "Location": "/custom/items/7", "Set-Cookie": "session=abc; Path=/"},
        mimetype="application/json",
    )


@app.route(route="text", auth_level=func.AuthLevel.ANONYMOUS)
def text(req: func.HttpRequest) -> str:
    return "plain text"


@app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("secret internal detail")


@app.route(route="async-context", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def async_context(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    log.info("hello from async function")
    return as_json({"invocation_id": context.invocation_id, "function_name": context.function_name,
                    "function_directory": context.function_directory})


@app.route(route="sync-log", auth_level=func.AuthLevel.ANONYMOUS)
def sync_log(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    log.info("hello from sync function marker=%s", req.params.get("marker"))
    return as_json({"invocation_id": context.invocation_id})


@app.route(route="named-out", auth_level=func.AuthLevel.ANONYMOUS, binding_arg_name="res")
def named_out(req: func.HttpRequest, res: func.Out[func.HttpResponse]) -> None:
    res.set(func.HttpResponse("from out binding", status_code=202))


@app.route(route="no-response", auth_level=func.AuthLevel.ANONYMOUS, binding_arg_name="res")
def no_response(req: func.HttpRequest, res: func.Out[func.HttpResponse]) -> None:
    pass


@app.route(route="secure")  # default auth level of the app: function
def secure(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("secret stuff")


@app.route(route="admin-only", auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin stuff")


@app.route(route="unknown-binding", auth_level=func.AuthLevel.ANONYMOUS)
@app.generic_input_binding(arg_name="thing", type="madeUpInput")
def unknown_binding(req: func.HttpRequest, thing: str) -> func.HttpResponse:
    return func.HttpResponse("should not run")


@app.route(route="disabled-fn", auth_level=func.AuthLevel.ANONYMOUS)
def disabled_fn(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("disabled function ran")


@app.queue_trigger(arg_name="msg", queue_name="work-items", connection="AzureWebJobsStorage")
def on_work(msg: func.QueueMessage) -> None:
    log.info("work item %s", msg.id)


app.register_functions(durable_bp)
app.register_blueprint(plain_bp)
