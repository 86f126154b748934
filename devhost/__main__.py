"""`python -m devhost start|keys`: the local Functions host's command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from azure.core.exceptions import AzureError

from devhost.hostconfig import HostConfig, HostConfigError, load_host_config
from devhost.indexing import AppIndex, AppLoadError, load_and_index
from devhost.keys import KeyStore, KeyStoreError
from devhost.logs import configure_logging
from devhost.settings import DEFAULT_HTTP_PORT, HostSettings, SettingsError, load_settings

log = logging.getLogger("devhost")


def prepare(app_dir: str, *, quiet: bool = False) -> tuple[HostSettings, HostConfig, AppIndex]:
    """Settings into the environment, host.json, logging, cwd = app folder, then index the app."""
    path = Path(app_dir).resolve()
    if not path.is_dir():
        raise SettingsError(f"app folder {path} does not exist")
    settings = load_settings(path)
    config = load_host_config(path)
    if quiet:
        configure_logging(level=logging.WARNING, function_level=logging.WARNING)
    else:
        configure_logging(level=config.log_level, function_level=config.function_log_level)
    settings.report()
    os.chdir(path)  # NB: the worker runs functions with the app folder as working directory
    index = load_and_index(path, script_file=settings.script_file)
    return settings, config, index


async def _keys(settings: HostSettings, index: AppIndex) -> dict:
    names = [fn.name for fn in index.functions if fn.http is not None]
    async with KeyStore(storage=settings.require_storage(), host_id=settings.host_id) as store:
        return (await store.load(names)).to_json()


def cmd_keys(args: argparse.Namespace) -> int:
    settings, _config, index = prepare(args.app_dir, quiet=True)
    doc = asyncio.run(_keys(settings, index))
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"Host id: {doc['hostId']} (blob container azure-webjobs-secrets)")
    print(f"Master key: {doc['masterKey']}")
    print("Host keys:")
    for name, value in doc["functionKeys"].items():
        print(f"  {name}: {value}")
    print("Function keys:")
    for fn, keys in doc["functions"].items():
        for name, value in keys.items():
            print(f"  {fn}: {name}={value}")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    from devhost.host import Host

    if args.processes < 1:
        raise SettingsError("--processes must be at least 1")
    if args.processes > 1:
        return run_supervisor(args)
    settings, config, index = prepare(args.app_dir)
    port = args.port or settings.local_http_port or DEFAULT_HTTP_PORT
    host = Host(settings=settings, config=config, index=index, bind_host=args.host, port=port,
                reuse_port=args.reuse_port)
    asyncio.run(host.run())
    return 0


def run_supervisor(args: argparse.Namespace) -> int:
    """`--processes N`: the supervisor reads the settings for the port only; the workers load the app."""
    from devhost.supervisor import Supervisor

    path = Path(args.app_dir).resolve()
    if not path.is_dir():
        raise SettingsError(f"app folder {path} does not exist")
    settings = load_settings(path)
    configure_logging(level=logging.INFO, worker="supervisor")
    port = args.port or settings.local_http_port or DEFAULT_HTTP_PORT
    return Supervisor(processes=args.processes, app_dir=str(path), port=port, bind_host=args.host).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description="Local Azure Functions host for "
                                     "Python v2 apps, backed by Azurite.")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="run the function app")
    start.add_argument("--app-dir", default=".", help="the app folder (function_app.py, host.json); default .")
    start.add_argument("--port", type=int, default=None,
                       help=f"HTTP port (default: local.settings.json Host.LocalHttpPort, else {DEFAULT_HTTP_PORT})")
    start.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    start.add_argument("--processes", type=int, default=1,
                       help="worker processes sharing the port and the task hub (default 1: no supervisor)")
    start.add_argument("--reuse-port", action="store_true",
                       help="listen with SO_REUSEPORT (set by --processes; several hosts on one port)")
    start.set_defaults(handler=cmd_start)
    keys = sub.add_parser("keys", help="print the app's function keys (created if missing)")
    keys.add_argument("--app-dir", default=".")
    keys.add_argument("--json", action="store_true", help="print one JSON document")
    keys.set_defaults(handler=cmd_keys)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (SettingsError, HostConfigError, AppLoadError, KeyStoreError) as exc:
        print(f"devhost: error: {exc}", file=sys.stderr)
        return 2
    except AzureError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"devhost: error: blob storage (AzureWebJobsStorage) failed: {first}", file=sys.stderr)
        if "API version" in str(exc):
            print("devhost: hint: start Azurite with --skipApiVersionCheck", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"devhost: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
