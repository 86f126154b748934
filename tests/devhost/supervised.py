"""`python -m devhost start --processes N` as a test subprocess: one port, N worker processes behind it."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from tests.fixtures.devhost_process import PROJECT_ROOT, DevHost


class SupervisedHost(DevHost):
    def __init__(self, *, processes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.processes = processes

    def launch(self) -> SupervisedHost:
        self._keep_previous_logs()
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devhost", "start", "--app-dir", str(self.app_dir), "--port", str(self.port),
                 "--processes", str(self.processes)],
                env=self.env, cwd=PROJECT_ROOT, stdout=out, stderr=err)
        return self
