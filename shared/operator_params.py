"""Flux v1 daemon flags a configuration may carry in `operatorParams`, and the `--git-readonly` rule.

`operatorParams` ends up as arguments of the `fluxd` container, so it is checked here the way
fluxd's own flag parser (spf13/pflag, see fluxcd/flux cmd/fluxd/main.go) would see it: split like
a shell, `--flag`, `--flag=value` or `--flag value`. Only flags a user may tune are allowed; flags
the service sets itself (`--git-url`, `--k8s-secret-name`, `--memcached-*`, `--listen`, ...) are
unknown flags here, so a configuration cannot point fluxd elsewhere. A value is checked at PUT time
when fluxd would reject it at start-up (durations, booleans, numbers, choices) or when it could
escape the repository (`--git-path`).

Errors are `OperatorParamsError` with a text that names the flag; `shared.validation` prefixes it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass

READONLY_FLAG = "--git-readonly"
COMMITTER_FLAGS = frozenset({"--git-user", "--git-email"})

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_DURATION_PART = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<unit>ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS_IN_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                              "h": 3600.0}
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*")
_KUBERNETES_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_GIT_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")
_BOOLEAN_VALUES = {"1": True, "t": True, "T": True, "true": True, "TRUE": True, "True": True,
                   "0": False, "f": False, "F": False, "false": False, "FALSE": False, "False": False}
_MAX_TEXT_LENGTH = 1024


class OperatorParamsError(ValueError):
    """`operatorParams` that fluxd would refuse, or that the service does not allow."""


@dataclass(frozen=True)
class OperatorParam:
    flag: str            # "--git-branch"
    value: str | None    # None: a boolean flag given without a value

    def as_arg(self) -> str:
        """The single fluxd argument for this parameter: `--flag` or `--flag=value`."""
        return self.flag if self.value is None else f"{self.flag}={self.value}"


def parse_operator_params(text: str) -> tuple[OperatorParam, ...]:
    """Every flag in `text`, in order, each checked; raises `OperatorParamsError`."""
    if "$(" in text:
        # NB: Kubernetes expands $(VAR) in container arguments, so a flag could read the operator's environment
        # (the https credentials among it) into a value fluxd sends somewhere.
        raise OperatorParamsError("$(...) is not allowed: Kubernetes would expand it from the operator's "
                                  "environment")
    try:
        tokens = shlex.split(text)
    except ValueError as error:
        raise OperatorParamsError(f"unbalanced quotes ({error})") from error
    params = []
    position = 0
    while position < len(tokens):
        param, position = _read_param(tokens, position)
        _FLAG_CHECKS[param.flag](param.flag, param.value)
        params.append(param)
    return tuple(params)


def with_readonly_rule(text: str, params: Iterable[OperatorParam]) -> str:
    """`operatorParams` as stored: `--git-readonly` appended when no committer is configured.

    Azure adds `--git-readonly` when neither `--git-user` nor `--git-email` is given, so fluxd never
    pushes commits under a made-up identity. A `--git-readonly` (or `--git-readonly=false`) the user
    wrote already is left as written.
    """
    flags = {param.flag for param in params}
    stored = text.strip()
    if flags & COMMITTER_FLAGS or READONLY_FLAG in flags:
        return stored
    return f"{stored} {READONLY_FLAG}" if stored else READONLY_FLAG


def allowed_flags() -> list[str]:
    return sorted(_FLAG_CHECKS)


def _read_param(tokens: list[str], position: int) -> tuple[OperatorParam, int]:
    token = tokens[position]
    if not token.startswith("--") or token == "--":
        raise OperatorParamsError(
            f"unexpected argument {token!r}; each parameter must be --flag, --flag=value or --flag value")
    flag, has_value, value = token.partition("=")
    if flag not in _FLAG_CHECKS:
        raise OperatorParamsError(f"unknown flag {flag}; allowed flags: {', '.join(allowed_flags())}")
    if has_value:
        return OperatorParam(flag, value), position + 1
    if flag in _BOOLEAN_FLAGS:
        return OperatorParam(flag, None), position + 1
    following = tokens[position + 1] if position + 1 < len(tokens) else None
    if following is None or following.startswith("--"):
        raise OperatorParamsError(f"flag {flag} needs a value")
    return OperatorParam(flag, following), position + 2


# Value checks: each takes the flag (for the message) and the value (None only for boolean flags).

def _check_boolean(flag: str, value: str | None) -> None:
    if value is not None and value not in _BOOLEAN_VALUES:
        raise OperatorParamsError(f"flag {flag} takes true or false, not {value!r}")


def _check_duration(flag: str, value: str | None) -> None:
    text = _required(flag, value)
    if parse_go_duration(text) is None:
        raise OperatorParamsError(
            f"flag {flag} needs a positive duration such as 30s, 5m, 1h or 1m30s, not {text!r}")


def parse_go_duration(text: str) -> float | None:
    """Seconds in a Go `time.ParseDuration` text (`1m30s`, `500ms`, `1.5h`), or None when invalid or <= 0."""
    seconds = 0.0
    position = 0
    while position < len(text):
        part = _DURATION_PART.match(text, position)
        if part is None:
            return None
        seconds += float(part["number"]) * _DURATION_UNITS_IN_SECONDS[part["unit"]]
        position = part.end()
    return seconds if seconds > 0 else None


def _check_git_paths(flag: str, value: str | None) -> None:
    """pflag's StringSlice: comma-separated; each path relative to the repository root, without `..`."""
    for path in _required(flag, value).split(","):
        segments = path.split("/")
        if not path or path.startswith("/") or ".." in segments or "\\" in path or _has_control(path):
            raise OperatorParamsError(
                f"flag {flag} needs paths relative to the repository root, without '..', not {path!r}")


