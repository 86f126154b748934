"""Route templates as the Functions host reads them (ASP.NET Core route template syntax).

Supported: literal segments (matched case-insensitively), `{name}`, optional `{name?}`, defaults
`{name=value}`, catch-all `{*rest}` / `{**rest}` (the rest of the path, slashes included), complex
segments such as `{file}.{ext}`, `{{` / `}}` escapes, and the inline constraints `int long bool guid
alpha decimal double float datetime required file nonfile length(n) length(min,max) minlength(n)
maxlength(n) min(n) max(n) range(min,max) regex(expr)`.

When several routes match one path, the one with the lowest ASP.NET inbound precedence wins: per
segment, literal (1) < complex or constrained parameter (2) < parameter (3) < constrained catch-all (4)
< catch-all (5); ties keep registration order. A method outside a route's `methods` makes that route
not match (the real host then answers 404, not 405).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Generic, TypeVar
from urllib.parse import unquote

T = TypeVar("T")


class RouteTemplateError(ValueError):
    pass


@dataclass(frozen=True)
class Constraint:
    text: str
    check: Callable[[str], bool] = field(compare=False, repr=False)


@dataclass(frozen=True)
class Literal:
    text: str


@dataclass(frozen=True)
class Parameter:
    name: str
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    constraints: tuple[Constraint, ...] = ()

    def accepts(self, value: str) -> bool:
        return all(c.check(value) for c in self.constraints)

    @property
    def may_be_absent(self) -> bool:
        return self.optional or self.catch_all or self.default is not None


Part = Literal | Parameter


# ---------------------------------------------------------------- constraints

_INT_RE = re.compile(r"\s*[+-]?\d+\s*")
_GUID_RES = (
    re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE),
    re.compile(r"[0-9a-f]{32}", re.IGNORECASE),
    re.compile(r"\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}", re.IGNORECASE),
    re.compile(r"\([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\)", re.IGNORECASE),
)


def _integer(lo: int, hi: int) -> Callable[[str], bool]:
    return lambda v: bool(_INT_RE.fullmatch(v)) and lo <= int(v) <= hi


def _to_int(value: str) -> int | None:
    return int(value) if _INT_RE.fullmatch(value) else None


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _is_guid(value: str) -> bool:
    return any(r.fullmatch(value) for r in _GUID_RES)


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
        return True
    except ValueError:
        pass
    for fmt in ("%m/%d/%Y", "%m/%d/%Y %H:%M:%S", "%Y/%m/%d"):
        try:
            datetime.strptime(value, fmt)
            return True
        except ValueError:
            continue
    return False


def _is_file(value: str) -> bool:
    last = value.rsplit("/", 1)[-1]
    dot = last.find(".")
    return dot >= 0 and any(c != "." for c in last[dot:])


def _ints(name: str, arg: str | None, count: Iterable[int]) -> list[int]:
    parts = [p.strip() for p in (arg or "").split(",")] if arg is not None else []
    if len(parts) not in tuple(count) or any(_to_int(p) is None for p in parts):
        raise RouteTemplateError(f"constraint {name!r} needs integer arguments, got ({arg})")
    return [int(p) for p in parts]


def make_constraint(name: str, arg: str | None) -> Constraint:
    """One inline constraint; unknown names fail like ASP.NET ("could not be resolved")."""
    key = name.lower()
    text = f"{name}({arg})" if arg is not None else name
    simple: dict[str, Callable[[str], bool]] = {
        "int": _integer(-(2**31), 2**31 - 1),
        "long": _integer(-(2**63), 2**63 - 1),
        "bool": lambda v: v.lower() in ("true", "false"),
        "guid": _is_guid,
        "alpha": lambda v: re.fullmatch(r"[A-Za-z]*", v) is not None,
        "decimal": _is_number,
        "double": _is_number,
        "float": _is_number,
        "datetime": _is_datetime,
        "required": lambda v: v != "",
        "file": _is_file,
        "nonfile": lambda v: not _is_file(v),
    }
    if key in simple:
        if arg is not None:
            raise RouteTemplateError(f"constraint {name!r} takes no argument")
        return Constraint(text, simple[key])
    if key == "regex":
        if not arg:
            raise RouteTemplateError("constraint 'regex' needs a pattern")
        try:
            # NB: like ASP.NET, the pattern is NOT anchored: use ^...$ to match the whole value.
            pattern = re.compile(arg, re.IGNORECASE)
        except re.error as exc:
            raise RouteTemplateError(f"invalid regex constraint ({arg}): {exc}") from None
        return Constraint(text, lambda v: pattern.search(v) is not None)
    if key == "length":
        nums = _ints(name, arg, (1, 2))
        lo, hi = (nums[0], nums[0]) if len(nums) == 1 else nums
        return Constraint(text, lambda v: lo <= len(v) <= hi)
    if key in ("minlength", "maxlength", "min", "max"):
        (n,) = _ints(name, arg, (1,))
        checks = {
            "minlength": lambda v: len(v) >= n,
            "maxlength": lambda v: len(v) <= n,
            "min": lambda v: (i := _to_int(v)) is not None and i >= n,
            "max": lambda v: (i := _to_int(v)) is not None and i <= n,
        }
        return Constraint(text, checks[key])
    if key == "range":
        lo, hi = _ints(name, arg, (2,))
        return Constraint(text, lambda v: (i := _to_int(v)) is not None and lo <= i <= hi)
    raise RouteTemplateError(f"the constraint reference {name!r} could not be resolved")


# ---------------------------------------------------------------- parsing

_NAME_RE = re.compile(r"[^:=?{}/*]+")
_CONSTRAINT_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def _parse_parameter(body: str, template: str) -> Parameter:
    text = body
    catch_all = False
    if text.startswith("**"):
        catch_all, text = True, text[2:]
    elif text.startswith("*"):
        catch_all, text = True, text[1:]
    m = _NAME_RE.match(text)
    if not m or not m.group().strip():
        raise RouteTemplateError(f"invalid parameter {{{body}}} in route {template!r}")
    name = m.group().strip()
    rest = text[m.end():]
    optional = False
    if rest.endswith("?"):
        optional, rest = True, rest[:-1]
    constraints = []
    while rest.startswith(":"):
        cm = _CONSTRAINT_NAME_RE.match(rest, 1)
        if not cm:
            raise RouteTemplateError(f"invalid constraint in {{{body}}} in route {template!r}")
        cname, pos, arg = cm.group(), cm.end(), None
        if rest[pos:pos + 1] == "(":
            depth, j = 0, pos
            while j < len(rest):
                ch = rest[j]
                if ch == "\\":
                    j += 2
                    continue
                if ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j >= len(rest):
                raise RouteTemplateError(f"unbalanced parentheses in {{{body}}} in route {template!r}")
            arg, pos = rest[pos + 1:j], j + 1
        constraints.append(make_constraint(cname, arg))
        rest = rest[pos:]
    default = None
    if rest.startswith("="):
        default, rest = rest[1:], ""
        if optional:
            raise RouteTemplateError(f"optional parameter {name!r} cannot have a default value")
    if rest:
        raise RouteTemplateError(f"invalid parameter {{{body}}} in route {template!r}")
    if catch_all and optional:
        raise RouteTemplateError(f"catch-all parameter {name!r} cannot be marked optional (it already is)")
    return Parameter(name=name, optional=optional, catch_all=catch_all, default=default,
                     constraints=tuple(constraints))


def _tokenize(template: str) -> list[list[Part]]:
    segments: list[list[Part]] = []
    parts: list[Part] = []
    literal: list[str] = []
    i, n = 0, len(template)

    def flush_literal() -> None:
        if literal:
            parts.append(Literal("".join(literal)))
            literal.clear()

    def end_segment() -> None:
        flush_literal()
        if not parts:
            raise RouteTemplateError(f"the route {template!r} contains an empty segment ('//')")
        segments.append(list(parts))
        parts.clear()

    while i < n:
        ch = template[i]
        if ch == "/":
            end_segment()
            i += 1
        elif ch == "{":
            if template.startswith("{{", i):
                literal.append("{")
                i += 2
                continue
            j, body = i + 1, []
            while j < n:
                if template[j] == "}":
                    if template.startswith("}}", j):
                        body.append("}")
                        j += 2
                        continue
                    break
                if template[j] == "{":
                    if template.startswith("{{", j):
                        body.append("{")
                        j += 2
                        continue
                    raise RouteTemplateError(f"unescaped '{{' inside a parameter in route {template!r}")
                body.append(template[j])
                j += 1
            if j >= n:
                raise RouteTemplateError(f"unclosed parameter in route {template!r}")
            flush_literal()
            parts.append(_parse_parameter("".join(body), template))
            i = j + 1
        elif ch == "}":
            if not template.startswith("}}", i):
                raise RouteTemplateError(f"unescaped '}}' in route {template!r}")
            literal.append("}")
            i += 2
        else:
            literal.append(ch)
            i += 1
    if literal or parts:
        end_segment()
    return segments


def _precedence_digit(segment: tuple[Part, ...]) -> int:
    if len(segment) > 1:
        return 2
    part = segment[0]
    if isinstance(part, Literal):
        return 1
    digit = 5 if part.catch_all else 3
    return digit - 1 if part.constraints else digit


@dataclass(frozen=True)
class RouteTemplate:
    text: str
    segments: tuple[tuple[Part, ...], ...]
    precedence: tuple[int, ...]
    _complex: dict[int, re.Pattern[str]] = field(compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> RouteTemplate:
        body = text.strip()
        body = body.removeprefix("~/")
        body = body.lstrip("/")
        if body.endswith("/"):
            body = body.rstrip("/")
        segments = tuple(tuple(seg) for seg in _tokenize(body))
        names: set[str] = set()
        complex_patterns: dict[int, re.Pattern[str]] = {}
        absent_ok_from: int | None = None
        for idx, seg in enumerate(segments):
            if any(isinstance(p, Literal) and "?" in p.text for p in seg):
                raise RouteTemplateError(f"the literal part of route {text!r} cannot contain '?'")
            params = [p for p in seg if isinstance(p, Parameter)]
            for p in params:
                if p.name.lower() in names:
                    raise RouteTemplateError(f"the route parameter name {p.name!r} appears more than once")
                names.add(p.name.lower())
                if p.catch_all and (idx != len(segments) - 1 or len(seg) != 1):
                    raise RouteTemplateError(
                        f"a catch-all parameter can only appear as the last segment of the route ({text!r})")
            if len(seg) > 1:
                if any(p.optional or p.default is not None for p in params):
                    raise RouteTemplateError(
                        f"optional/default parameters inside a complex segment are not supported ({text!r})")
                if any(isinstance(a, Parameter) and isinstance(b, Parameter) for a, b in pairwise(seg)):
                    raise RouteTemplateError(f"a path segment cannot contain two consecutive parameters ({text!r})")
                regex = "".join(
                    f"(?P<p{k}>.+)" if isinstance(part, Parameter) else re.escape(part.text)
                    for k, part in enumerate(seg)
                )
                complex_patterns[idx] = re.compile(regex, re.IGNORECASE | re.DOTALL)
            single_absent = len(seg) == 1 and isinstance(seg[0], Parameter) and seg[0].may_be_absent
            if single_absent and absent_ok_from is None:
                absent_ok_from = idx
            elif not single_absent and absent_ok_from is not None:
                raise RouteTemplateError(
                    f"an optional parameter must be at the end of the route ({text!r})")
        precedence = tuple(_precedence_digit(seg) for seg in segments)
        return cls(text=body, segments=segments, precedence=precedence, _complex=complex_patterns)

    @property
    def parameters(self) -> tuple[Parameter, ...]:
        return tuple(p for seg in self.segments for p in seg if isinstance(p, Parameter))

    def match(self, path_segments: list[str]) -> dict[str, str] | None:
        """Route values for a split, decoded path, or None. Absent optional values are left out."""
        values: dict[str, str] = {}
        for idx, seg in enumerate(self.segments):
            first = seg[0]
            if len(seg) == 1 and isinstance(first, Parameter) and first.catch_all:
                rest = "/".join(path_segments[idx:])
                if rest:
                    if not first.accepts(rest):
                        return None
                    values[first.name] = rest
                elif first.default is not None:
                    values[first.name] = first.default
                return values
            if idx >= len(path_segments):
                if len(seg) == 1 and isinstance(first, Parameter) and first.may_be_absent:
                    if first.default is not None:
                        values[first.name] = first.default
                    continue
                return None
            text = path_segments[idx]
            if len(seg) == 1:
                if isinstance(first, Literal):
                    if text.lower() != first.text.lower():
                        return None
                else:
                    if not text or not first.accepts(text):
                        return None
                    values[first.name] = text
                continue
            m = self._complex[idx].fullmatch(text)
            if m is None:
                return None
            for k, part in enumerate(seg):
                if isinstance(part, Parameter):
                    value = m.group(f"p{k}")
                    if not part.accepts(value):
                        return None
                    values[part.name] = value
        if len(path_segments) > len(self.segments):
            return None
        return values


def join_route(prefix: str, route: str) -> str:
    """`api` + `items/{id}` -> `api/items/{id}`; an empty prefix leaves the route alone."""
    route = route.strip()
    route = route.removeprefix("~/")
    return "/".join(p for p in (prefix.strip("/"), route.strip("/")) if p)


def split_path(raw_path: str) -> list[str]:
    """Split a raw (still percent-encoded) URL path into decoded segments, as ASP.NET sees them.

    NB: `%2F` stays `%2F` inside a segment (ASP.NET never decodes it), and one trailing slash is ignored.
    """
    path = raw_path.split("?", 1)[0].lstrip("/")
    path = path.removesuffix("/")
    if not path:
        return []
    return [unquote(seg.replace("%2F", "%252F").replace("%2f", "%252f")) for seg in path.split("/")]


@dataclass(frozen=True)
class RouteEntry(Generic[T]):
    template: RouteTemplate
    methods: frozenset[str] | None
    target: T
    order: int


class RouteTable(Generic[T]):
    """Routes ordered by precedence; `match` returns the first entry whose template and method fit."""

    def __init__(self) -> None:
        self._entries: list[RouteEntry[T]] = []

    def add(self, template: RouteTemplate, methods: Iterable[str] | None, target: T) -> RouteEntry[T]:
        entry = RouteEntry(
            template=template,
            methods=frozenset(m.upper() for m in methods) if methods else None,
            target=target,
            order=len(self._entries),
        )
        self._entries.append(entry)
        self._entries.sort(key=lambda e: (e.template.precedence, e.order))
        return entry

    def __iter__(self):
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def match(self, method: str, path_segments: list[str]) -> tuple[RouteEntry[T], dict[str, str]] | None:
        method = method.upper()
        for entry in self._entries:
            if entry.methods is not None and method not in entry.methods:
                continue
            values = entry.template.match(path_segments)
            if values is not None:
                return entry, values
        return None
