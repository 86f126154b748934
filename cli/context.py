"""What every command handler gets: the parsed arguments, the service client, warnings and progress."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from cli.client import ServiceClient
from cli.progress import Progress


@dataclass
class Context:
    args: argparse.Namespace
    client: ServiceClient

    @property
    def quiet(self) -> bool:
        return bool(getattr(self.args, "only_show_errors", False))

    def warn(self, message: str) -> None:
        if not self.quiet:
            print(f"WARNING: {message}", file=sys.stderr)

    def progress(self) -> Progress:
        return Progress(quiet=self.quiet)
