"""az's confirmation before destructive commands (`--yes` skips it; no terminal means no prompt)."""

from __future__ import annotations

import sys

from cli.errors import CliError

QUESTION = "Are you sure you want to perform this operation? (y/n): "


def confirm(yes: bool) -> bool:
    """True to go on. Without `--yes` stdin must be a terminal, as knack's `prompt_y_n` requires."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise CliError("Unable to prompt for confirmation as no tty available. Use --yes.")
    while True:
        try:
            answer = input(QUESTION).strip().lower()
        except EOFError:
            return False
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False
        print("Please enter 'y' (yes) or 'n' (no).", file=sys.stderr)
