"""YAML from Git, parsed within bounds: a size cap, no aliases, limited nesting.

Why: `yaml.safe_load` runs no code but still expands aliases (a few hundred bytes can stand for billions
of nodes: the "billion laughs") and recurses once per nesting level (a deep document is a RecursionError
or a stalled worker). Anchors without aliases are harmless and accepted; an alias is refused, and so
is a merge key (`<<`), which needs one. NB: the agent's copy of shared/safe_yaml.py (the agent imports
nothing of the app).
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_DEPTH = 64


class UnsafeYamlError(yaml.MarkedYAMLError):
    """A document outside the bounds; a `YAMLError`, so callers that handle bad YAML handle this too."""


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise UnsafeYamlError(None, None, "YAML aliases (*name) are not allowed", event.start_mark)
        if self._depth >= MAX_DEPTH:
            raise UnsafeYamlError(None, None, f"YAML nested deeper than {MAX_DEPTH} levels",
                                  self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_size(text: str, max_chars: int) -> None:
    if len(text) > max_chars:
        raise UnsafeYamlError(None, None, f"YAML longer than {max_chars} characters")


def load(text: str, *, max_chars: int) -> Any:
    """The one document in `text` (None if empty); `yaml.YAMLError` for bad or unbounded YAML."""
    _check_size(text, max_chars)
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_all(text: str, *, max_chars: int) -> list[Any]:
    """Every document in `text`, in order; `yaml.YAMLError` for bad or unbounded YAML."""
    _check_size(text, max_chars)
    loader = _BoundedLoader(text)
    try:
        documents = []
        while loader.check_data():
            documents.append(loader.get_data())
        return documents
    finally:
        loader.dispose()
