"""Injected image faults: containers whose image matches a pattern never start.

A fault names an fnmatch pattern, the waiting reason the container shows (ImagePullBackOff by
default, or ErrImagePull, CrashLoopBackOff, ...) and a message. Set from the command line
(`--fail-image PATTERN[=REASON]`) or at runtime through `/kubesim/faults`.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_REASON = "ImagePullBackOff"


@dataclass(frozen=True)
class Fault:
    image: str
    reason: str = DEFAULT_REASON
    message: str = ""

    def matches(self, image: str) -> bool:
        return fnmatch.fnmatchcase(image, self.image)

    def message_for(self, image: str) -> str:
        if self.message:
            return self.message.replace("{image}", image)
        if self.reason in ("ImagePullBackOff", "ErrImagePull"):
            return f'Back-off pulling image "{image}"'
        return f'container with image "{image}" failed: {self.reason}'

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        image = data.get("image")
        if not isinstance(image, str) or not image:
            raise ValueError('a fault needs "image": an fnmatch pattern')
        return cls(image=image, reason=str(data.get("reason") or DEFAULT_REASON), message=str(data.get("message") or ""))


def parse_flag(text: str) -> Fault:
    """`PATTERN[=REASON]`, as given to --fail-image."""
    pattern, _, reason = text.partition("=")
    if not pattern:
        raise ValueError(f"--fail-image needs a pattern: {text!r}")
    return Fault(image=pattern, reason=reason or DEFAULT_REASON)


class Faults:
    def __init__(self, initial: list[Fault] | None = None) -> None:
        self._faults: list[Fault] = list(initial or [])

    def add(self, fault: Fault) -> None:
        self._faults = [f for f in self._faults if f.image != fault.image] + [fault]

    def clear(self) -> None:
        self._faults = []

    def find(self, image: str) -> Fault | None:
        """The most recently added fault matching `image`."""
        return next((f for f in reversed(self._faults) if f.matches(image)), None)

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self._faults]
