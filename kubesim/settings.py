"""Settings of one kubesim run, defined once and filled from the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubesim.faults import Fault


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port, printed when ready
    kubeconfig_out: Path | None = None  # default: <cert dir>/kubeconfig
    cluster_name: str = "kubesim"
    context_name: str | None = None  # default: the cluster name
    state_file: Path | None = None
    ready_delay: float = 1.0  # seconds until a pod (and so its Deployment) becomes ready
    faults: tuple[Fault, ...] = ()
    cert_dir: Path | None = None  # default: a throwaway directory
    watch_window: int = 1000  # events kept for watch resumption; older resourceVersions get 410
    bookmark_interval: float = 5.0  # seconds between BOOKMARK events on watches that allow them
    state_debounce: float = 0.2  # seconds between a change and the state file write
