"""Secret and known_hosts arguments turned into the base64 the API takes.

- `--ssh-private-key` / `--ssh-known-hosts` are base64 already (as in az); their `-file` twins are read
  and base64-encoded. Giving both forms of one is an error, as in az (`get_data_from_key_or_file`).
- `--https-user` / `--https-key` may be raw or base64: a value that is strict base64 of printable UTF-8
  text and re-encodes to exactly itself is sent as it is, anything else is base64-encoded. (az always
  encodes; the seed documents both forms. A raw value that happens to be such base64, e.g. `abcd`, is
  therefore taken as encoded: pass it base64-encoded to be explicit.)
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from cli.errors import CliError


def key_or_file(value: str | None, path: str | None, *, flag: str) -> str | None:
    """The base64 text of `--flag` or of the file of `--flag-file`; None when neither is given."""
    if value and path:
        raise CliError(f"Both textual key and key filepath cannot be provided ({flag} and {flag}-file). "
                       f"Try providing the file parameter without providing the plaintext parameter.",
                       code="MutuallyExclusiveArguments")
    if path:
        try:
            data = Path(path).expanduser().read_bytes()
        except OSError as error:
            raise CliError(f"Unable to read key file specified with {flag}-file: {path} ({error.strerror})",
                           code="InvalidArgumentValue") from None
        return base64.b64encode(data).decode("ascii")
    return value or None


def raw_or_base64(value: str | None) -> str | None:
    """`value` as base64: kept when it already is base64 of printable text, else encoded."""
    if not value:
        return None
    try:
        decoded = base64.b64decode(value, validate=True)
        text = decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = None
    if text and text.isprintable() and base64.b64encode(decoded).decode("ascii") == value:
        return value
    return base64.b64encode(value.encode("utf-8")).decode("ascii")