def _check_git_ref(flag: str, value: str | None) -> None:
    """The rules of `git check-ref-format --branch`, which branch, tag and notes ref names follow."""
    name = _required(flag, value)
    if (len(name) > 255 or _GIT_REF_FORBIDDEN.search(name) or name.startswith(("-", "/", "."))
            or name.endswith(("/", ".", ".lock")) or name == "@" or "/." in name):
        raise OperatorParamsError(f"flag {flag} needs a valid git reference name, not {name!r}")


def _check_email(flag: str, value: str | None) -> None:
    email = _required(flag, value)
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise OperatorParamsError(
            f"flag {flag} needs an email address such as flux@example.com, not {email!r}")


def _check_text(flag: str, value: str | None) -> None:
    text = _required(flag, value)
    if len(text) > _MAX_TEXT_LENGTH or _has_control(text):
        raise OperatorParamsError(
            f"flag {flag} needs a single-line value of at most {_MAX_TEXT_LENGTH} characters")


def _check_text_list(flag: str, value: str | None) -> None:
    for item in _required(flag, value).split(","):
        _check_text(flag, item)


def _check_namespace(flag: str, value: str | None) -> None:
    name = _required(flag, value)
    if len(name) > 63 or not _KUBERNETES_NAME.fullmatch(name):
        raise OperatorParamsError(f"flag {flag} needs Kubernetes namespace names, not {name!r}")


def _check_namespace_list(flag: str, value: str | None) -> None:
    for name in _required(flag, value).split(","):
        _check_namespace(flag, name)


def _check_integer(low: int, high: int) -> Callable[[str, str | None], None]:
    def check(flag: str, value: str | None) -> None:
        text = _required(flag, value)
        if not re.fullmatch(r"[0-9]+", text) or not low <= int(text) <= high:
            raise OperatorParamsError(f"flag {flag} needs a whole number from {low} to {high}, not {text!r}")
    return check


def _check_positive_number(flag: str, value: str | None) -> None:
    text = _required(flag, value)
    if not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text) or float(text) <= 0:
        raise OperatorParamsError(f"flag {flag} needs a positive number, not {text!r}")


def _check_choice(*choices: str) -> Callable[[str, str | None], None]:
    def check(flag: str, value: str | None) -> None:
        text = _required(flag, value)
        if text not in choices:
            raise OperatorParamsError(f"flag {flag} must be one of {', '.join(choices)}, not {text!r}")
    return check


def _check_choice_list(*choices: str) -> Callable[[str, str | None], None]:
    check_one = _check_choice(*choices)

    def check(flag: str, value: str | None) -> None:
        for item in _required(flag, value).split(","):
            check_one(flag, item)
    return check


def _required(flag: str, value: str | None) -> str:
    if not value:
        raise OperatorParamsError(f"flag {flag} needs a value")
    return value


def _has_control(text: str) -> bool:
    return _CONTROL_CHARACTERS.search(text) is not None


_BOOLEAN_FLAGS = frozenset({
    "--git-readonly",
    "--git-set-author",
    "--git-secret",
    "--git-ci-skip",
    "--git-verify-signatures",
    "--sops",
    "--manifest-generation",
    "--sync-garbage-collection",
    "--sync-garbage-collection-dry",
    "--registry-disable-scanning",
    "--registry-trace",
})

# The fluxd 1.x flags a configuration may set (cmd/fluxd/main.go), each with its value check.
_FLAG_CHECKS: dict[str, Callable[[str, str | None], None]] = {
    **{flag: _check_boolean for flag in _BOOLEAN_FLAGS},
    # git
    "--git-branch": _check_git_ref,
    "--git-path": _check_git_paths,
    "--git-user": _check_text,
    "--git-email": _check_email,
    "--git-label": _check_git_ref,
    "--git-sync-tag": _check_git_ref,
    "--git-notes-ref": _check_git_ref,
    "--git-ci-skip-message": _check_text,
    "--git-poll-interval": _check_duration,
    "--git-timeout": _check_duration,
    "--git-signing-key": _check_text,
    "--git-verify-signatures-mode": _check_choice("none", "all", "first-parent"),
    # syncing
    "--sync-interval": _check_duration,
    "--sync-timeout": _check_duration,
    "--sync-state": _check_choice("git", "secret"),
    # image registry scanning and automation
    "--automation-interval": _check_duration,
    "--registry-poll-interval": _check_duration,
    "--registry-rps": _check_positive_number,
    "--registry-burst": _check_integer(1, 1000),
    "--registry-insecure-host": _check_text_list,
    "--registry-exclude-image": _check_text_list,
    "--registry-include-image": _check_text_list,
    "--registry-use-labels": _check_text_list,
    "--registry-require": _check_choice_list("ecr"),
    # Kubernetes scope
    "--k8s-allow-namespace": _check_namespace_list,
    "--k8s-namespace-whitelist": _check_namespace_list,
    "--k8s-default-namespace": _check_namespace,
    "--k8s-unsafe-exclude-resource": _check_text_list,
    "--k8s-verbosity": _check_integer(0, 10),
    # logging
    "--log-format": _check_choice("fmt", "json"),
}
