"""What host.json (`extensions.durableTask`) asks of the durable engine, with the real extension's defaults."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from datetime import timedelta

from devhost.hostconfig import HostConfig, HostConfigError

log = logging.getLogger("devhost.durable")

DEFAULT_HUB_NAME = "TestHubName"  # what Core Tools uses when host.json names no hub
# Azure Storage provider limits the SDK is told about (AzureStorageDurabilityProvider): timers longer than
# maximumShortTimerDuration are split into longRunningTimerIntervalDuration pieces by the Python SDK.
DEFAULT_MAX_SHORT_TIMER = timedelta(days=6)
DEFAULT_LONG_TIMER_INTERVAL = timedelta(days=3)
# The Azure Storage provider's control-queue partitions: default 4, allowed 1..16.
DEFAULT_PARTITION_COUNT = 4
MAX_PARTITION_COUNT = 16
# How often a process looks at the live workers and (re)balances partitions. devhost-only; tests shorten it.
BALANCE_SECONDS_ENV = "DEVHOST_DURABLE_BALANCE_SECONDS"
DEFAULT_BALANCE_SECONDS = 2.0


def sanitize_hub_name(name: str) -> str:
    """Letters and digits only, starting with a letter, 3..45 characters (the real task hub name rules).

    The real extension refuses a bad name; devhost fixes it up and logs what it used instead.
    """
    clean = re.sub(r"[^A-Za-z0-9]", "", name)
    if not clean or not clean[0].isalpha():
        clean = "Hub" + clean
    clean = clean[:45]
    if len(clean) < 3:
        clean = (clean + "Hub")[:45]
    return clean


def timespan_text(span: timedelta) -> str:
    """.NET TimeSpan "c" format (`d.hh:mm:ss[.fffffff]`), which the Python SDK parses back."""
    total = int(span.total_seconds())
    ticks = span.microseconds * 10
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if days:
        text = f"{days}.{text}"
    if ticks:
        text += f".{ticks:07d}"
    return text


def parse_timespan(value: object, default: timedelta) -> timedelta:
    """host.json TimeSpan text (`hh:mm:ss`, `d.hh:mm:ss`) or a number of seconds."""
    if value is None:
        return default
    if isinstance(value, (int, float)):
        return timedelta(seconds=float(value))
    match = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d{2}):(\d{2})(?:\.(\d+))?", str(value).strip())
    if not match:
        log.warning("durableTask: cannot read the time span %r; using %s", value, default)
        return default
    days, hours, minutes, seconds, fraction = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    return timedelta(days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=int(seconds),
                     microseconds=micro)


def _positive_int(value: object, default: int) -> int:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def partition_count_of(config: HostConfig) -> int:
    """`extensions.durableTask.storageProvider.partitionCount`: 1..16 (the real extension refuses others)."""
    value = config.get("extensions", "durableTask", "storageProvider", "partitionCount")
    if value is None:
        return DEFAULT_PARTITION_COUNT
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if isinstance(value, bool) or not 1 <= number <= MAX_PARTITION_COUNT:
        raise HostConfigError(f"host.json extensions.durableTask.storageProvider.partitionCount must be an "
                              f"integer from 1 to {MAX_PARTITION_COUNT}; got {value!r}")
    return number


def balance_seconds_of(environ: dict[str, str]) -> float:
    try:
        seconds = float(environ.get(BALANCE_SECONDS_ENV, "") or DEFAULT_BALANCE_SECONDS)
    except ValueError:
        return DEFAULT_BALANCE_SECONDS
    return min(max(seconds, 0.1), 5.0)


@dataclass(frozen=True)
class DurableOptions:
    hub_name: str
    max_activities: int
    max_orchestrators: int
    max_short_timer: timedelta
    long_timer_interval: timedelta
    partition_count: int = DEFAULT_PARTITION_COUNT
    balance_seconds: float = DEFAULT_BALANCE_SECONDS

    @property
    def table_name(self) -> str:
        return f"DevhostDurable{self.hub_name}"

    @property
    def lease_container(self) -> str:
        return f"{self.hub_name.lower()}-leases"

    @classmethod
    def from_config(cls, config: HostConfig, environ: dict[str, str] | None = None) -> DurableOptions:
        environ = dict(os.environ) if environ is None else environ
        raw = str(config.get("extensions", "durableTask", "hubName") or DEFAULT_HUB_NAME)
        setting = re.fullmatch(r"%([^%]+)%", raw.strip())
        if setting:  # the real extension resolves `%AppSettingName%`
            raw = environ.get(setting.group(1), "") or DEFAULT_HUB_NAME
        hub = sanitize_hub_name(raw)
        if hub != raw:
            log.warning("durableTask: hub name %r is not valid for a task hub; using %r", raw, hub)
        cores = os.cpu_count() or 1
        return cls(
            hub_name=hub,
            max_activities=_positive_int(config.get("extensions", "durableTask", "maxConcurrentActivityFunctions"),
                                         10 * cores),
            max_orchestrators=_positive_int(
                config.get("extensions", "durableTask", "maxConcurrentOrchestratorFunctions"), 10 * cores),
            # NB: devhost-only settings (the real values are fixed by the storage provider); tests use them to
            # exercise the SDK's long-timer splitting in seconds instead of days.
            max_short_timer=parse_timespan(config.get("extensions", "durableTask", "maximumShortTimerDuration"),
                                           DEFAULT_MAX_SHORT_TIMER),
            long_timer_interval=parse_timespan(
                config.get("extensions", "durableTask", "longRunningTimerIntervalDuration"),
                DEFAULT_LONG_TIMER_INTERVAL),
            partition_count=partition_count_of(config),
            balance_seconds=balance_seconds_of(environ),
        )
