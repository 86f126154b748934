"""`--state-file`: a JSON snapshot of every object and the resourceVersion counter.

Written atomically a moment after changes (debounced) and on shutdown; loaded at start, so a
restarted emulator keeps its objects and resourceVersions keep increasing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

from kubesim.store import Store

log = logging.getLogger("kubesim.persistence")


class StateFile:
    def __init__(self, path: Path, store: Store, *, debounce: float = 0.2) -> None:
        self.path = path
        self.store = store
        self.debounce = debounce
        self._handle: asyncio.TimerHandle | None = None

    def load(self) -> bool:
        """Restore the store from the file; False when there is none yet."""
        if not self.path.exists():
            return False
        try:
            data = json.loads(self.path.read_text())
        except ValueError as exc:
            raise SystemExit(f"kubesim: state file {self.path} is not valid JSON ({exc}); move it away to start "
                             f"with an empty cluster") from None
        self.store.restore(data)
        log.info("state loaded path=%s resourceVersion=%s", self.path, self.store.rv)
        return True

    def watch(self) -> None:
        self.store.add_listener(self._changed)

    def _changed(self, _event: Any) -> None:
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(self.debounce, self.flush)

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.store.snapshot()))
        os.replace(tmp, self.path)
