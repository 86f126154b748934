"""A counting reverse proxy in front of Azurite: `python -m bench.azurite_proxy --target B,Q,T`.

Why: the stack bench must count *every* request that reaches Azurite (the durable engine, the app's own
table and queue clients, the queue trigger's polling, the agent's sends), whoever makes it. The stack's
connection string points at the proxy's three ports; each request is forwarded byte for byte (path and
query kept encoded, so SharedKey signatures stay valid) and counted by service, HTTP method and a short
operation name. `GET /counts` on the stats port returns the counters (that request is not counted).
Runs as its own process so its CPU does not share a GIL with the bench driver or the host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from yarl import URL

from bench.hosting import stop
from stack.azurite import AzuritePorts, free_port

SERVICES = ("blob", "queue", "table")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
              "proxy-authenticate", "host", "content-length"}


def operation(service: str, method: str, raw_path: str) -> str:
    """A coarse operation name, enough to tell polling from work: `queue.receive`, `table.batch`..."""
    path = urlsplit(raw_path).path
    query = urlsplit(raw_path).query
    if service == "queue":
        if path.endswith("/messages"):
            return {"GET": "queue.receive", "POST": "queue.send", "DELETE": "queue.clear"}.get(method, "queue.other")
        if "/messages/" in path:
            return {"DELETE": "queue.delete", "PUT": "queue.update"}.get(method, "queue.other")
        return f"queue.{method.lower()}"
    if service == "table":
        if "/$batch" in path:
            return "table.batch"
        table = path.split("/")[2].split("(")[0] if path.count("/") >= 2 else ""
        if method == "GET":
            return f"table.{'get' if '(PartitionKey=' in path else 'query'} {table}"
        return f"table.{method.lower()} {table}"
    if "comp=lease" in query:
        return "blob.lease"
    return f"blob.{method.lower()}"


class CountingProxy:
    def __init__(self, targets: dict[str, int]) -> None:
        self.targets = targets
        self.counts: Counter[str] = Counter()
        self.session: aiohttp.ClientSession | None = None

    def handler(self, service: str):
        async def forward(request: web.Request) -> web.StreamResponse:
            assert self.session is not None
            self.counts[f"{service} {request.method}"] += 1
            self.counts[operation(service, request.method, request.raw_path)] += 1
            url = URL(f"http://127.0.0.1:{self.targets[service]}{request.raw_path}", encoded=True)
            headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
            body = await request.read()
            async with self.session.request(request.method, url, headers=headers, data=body or None,
                                            allow_redirects=False, skip_auto_headers=("User-Agent", "Content-Type",
                                                                                      "Accept-Encoding")) as upstream:
                payload = await upstream.read()
                out_headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
                response = web.Response(status=upstream.status, body=payload if request.method != "HEAD" else None)
                for key, value in out_headers:
                    response.headers.add(key, value)
                if request.method == "HEAD" and "Content-Length" in upstream.headers:
                    response.headers["Content-Length"] = upstream.headers["Content-Length"]
                return response

        return forward

    async def counts_handler(self, _request: web.Request) -> web.Response:
        return web.json_response(dict(self.counts))

    async def run(self, listen: dict[str, int], stats_port: int) -> None:
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                             timeout=aiohttp.ClientTimeout(total=300))
        runners = []
        for service in SERVICES:
            app = web.Application(client_max_size=256 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self.handler(service))
            runners.append((app, listen[service]))
        stats = web.Application()
        stats.router.add_get("/counts", self.counts_handler)
        runners.append((stats, stats_port))
        for app, port in runners:
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
        print(json.dumps({"listening": listen, "stats": stats_port}), flush=True)
        await asyncio.Event().wait()


@dataclass
class ProxyHandle:
    """The running proxy: point the stack at `ports`; `counts()` reads its counters."""

    process: subprocess.Popen
    ports: AzuritePorts
    stats_port: int

    def counts(self) -> Counter[str]:
        import requests

        response = requests.get(f"http://127.0.0.1:{self.stats_port}/counts", timeout=30)
        response.raise_for_status()
        return Counter(response.json())


@contextmanager
def running_proxy(target: AzuritePorts, log_path: Path) -> Iterator[ProxyHandle]:
    """`python -m bench.azurite_proxy` in front of `target` until the block ends."""
    listen = AzuritePorts(free_port(), free_port(), free_port())
    stats = free_port()
    ports = ",".join(str(p) for p in (listen.blob, listen.queue, listen.table))
    targets = ",".join(str(p) for p in (target.blob, target.queue, target.table))
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bench.azurite_proxy", "--target", targets, "--listen", ports,
                                    "--stats-port", str(stats)], stdout=log, stderr=subprocess.STDOUT,
                                   cwd=Path(__file__).resolve().parent.parent)
    try:
        deadline = time.monotonic() + 30
        while "listening" not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Azurite proxy did not start:\n" + log_path.read_text(errors="replace"))
            time.sleep(0.05)
        yield ProxyHandle(process, listen, stats)
    finally:
        stop(process, timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.azurite_proxy", description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="Azurite's blob,queue,table ports")
    parser.add_argument("--listen", required=True, help="the proxy's blob,queue,table ports")
    parser.add_argument("--stats-port", type=int, required=True)
    args = parser.parse_args(argv)
    targets = dict(zip(SERVICES, (int(p) for p in args.target.split(",")), strict=True))
    listen = dict(zip(SERVICES, (int(p) for p in args.listen.split(",")), strict=True))
    try:
        asyncio.run(CountingProxy(targets).run(listen, args.stats_port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
