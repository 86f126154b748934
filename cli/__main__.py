"""Entry point of `azlocal` / `python -m cli`: parse, run one command, print its result, map errors to exits.

Every error is caught here: the user sees `ERROR: ...` and an exit code (1, 3 for a missing resource),
never a traceback unless `--debug` asks for one.
"""

from __future__ import annotations

import sys
import traceback

from cli.arguments import parse
from cli.client import ServiceClient
from cli.context import Context
from cli.errors import EXIT_ERROR, CliError
from cli.output import emit


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    ctx = Context(args=args, client=ServiceClient(debug=args.debug))
    try:
        result = args.handler(ctx)
        emit(result, args.output, query=args.query)
        return 0
    except CliError as error:
        print(error.render(), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("ERROR: Interrupted.", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the boundary: a message, never a traceback by default
        if args.debug:
            traceback.print_exc()
        print(f"ERROR: An unexpected error occurred: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
