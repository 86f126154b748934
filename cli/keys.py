"""Where the function key comes from: `AZLOCAL_FUNCTION_KEY`, else the local host's key store.

The key store is read by running `python -m devhost keys --json` for this project, exactly what a user
would type, so the CLI finds the key the running host uses (the same blob container and host id, from
local.settings.json or the `AzureWebJobsStorage` in the environment) without importing the host itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cli.errors import CliError

KEY_VARIABLE = "AZLOCAL_FUNCTION_KEY"
# The project root is the folder holding function_app.py; this package lives directly in it.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
KEY_STORE_TIMEOUT = 120


class KeyNotFound(CliError):
    """No key: neither the environment nor the key store gave one."""


def function_key() -> str:
    """The host-level `default` function key."""
    key = os.environ.get(KEY_VARIABLE, "").strip()
    if key:
        return key
    return key_from_store(PROJECT_ROOT)


def key_from_store(app_dir: Path) -> str:
    command = [sys.executable, "-m", "devhost", "keys", "--app-dir", str(app_dir), "--json"]
    hint = (f"Set {KEY_VARIABLE}, or make sure Azurite runs and `{' '.join(command[1:])}` works "
            f"(it reads AzureWebJobsStorage from the environment or {app_dir / 'local.settings.json'}).")
    if not (app_dir / "function_app.py").is_file():
        raise KeyNotFound(f"No function key found: {app_dir} holds no function_app.py. {hint}")
    try:
        proc = subprocess.run(command, cwd=app_dir, capture_output=True, text=True, timeout=KEY_STORE_TIMEOUT,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise KeyNotFound(f"No function key found: the key store could not be read ({error}). {hint}") from None
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise KeyNotFound(f"No function key found: the key store could not be read ({reason}). {hint}")
    try:
        return json.loads(proc.stdout)["functionKeys"]["default"]
    except (ValueError, KeyError, TypeError):
        raise KeyNotFound(f"No function key found: the key store holds no default host key. {hint}") from None
