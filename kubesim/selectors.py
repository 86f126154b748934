"""Label selectors (=, ==, !=, in, notin, exists, !exists, gt, lt) and field selectors, as the apiserver parses them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubesim import errors
from kubesim.resources import ResourceType

Predicate = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            # NB: as in Kubernetes, an object without the key matches `key!=v` and `key notin (...)`.
            return not present or value not in self.values
        if self.operator in ("gt", "lt"):
            try:
                number, bound = int(value or ""), int(self.values[0])
            except ValueError:
                return False
            return number > bound if self.operator == "gt" else number < bound
        return False


_KEY = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?"
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*$")
_CMP = re.compile(rf"^\s*({_KEY})\s*(==|=|!=|>|<)\s*([-A-Za-z0-9_.]*)\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses: `a in (x,y),b` is two requirements."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def parse_label_selector(text: str | None) -> list[Requirement]:
    if not text or not text.strip():
        return []
    requirements = []
    for part in _split_top_level(text):
        if match := _SET.match(part):
            values = tuple(v.strip() for v in match.group(3).split(",") if v.strip())
            requirements.append(Requirement(match.group(1), match.group(2), values))
        elif match := _CMP.match(part):
            op = {"==": "=", ">": "gt", "<": "lt"}.get(match.group(2), match.group(2))
            if op in ("gt", "lt") and not re.fullmatch(r"-?\d+", match.group(3)):
                raise errors.bad_request(f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be "
                                         f"an integer: {part.strip()}")
            requirements.append(Requirement(match.group(1), op, (match.group(3),)))
        elif match := _EXISTS.match(part):
            requirements.append(Requirement(match.group(2), "!" if match.group(1) else "exists"))
        else:
            raise errors.bad_request(f"unable to parse requirement: found '{part.strip()}', expected: "
                                     f"'=', '!=', '==', 'in', notin'")
    return requirements


def labels_match(requirements: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in requirements)


def selector_object_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """A `metav1.LabelSelector` ({matchLabels, matchExpressions}); an empty selector matches everything."""
    if not selector:
        return True
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expression in selector.get("matchExpressions") or []:
        requirement = Requirement(expression.get("key", ""), ops.get(expression.get("operator", ""), "?"),
                                  tuple(expression.get("values") or ()))
        if not requirement.matches(labels):
            return False
    return True


def selector_object_string(selector: Mapping[str, Any] | None) -> str:
    """`a=b,c in (d)`: the string form the Scale subresource and tables show."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        op, key = expression.get("operator"), expression.get("key")
        values = ",".join(expression.get("values") or [])
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key,
                      "DoesNotExist": f"!{key}"}.get(op, key))
    return ",".join(parts)


# Fields the apiserver lets clients select on, beyond metadata.name / metadata.namespace.
FIELD_LABELS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "pods"): ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                   "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"),
    ("", "namespaces"): ("status.phase",),
    ("", "secrets"): ("type",),
    ("", "events"): ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                     "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                     "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"),
    ("apps", "replicasets"): ("status.replicas",),
}


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if path == "source" and isinstance(value, Mapping):
        value = value.get("component")
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse_field_selector(text: str | None, rt: ResourceType) -> Predicate:
    """A predicate over objects; unknown field labels are a 400, as from the apiserver."""
    if not text or not text.strip():
        return lambda _obj: True
    allowed = {"metadata.name", "metadata.namespace", *FIELD_LABELS.get(rt.key, ()), *rt.selectable_fields}
    terms: list[tuple[str, bool, str]] = []
    for part in re.split(r"(?<!\\),", text):
        if not part.strip():
            continue
        match = re.match(r"^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not match:
            raise errors.bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = match.groups()
        if field not in allowed:
            raise errors.bad_request(f'field label not supported: {field}')
        terms.append((field, op != "!=", _unescape(value)))

    def predicate(obj: dict[str, Any]) -> bool:
        return all((_field_value(obj, field) == value) == equal for field, equal, value in terms)

    return predicate


def object_predicate(*, rt: ResourceType, label_selector: str | None, field_selector: str | None) -> Predicate:
    requirements = parse_label_selector(label_selector)
    fields = parse_field_selector(field_selector, rt)
    return lambda obj: labels_match(requirements, (obj.get("metadata") or {}).get("labels")) and fields(obj)
