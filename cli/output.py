"""`--query` and `-o json|jsonc|table|tsv|yaml|none`, rendered as az (knack) renders them.

- json: indent 2, keys sorted, non-ASCII kept (knack `format_json`).
- jsonc: the same text, coloured when stdout is a terminal.
- table: knack's auto table: per object, its scalar top-level fields (null, objects and lists left out,
  `id`/`type`/`etag` skipped), headers with the first letter capitalised, tabulate's "simple" layout.
  Keys are sorted unless a `--query` shaped the result (then its order is kept), as in knack.
- tsv: one line per object, its values (keys sorted unless a query shaped it) separated by tabs, no
  header; a nested object prints as an empty field and a list as its length, null as `None`.
- yaml: `yaml.safe_dump`, block style.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from typing import Any, TextIO

import jmespath
import yaml
from jmespath.exceptions import JMESPathError

from cli.errors import CliError

FORMATS = ("json", "jsonc", "table", "tsv", "yaml", "none")
TABLE_SKIP_KEYS = ("id", "type", "etag")


def apply_query(result: Any, query: str | None) -> Any:
    if query is None:
        return result
    return compile_query(query).search(result)


def compile_query(query: str, flag: str = "--query") -> Any:
    """A compiled JMESPath expression; a bad one is the user's error, worded as az words it."""
    try:
        return jmespath.compile(query)
    except JMESPathError as error:
        raise CliError(f"argument {flag}: invalid jmespath query supplied for '{flag}': {query} "
                       f"({str(error).splitlines()[0]})", code=None) from None


def render(result: Any, output: str, *, query_active: bool = False, color: bool = False) -> str:
    """The text to print for `result` (nothing for a null result or `-o none`)."""
    if result is None or output == "none":
        return ""
    sort_keys = not query_active
    renderers: dict[str, Callable[[], str]] = {
        "json": lambda: to_json(result),
        "jsonc": lambda: colorize(to_json(result)) if color else to_json(result),
        "table": lambda: to_table(result, sort_keys=sort_keys),
        "tsv": lambda: to_tsv(result, sort_keys=sort_keys),
        "yaml": lambda: yaml.safe_dump(result, default_flow_style=False, allow_unicode=True),
    }
    text = renderers[output]()
    return text if text.endswith("\n") else text + "\n"


def emit(result: Any, output: str, *, query: str | None, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    shaped = apply_query(result, query)
    stream.write(render(shaped, output, query_active=query is not None, color=stream.isatty()))


def to_json(result: Any) -> str:
    return json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False, separators=(",", ": "))


_JSON_TOKEN = re.compile(r'("(?:[^"\\]|\\.)*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)')
_COLORS = {"key": "\x1b[94m", "string": "\x1b[32m", "literal": "\x1b[95m", "number": "\x1b[93m"}
_RESET = "\x1b[0m"


def colorize(text: str) -> str:
    """ANSI colours for keys, strings, literals and numbers of an indented JSON text."""
    def paint(match: re.Match[str]) -> str:
        if match.group(1):
            kind = "key" if match.group(2) else "string"
            return f"{_COLORS[kind]}{match.group(1)}{_RESET}{match.group(2) or ''}"
        kind = "literal" if match.group(3) else "number"
        return f"{_COLORS[kind]}{match.group(0)}{_RESET}"
    return _JSON_TOKEN.sub(paint, text)


def _rows(result: Any) -> list[Any]:
    return result if isinstance(result, list) else [result]


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _table_row(item: Any, *, sort_keys: bool) -> dict[str, Any]:
    if isinstance(item, dict):
        keys = sorted(item) if sort_keys else list(item)
        return {key[:1].upper() + key[1:]: item[key] for key in keys
                if key not in TABLE_SKIP_KEYS and item[key] is not None
                and not isinstance(item[key], (dict, list))}
    if isinstance(item, list):
        return {f"Column{index + 1}": value for index, value in enumerate(item)}
    return {"Result": item}


def to_table(result: Any, *, sort_keys: bool) -> str:
    rows = [_table_row(item, sort_keys=sort_keys) for item in _rows(result)]
    headers: list[str] = []
    for row in rows:
        headers.extend(header for header in row if header not in headers)
    if not headers:
        return ""
    cells = [[_cell(row[h]) if h in row else "" for h in headers] for row in rows]
    widths = [max([len(h)] + [len(line[i]) for line in cells]) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        return "  ".join(value.ljust(width) for value, width in zip(values, widths)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(c) for c in cells])


def _tsv_field(value: Any) -> str:
    if isinstance(value, list):
        return str(len(value))
    if isinstance(value, dict):
        return ""
    return _cell(value)


def to_tsv(result: Any, *, sort_keys: bool) -> str:
    lines = []
    for item in _rows(result):
        if isinstance(item, dict):
            values = [item[key] for key in (sorted(item) if sort_keys else item)]
            lines.append("\t".join(_tsv_field(value) for value in values))
        elif isinstance(item, list):
            lines.append("\t".join(_tsv_field(value) for value in item))
        else:
            lines.append(_tsv_field(item))
    return "\n".join(lines)
