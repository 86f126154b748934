"""The CLI's one error type and how az prints errors: `ERROR: (Code) Message` plus the ARM detail lines."""

from __future__ import annotations

from dataclasses import dataclass

# Exit codes of az: 1 for a failed command, 2 for bad arguments (argparse), 3 for a missing resource.
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3


@dataclass
class CliError(Exception):
    """A failure the user is told about in one message; `code` is the ARM error code when there is one."""

    message: str
    code: str | None = None
    target: str | None = None
    exit_code: int = EXIT_ERROR

    def __str__(self) -> str:
        return self.message

    def render(self) -> str:
        """az's rendering of an ARM error (azure-core ODataV4Format): a headline, then Code/Message/Target."""
        if self.code is None:
            return f"ERROR: {self.message}"
        lines = [f"ERROR: ({self.code}) {self.message}", f"Code: {self.code}", f"Message: {self.message}"]
        if self.target:
            lines.append(f"Target: {self.target}")
        return "\n".join(lines)


def api_error(code: str, message: str, target: str | None = None, *, status: int | None = None) -> CliError:
    """The CliError of an ARM error body; ResourceNotFound (or a 404) exits 3 like az."""
    not_found = code == "ResourceNotFound" or status == 404
    return CliError(message, code=code, target=target, exit_code=EXIT_NOT_FOUND if not_found else EXIT_ERROR)
