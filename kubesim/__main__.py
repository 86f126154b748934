"""`python -m kubesim`: run the emulator until SIGINT / SIGTERM.

Prints one line, `kubesim listening on https://127.0.0.1:PORT kubeconfig=F`, once it serves;
tests and `make up` wait for it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import signal
import socket
import ssl
import sys
import tempfile
from pathlib import Path

from aiohttp import web

from kubesim.certs import ensure_credentials
from kubesim.controllers import Controllers
from kubesim.faults import Faults, parse_flag
from kubesim.kubeconfig import render_kubeconfig, write_kubeconfig
from kubesim.persistence import StateFile
from kubesim.resources import Registry
from kubesim.server import Api, bootstrap
from kubesim.settings import Settings
from kubesim.store import Store
from kubesim.verbs import Verbs

log = logging.getLogger("kubesim")


def parse_args(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m kubesim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): any free port")
    parser.add_argument("--kubeconfig-out", type=Path, help="where to write the kubeconfig "
                                                            "(default: <cert dir>/kubeconfig)")
    parser.add_argument("--cluster-name", default="kubesim", help="cluster and context name in the kubeconfig")
    parser.add_argument("--context-name", help="context name (default: the cluster name)")
    parser.add_argument("--state-file", type=Path, help="JSON snapshot, loaded at start and written on change")
    parser.add_argument("--ready-delay", type=float, default=1.0,
                        help="seconds until pods and Deployments become ready (0 allowed)")
    parser.add_argument("--fail-image", action="append", default=[], metavar="PATTERN[=REASON]",
                        help="containers whose image matches this fnmatch pattern never start "
                             "(reason default ImagePullBackOff); repeatable")
    parser.add_argument("--cert-dir", type=Path, help="CA, serving certificate and token, kept across restarts")
    parser.add_argument("--watch-window", type=int, default=1000,
                        help="events kept for watch resumption; older resourceVersions get 410 Gone")
    parser.add_argument("--bookmark-interval", type=float, default=5.0)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        faults = tuple(parse_flag(text) for text in args.fail_image)
    except ValueError as exc:
        parser.error(str(exc))
    return Settings(host=args.host, port=args.port, kubeconfig_out=args.kubeconfig_out,
                    cluster_name=args.cluster_name, context_name=args.context_name, state_file=args.state_file,
                    ready_delay=max(0.0, args.ready_delay), faults=faults, cert_dir=args.cert_dir,
                    watch_window=args.watch_window, bookmark_interval=args.bookmark_interval)


async def run(settings: Settings) -> None:
    throwaway = None
    cert_dir = settings.cert_dir
    if cert_dir is None:
        throwaway = cert_dir = Path(tempfile.mkdtemp(prefix="kubesim-"))
    try:
        credentials = ensure_credentials(cert_dir)
        store = Store(window=settings.watch_window)
        state = StateFile(settings.state_file, store, debounce=settings.state_debounce) if settings.state_file else None
        if state is not None:
            state.load()
        registry = Registry()
        verbs = Verbs(store, registry)
        faults = Faults(list(settings.faults))
        controllers = Controllers(verbs, faults=faults, ready_delay=settings.ready_delay, ca_pem=credentials.ca_pem)
        if state is not None:
            state.watch()
        bootstrap(verbs)
        controllers.resync()

        sock = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.host, settings.port))
        port = sock.getsockname()[1]
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        server = f"https://{host}:{port}"
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(credentials.server_cert, credentials.server_key)
        ssl_context.set_alpn_protocols(["http/1.1"])

        api = Api(store=store, registry=registry, verbs=verbs, controllers=controllers, faults=faults,
                  token=credentials.token, server_address=f"{host}:{port}",
                  bookmark_interval=settings.bookmark_interval)
        runner = web.AppRunner(api.app(), access_log=None)
        await runner.setup()
        site = web.SockSite(runner, sock, ssl_context=ssl_context, shutdown_timeout=2.0)
        await site.start()

        kubeconfig_path = settings.kubeconfig_out or cert_dir / "kubeconfig"
        write_kubeconfig(kubeconfig_path, render_kubeconfig(
            server=server, ca_pem=credentials.ca_pem, token=credentials.token,
            cluster_name=settings.cluster_name, context_name=settings.context_name))
        print(f"kubesim listening on {server} kubeconfig={kubeconfig_path}", flush=True)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("stopping")
        store.close_watchers()
        await runner.cleanup()
        if state is not None:
            state.flush()
    finally:
        if throwaway is not None:
            shutil.rmtree(throwaway, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
