"""Pieces the non-HTTP trigger services (queues, timers) share with the real host's conventions.

- `%Setting%` expressions in binding values, resolved from app settings as the host's name resolver
  (`INameResolver.ResolveWholeString`) does.
- .NET `TimeSpan` text ("00:00:10", "1.00:00:00", "5" = five days), the type host.json and timer
  schedules use.
- Connection names (`connection` in a binding) -> storage connection strings, as
  `IConfiguration.GetWebJobsConnectionString` looks them up.
- Running one invocation with the host's one `Executed 'Functions.<name>' (Succeeded|Failed)` log line.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from datetime import timedelta

from devhost.bindings import Invocation, UnsupportedBindingError
from devhost.invoking import Invoker, user_exc_info
from devhost.logs import fields
from devhost.settings import STORAGE_SETTING, SettingsError, StorageAccount, parse_connection_string

SETTING_EXPRESSION = re.compile(r"%([^%]+)%")
CONNECTION_PREFIX = "AzureWebJobs"


class BindingConfigError(Exception):
    """A trigger or binding value the host cannot use (the real host puts the function in error)."""


def resolve_setting_expressions(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace each `%Name%` with the app setting `Name`; a missing setting is an error, as in the host."""
    environ = os.environ if environ is None else environ

    def setting(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise BindingConfigError(f"'%{name}%' does not resolve to a value")
        return environ[name]

    return SETTING_EXPRESSION.sub(setting, text)


_TIMESPAN = re.compile(
    r"^\s*(?P<sign>-)?(?:(?P<days>\d+)\.)?(?P<hours>\d+):(?P<minutes>\d+)"
    r"(?::(?P<seconds>\d+)(?:\.(?P<fraction>\d{1,7}))?)?\s*$"
)
_DAYS_ONLY = re.compile(r"^\s*(?P<sign>-)?(?P<days>\d+)\s*$")


def parse_timespan(text: str) -> timedelta:
    """.NET `TimeSpan.Parse` (invariant culture): `[-][d.]hh:mm[:ss[.fffffff]]`, or `d` alone = days.

    NB: a bare number is DAYS, as in .NET ("2000" is 2000 days, not 2 seconds).
    """
    value = str(text)
    match = _DAYS_ONLY.match(value)
    if match:
        days = int(match["days"])
        return -timedelta(days=days) if match["sign"] else timedelta(days=days)
    match = _TIMESPAN.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a TimeSpan ([-][d.]hh:mm[:ss[.fffffff]])")
    hours, minutes = int(match["hours"]), int(match["minutes"])
    seconds = int(match["seconds"] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(f"{value!r} is not a TimeSpan (hours 0-23, minutes and seconds 0-59)")
    fraction = (match["fraction"] or "").ljust(7, "0")
    result = timedelta(days=int(match["days"] or 0), hours=hours, minutes=minutes, seconds=seconds,
                       microseconds=int(fraction) // 10)
    return -result if match["sign"] else result


def format_timespan(value: timedelta) -> str:
    """`d.hh:mm:ss[.fffffff]` like .NET's `TimeSpan.ToString()` (for log lines)."""
    total_us = int(value / timedelta(microseconds=1))
    sign = "-" if total_us < 0 else ""
    total_us = abs(total_us)
    seconds, micros = divmod(total_us, 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    text = f"{sign}{f'{days}.' if days else ''}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return text + (f".{micros:06d}0" if micros else "")


def storage_for_connection(connection: str | None, environ: Mapping[str, str] | None = None) -> StorageAccount:
    """The storage account a binding's `connection` names (default: AzureWebJobsStorage).

    Lookup order copies the WebJobs SDK: the setting `AzureWebJobs<name>` first, then `<name>`.
    Identity-based connections (`<name>__queueServiceUri`) are not supported.
    """
    environ = os.environ if environ is None else environ
    name = (connection or "").strip() or "Storage"
    for candidate in (f"{CONNECTION_PREFIX}{name}", name):
        value = environ.get(candidate, "").strip()
        if value:
            try:
                return parse_connection_string(value)
            except SettingsError as exc:
                raise BindingConfigError(f"connection {name!r} (setting {candidate}): {exc}") from None
    if name == "Storage" or name == STORAGE_SETTING:
        raise BindingConfigError(f"{STORAGE_SETTING} is not set")
    raise BindingConfigError(f"connection {name!r}: neither setting {CONNECTION_PREFIX}{name} nor {name} is set")


async def execute(invoker: Invoker, invocation: Invocation, *, logger: logging.Logger, reason: str,
                  **details: object) -> bool:
    """Invoke and log one line for the outcome; True when the function succeeded.

    Exceptions from the function (and conversion errors) are logged with the user's frames and turned
    into False, as the host's executor does: the trigger decides what a failure means (retry, poison...).
    """
    fn = invocation.function
    started = time.perf_counter()
    ids = fields(reason=reason, **details, function=fn.name, invocation_id=invocation.invocation_id)
    try:
        await invoker.invoke(invocation)
    except UnsupportedBindingError as exc:
        logger.error("Executed 'Functions.%s' (Failed) %s %s", fn.name, ids, fields(error=str(exc)))
        return False
    except Exception as exc:
        duration = (time.perf_counter() - started) * 1000
        logger.error("Executed 'Functions.%s' (Failed) %s duration_ms=%.1f", fn.name, ids, duration,
                     exc_info=user_exc_info(exc))
        return False
    duration = (time.perf_counter() - started) * 1000
    logger.info("Executed 'Functions.%s' (Succeeded) %s duration_ms=%.1f", fn.name, ids, duration)
    return True
