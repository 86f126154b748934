"""Indexing and invoking apps built in memory (the worker's rules, without importing any app module)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func
import pytest
from azure.functions import meta

from devhost.bindings import BindingExtensions, Invocation, UnsupportedBindingError
from devhost.indexing import index_app
from devhost.invoking import Invoker


def http_datum(body: bytes = b"") -> meta.Datum:
    return meta.Datum(type="http", value={
        "method": meta.Datum("GET", "string"), "url": meta.Datum("http://h/api/x", "string"),
        "headers": {}, "query": {}, "params": {"id": meta.Datum("7", "string")},
        "body": meta.Datum(body, "bytes"),
    })


def build_app() -> func.FunctionApp:
    app = df.DFApp(http_auth_level=func.AuthLevel.ADMIN)
    bp = df.Blueprint()

    @app.route(route="x/{id}", methods=["get"])
    def plain(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(req.route_params["id"])

    @bp.route(route="y", auth_level=func.AuthLevel.ANONYMOUS)
    @bp.durable_client_input(client_name="client")
    async def with_client(req: func.HttpRequest, client) -> func.HttpResponse:
        return func.HttpResponse(f"client={client._orchestration_bindings.task_hub_name}")

    @app.route(route="bad")
    def bad_params(req: func.HttpRequest, extra: str) -> func.HttpResponse:
        return func.HttpResponse("x")

    @app.activity_trigger(input_name="value")
    def double(value: int) -> int:
        return value * 2

    app.register_functions(bp)
    return app


def test_index_lists_functions_bindings_and_errors():
    index = index_app(build_app(), app_dir=Path("/tmp"), environ={})
    names = {f.name for f in index.functions}
    assert names == {"plain", "with_client", "double"}
    plain = index.by_name("plain")
    assert plain.http.auth_level == "admin"  # the app's default
    assert plain.http.methods == frozenset({"GET"})
    assert plain.http.route == "x/{id}"
    client_fn = index.by_name("with_client")
    assert client_fn.is_async
    assert [(p.name, p.converter) for p in client_fn.inputs] == [("req", "httpTrigger"), ("client", "generic")]
    assert index.by_name("double").return_param.converter == "activityTrigger"  # implicit output
    [error] = index.errors
    assert error.name == "bad_params"
    assert "extra" in error.message


def test_invoke_sync_http_function_and_unknown_input():
    index = index_app(build_app(), app_dir=Path("/tmp"), environ={})
    extensions = BindingExtensions()
    invoker = Invoker(extensions=extensions, max_workers=2)

    async def run() -> None:
        result = await invoker.invoke(Invocation(function=index.by_name("plain"), invocation_id="i1",
                                                 trigger_datum=http_datum(), transport_outputs=frozenset({"http"})))
        assert result.return_value.type == "http"
        assert result.return_value.value["body"].value == b"7"

        with pytest.raises(UnsupportedBindingError, match="durableClient"):
            await invoker.invoke(Invocation(function=index.by_name("with_client"), invocation_id="i2",
                                            trigger_datum=http_datum(), transport_outputs=frozenset({"http"})))

        # The extension point later parts use: an input provider for durableClient.
        async def provide(binding, invocation):
            return meta.Datum(type="string", value='{"taskHubName": "Hub", "creationUrls": {}, '
                                                   '"managementUrls": {}, "rpcBaseUrl": "http://127.0.0.1:1/"}')

        extensions.add_input("durableClient", provide)
        result = await invoker.invoke(Invocation(function=index.by_name("with_client"), invocation_id="i3",
                                                 trigger_datum=http_datum(), transport_outputs=frozenset({"http"})))
        assert result.return_value.value["body"].value == b"client=Hub"

        result = await invoker.invoke(Invocation(function=index.by_name("double"), invocation_id="i4",
                                                 trigger_datum=meta.Datum("21", "json")))
        assert result.return_value == meta.Datum("42", "json")

    try:
        asyncio.run(run())
    finally:
        invoker.shutdown()
