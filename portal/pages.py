"""`GET /api/gitops/` (anonymous): the GitOps page and its assets, read from `portal/static/`.

Anonymous because a browser cannot send a function key for the page itself; the page asks for the key and
sends it (`x-functions-key`) on every API call, so the API stays keyed. Only the files listed in ASSETS are
served: no directory listing, no path from the request ever reaches the file system.
"""

from __future__ import annotations

import functools
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

bp = df.Blueprint()
STATIC = Path(__file__).with_name("static")
ASSETS = {"": ("index.html", "text/html; charset=utf-8"),
          "index.html": ("index.html", "text/html; charset=utf-8"),
          "app.css": ("app.css", "text/css; charset=utf-8"),
          "app.js": ("app.js", "text/javascript; charset=utf-8"),
          "favicon.svg": ("favicon.svg", "image/svg+xml")}
# NB: the page loads only its own files and talks only to its own origin; inline scripts and styles are refused.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@functools.cache
def asset_bytes(file_name: str) -> bytes:
    return (STATIC / file_name).read_bytes()


@bp.function_name("gitops_page")
@bp.route(route="gitops/{*asset}", methods=["GET", "HEAD"], auth_level=func.AuthLevel.ANONYMOUS)
def gitops_page(req: func.HttpRequest) -> func.HttpResponse:
    asset = req.route_params.get("asset") or ""
    path = req.url.split("?", 1)[0]
    if not asset and not path.endswith("/"):
        # NB: the page's relative asset links resolve against `gitops/`, so the bare path is redirected there.
        return func.HttpResponse(status_code=301, headers={"Location": f"{path}/"})
    if asset not in ASSETS:
        return func.HttpResponse("Not found", status_code=404, mimetype="text/plain")
    file_name, content_type = ASSETS[asset]
    return func.HttpResponse(asset_bytes(file_name), status_code=200,
                             headers={**SECURITY_HEADERS, "Content-Type": content_type})
