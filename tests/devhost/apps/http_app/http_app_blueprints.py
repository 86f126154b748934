"""Blueprints registered by function_app.py: one durable-SDK Blueprint, one plain azure.functions one."""

import azure.durable_functions as df
import azure.functions as func

durable_bp = df.Blueprint()
plain_bp = func.Blueprint()


@durable_bp.route(route="bp/hello/{who?}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def bp_hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"hello {req.route_params.get('who', 'world')} from a blueprint")


@plain_bp.function_name("PlainBlueprintFn")
@plain_bp.route(route="bp/plain")
def plain_blueprint(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("plain blueprint, function-level auth")
