"""`python -m agent --kubeconfig F --cluster-id ID [--connection-string CS] [--queue configuration-status]`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from kubernetes import config

from agent.hooks import RecordedSync
from agent.local_sync import LocalSync
from agent.logs import configure, log_event
from agent.reporting import DEFAULT_QUEUE, QueueSender, StatusReporter
from agent.watching import DeploymentWatcher, api_from_kubeconfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m agent", description=__doc__)
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig of the cluster to watch")
    parser.add_argument("--cluster-id", required=True,
                        help="ARM id of the connected cluster; only its configurations are reported")
    parser.add_argument("--connection-string", default=os.environ.get("AzureWebJobsStorage"),
                        help="storage connection string (default: env AzureWebJobsStorage)")
    parser.add_argument("--queue", default=os.environ.get("STATUS_QUEUE_NAME") or DEFAULT_QUEUE)
    parser.add_argument("--min-interval", type=float, default=1.0,
                        help="seconds between two messages for one configuration")
    parser.add_argument("--resync-interval", type=float, default=300.0,
                        help="seconds between re-lists of the Deployments and re-sends of every configuration's "
                             "current state (a missed watch event or a status lost or delayed in the queue is "
                             "made good by the next one); 0 turns it off")
    parser.add_argument("--watch-timeout", type=int, default=30,
                        help="seconds a watch request lasts before it is resumed")
    parser.add_argument("--local-sync", action="store_true",
                        help="do flux's Git sync here (for clusters where no flux pod runs, like the embedded one)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where --local-sync keeps its clones (default: a temporary folder)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if not args.connection_string:
        parser.error("--connection-string or env AzureWebJobsStorage is required")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure(args.log_level)
    sender = QueueSender(connection_string=args.connection_string, queue_name=args.queue)
    hook = RecordedSync(hold_installed=args.local_sync)
    reporter = StatusReporter(send=sender, min_interval=args.min_interval, sync_hook=hook)
    watcher = DeploymentWatcher(apps=api_from_kubeconfig(args.kubeconfig), cluster_id=args.cluster_id,
                                reporter=reporter, watch_timeout=args.watch_timeout)
    if args.local_sync:
        work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="agent-sync-"))
        syncer = LocalSync(api=config.new_client_from_config(config_file=str(args.kubeconfig)),
                           cluster_id=args.cluster_id, reporter=reporter, hook=hook, work_dir=work_dir)
        threading.Thread(target=syncer.run, name="local-sync", daemon=True).start()
        log_event("agent.local_sync", workDir=str(work_dir))
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log_event("agent.stopping", signal=signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    # NB: the watch blocks in a socket read; it runs in a daemon thread so a signal never waits for it.
    thread = threading.Thread(target=watcher.run, name="watch", daemon=True)
    thread.start()
    log_event("agent.started", clusterId=args.cluster_id, queue=args.queue)
    next_resync = time.monotonic() + args.resync_interval
    while not stopping.wait(0.1):
        if args.resync_interval > 0 and time.monotonic() >= next_resync:
            watcher.relist_soon()
            reporter.resend_all()
            next_resync = time.monotonic() + args.resync_interval
        reporter.flush_due()
    watcher.stop()
    reporter.flush_due(force=True)
    sender.close()
    log_event("agent.stopped")
    return 0


def exit_now(code: int) -> None:
    """Exit without interpreter finalization.

    NB: the watch and local-sync threads are daemons blocked in socket reads or git subprocesses and cannot
    be joined; finalizing the interpreter while one of them writes to stdout aborts the process (SIGABRT,
    "could not acquire lock ... at interpreter shutdown"). Everything that matters was flushed by main().
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
