"""Timer triggers: NCRONTAB and TimeSpan schedules, runOnStartup, schedule monitoring, past-due runs.

Copied from the WebJobs timer extension (TimerListener, TimerSchedule, CronSchedule, ScheduleMonitor,
StorageScheduleMonitor):

- `schedule`, after `%Setting%` expressions are resolved: NCRONTAB `{second} {minute} {hour} {day}
  {month} {day-of-week}`, or 5 fields without seconds (NCrontab reads any other count as 6-field and
  fails). Day-of-month and day-of-week both have to match (NCrontab ANDs them, unlike Vixie cron).
  Otherwise a .NET TimeSpan ("00:00:10", "1.00:00:00"): every interval, counted from the previous run.
- `useMonitor` (default true) is forced off for schedules that fire more than once a minute (a cron with
  more than one occurrence in the next minute, a TimeSpan under 1 minute), as TimerSchedule.Create does,
  even when the binding says true. With the monitor on, the schedule status lives in the blob
  `azure-webjobs-hosts/timers/{hostId}/Host.Functions.{Name}/status` as `{"Last","Next","LastUpdated"}`.
  At start: no status -> one is written (Next = next occurrence); a Next that no longer follows from
  Last (the schedule changed) is recomputed; a Next in the past -> the function runs at once with
  `IsPastDue: true`. After each run the status is written: Last = LastUpdated = the run's time (the
  scheduled time if the timer fired a little early), Next = the next occurrence after it.
- `runOnStartup`: one run at start (IsPastDue false), unless a past-due run happens instead.
- Runs never overlap: the next occurrence is computed when a run ends, so a run longer than the interval
  is followed by one immediate catch-up run, not a pile of them. A failing run does not stop the schedule.
- The function gets `{"Schedule": {"AdjustForDST": true}, "ScheduleStatus": {...} | null, "IsPastDue"}`
  through `azure.functions`' `timerTrigger` converter; ScheduleStatus is null without the monitor.
- Time zone: UTC, or the IANA zone in WEBSITE_TIME_ZONE (as on Linux plans). NB: Core Tools uses the
  machine's local zone.
- One instance per host id and function runs the timer: see devhost/singleton.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.functions import meta
from azure.storage.blob.aio import BlobServiceClient, ContainerClient
from croniter import croniter

from devhost.bindings import Invocation
from devhost.indexing import IndexedFunction
from devhost.logs import fields
from devhost.singleton import (
    HOSTS_CONTAINER,
    BlobLease,
    SingletonListener,
    SingletonOptions,
    function_full_name,
    listener_lock_blob,
)
from devhost.triggering import (
    BindingConfigError,
    execute,
    format_timespan,
    parse_timespan,
    resolve_setting_expressions,
)

if TYPE_CHECKING:
    from devhost.host import Host

log = logging.getLogger("devhost.timers")

TIMER_TRIGGER = "timerTrigger"
TIME_ZONE_SETTING = "WEBSITE_TIME_ZONE"
# .NET DateTime.MinValue: the host's "not set" value; anything before year 2 counts as unset.
DEFAULT_DATETIME = datetime(1, 1, 1, tzinfo=UTC)
DEFAULT_DATETIME_THRESHOLD = datetime(2, 1, 1, tzinfo=UTC)
MAX_SLEEP = timedelta(minutes=1)  # re-read the clock at least this often (clock changes, long schedules)
NEXT_OCCURRENCES_LOGGED = 5


def utc_now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- date text as the host writes it


def format_datetime(value: datetime) -> str:
    """Newtonsoft's ISO format for a DateTime: `2026-11-25T14:54:00.1234560+00:00` (7 fraction digits)."""
    value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    # NB: not strftime: glibc writes year 1 (the host's "unset" DateTime.MinValue) as "1", not "0001".
    text = (f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
            f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}")
    if value.microsecond:
        text += f".{value.microsecond:06d}0"
    offset = value.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = int(abs(offset).total_seconds()) // 60
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


_DATETIME = re.compile(
    r"^(?P<base>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d+))?(?P<zone>Z|[+-]\d{2}:\d{2})?$"
)


def parse_datetime(text: str) -> datetime:
    """ISO 8601 with up to 7 fraction digits (.NET), `Z` or an offset; no zone means UTC."""
    match = _DATETIME.match(str(text).strip())
    if not match:
        raise ValueError(f"not an ISO 8601 date and time: {text!r}")
    value = datetime.fromisoformat(match["base"])
    if match["fraction"]:
        value = value.replace(microsecond=int(match["fraction"][:6].ljust(6, "0")))
    zone = match["zone"]
    if zone in (None, "Z"):
        return value.replace(tzinfo=UTC)
    return datetime.fromisoformat(f"{match['base']}{zone}").replace(microsecond=value.microsecond)


@dataclass(frozen=True)
class ScheduleStatus:
    last: datetime
    next: datetime
    last_updated: datetime

    def to_json(self) -> dict[str, str]:
        return {"Last": format_datetime(self.last), "Next": format_datetime(self.next),
                "LastUpdated": format_datetime(self.last_updated)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScheduleStatus:
        """Tolerant like the host's GetSafeStatusAsync: missing or pre-year-2 values become the default."""
        def read(key: str) -> datetime:
            raw = data.get(key)
            if not raw:
                return DEFAULT_DATETIME
            value = parse_datetime(str(raw))
            return DEFAULT_DATETIME if value < DEFAULT_DATETIME_THRESHOLD else value
        return cls(last=read("Last"), next=read("Next"), last_updated=read("LastUpdated"))


# ---------------------------------------------------------------- schedules


class Schedule(Protocol):
    text: str

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (UTC)."""

    def fires_often(self, now: datetime) -> bool:
        """More than once a minute: the host turns schedule monitoring off for those."""

    @property
    def payload(self) -> dict[str, Any]:
        """The `Schedule` object in the TimerInfo JSON the worker receives."""


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    has_seconds: bool
    tz: tzinfo = UTC

    @classmethod
    def parse(cls, expression: str, tz: tzinfo = UTC) -> CronSchedule:
        parts = expression.split()
        if len(parts) not in (5, 6):
            raise ValueError(f"{expression!r}: NCRONTAB needs 6 fields (second first) or 5")
        has_seconds = len(parts) == 6
        text = " ".join(parts)
        if not croniter.is_valid(text, second_at_beginning=has_seconds):
            raise ValueError(f"{expression!r} is not a valid NCRONTAB expression")
        schedule = cls(expression=text, has_seconds=has_seconds, tz=tz)
        schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC))  # NB: croniter accepts some impossible dates lazily
        return schedule

    @property
    def text(self) -> str:
        return f"Cron: '{self.expression}'"

    @property
    def payload(self) -> dict[str, Any]:
        return {"AdjustForDST": True}

    def next_after(self, moment: datetime) -> datetime:
        local = moment.astimezone(self.tz)
        # NB: croniter reads a 6-field expression as seconds LAST unless second_at_beginning is set.
        it = croniter(self.expression, local, second_at_beginning=self.has_seconds, day_or=False)
        return it.get_next(datetime).astimezone(UTC)

    def fires_often(self, now: datetime) -> bool:
        first = self.next_after(now)
        return self.next_after(first) <= now + timedelta(minutes=1)


@dataclass(frozen=True)
class ConstantSchedule:
    interval: timedelta

    @property
    def text(self) -> str:
        return f"Constant: {format_timespan(self.interval)}"

    @property
    def payload(self) -> dict[str, Any]:
        return {"AdjustForDST": True}

    def next_after(self, moment: datetime) -> datetime:
        return moment + self.interval

    def fires_often(self, now: datetime) -> bool:
        return self.interval < timedelta(minutes=1)


def parse_schedule(expression: str, tz: tzinfo = UTC) -> CronSchedule | ConstantSchedule:
    """NCRONTAB first, then TimeSpan, as TimerSchedule.Create tries them."""
    try:
        return CronSchedule.parse(expression, tz)
    except ValueError:
        pass
    try:
        interval = parse_timespan(expression)
    except ValueError:
        raise ValueError(f"The schedule expression {expression!r} was not recognized as a valid cron "
                         "expression or timespan string.") from None
    if interval <= timedelta(0):
        raise ValueError(f"The schedule interval {expression!r} must be positive.")
    return ConstantSchedule(interval)


def schedule_time_zone(environ: Mapping[str, str] | None = None) -> tzinfo:
    environ = os.environ if environ is None else environ
    name = environ.get(TIME_ZONE_SETTING, "").strip()
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("%s=%r is not an IANA time zone; timers use UTC", TIME_ZONE_SETTING, name)
        return UTC


@dataclass(frozen=True)
class TimerSpec:
    """A timer trigger binding, resolved: what TimerTriggerAttribute + TimerSchedule.Create give the host."""

    schedule: CronSchedule | ConstantSchedule
    run_on_startup: bool
    use_monitor: bool

    @classmethod
    def from_function(cls, fn: IndexedFunction, *, now: datetime, environ: Mapping[str, str] | None = None,
                      tz: tzinfo = UTC) -> TimerSpec:
        raw = fn.trigger.get("schedule")
        if not raw:
            raise BindingConfigError("the timer trigger has no schedule")
        try:
            schedule = parse_schedule(resolve_setting_expressions(str(raw), environ), tz)
        except ValueError as exc:
            raise BindingConfigError(str(exc)) from None
        requested = _flag(fn.trigger.get("useMonitor"))
        use_monitor = False if schedule.fires_often(now) else (True if requested is None else requested)
        return cls(schedule=schedule, run_on_startup=bool(_flag(fn.trigger.get("runOnStartup"))),
                   use_monitor=use_monitor)


def _flag(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1")


# ---------------------------------------------------------------- schedule status in blob storage


def reconcile_status(now: datetime, schedule: Schedule, stored: ScheduleStatus | None) -> tuple[ScheduleStatus, bool]:
    """The status to go on with and whether it must be written (ScheduleMonitor.CheckPastDueAsync).

    The schedule is past due when `now` is after the returned status' `next`.
    """
    if stored is None:
        return ScheduleStatus(last=DEFAULT_DATETIME, next=schedule.next_after(now), last_updated=now), True
    if stored.last > DEFAULT_DATETIME_THRESHOLD:
        expected, last_updated = schedule.next_after(stored.last), stored.last
    elif stored.last_updated > DEFAULT_DATETIME_THRESHOLD:
        expected, last_updated = schedule.next_after(stored.last_updated), stored.last_updated
    else:
        expected, last_updated = schedule.next_after(now), now
    if stored.next != expected:
        # The schedule changed since the status was written; a recomputed Next in the past is not past due.
        if now > expected:
            expected, last_updated = schedule.next_after(now), now
        return ScheduleStatus(last=DEFAULT_DATETIME, next=expected, last_updated=last_updated), True
    return stored, False


class ScheduleMonitor:
    """StorageScheduleMonitor: `timers/{hostId}/{timerName}/status` blobs in azure-webjobs-hosts."""

    def __init__(self, *, container: ContainerClient, host_id: str) -> None:
        self.container = container
        self.host_id = host_id

    def blob_name(self, timer_name: str) -> str:
        return f"timers/{self.host_id}/{timer_name}/status"

    async def get_status(self, timer_name: str) -> ScheduleStatus | None:
        try:
            downloader = await self.container.download_blob(self.blob_name(timer_name))
            data = json.loads(await downloader.readall())
        except ResourceNotFoundError:
            return None
        except ValueError:
            log.warning("unreadable timer status blob; starting afresh %s",
                        fields(blob=self.blob_name(timer_name)))
            return None
        return ScheduleStatus.from_json(data) if isinstance(data, dict) else None

    async def update_status(self, timer_name: str, status: ScheduleStatus) -> None:
        """Best effort, as in the host: a failed write is logged, the timer keeps running."""
        try:
            await self.container.upload_blob(self.blob_name(timer_name), json.dumps(status.to_json()),
                                             overwrite=True)
        except (AzureError, OSError) as exc:
            log.error("Function '%s' failed to update the timer trigger status. %s", timer_name,
                      fields(error=type(exc).__name__))


# ---------------------------------------------------------------- one timer


RunFunction = Callable[[dict[str, Any], str], Awaitable[bool]]


class TimerListener:
    """Fires one function on its schedule; started and stopped by its SingletonListener."""

    def __init__(self, *, function_name: str, spec: TimerSpec, monitor: ScheduleMonitor | None,
                 run_function: RunFunction, clock: Callable[[], datetime] = utc_now,
                 shutdown_timeout: float = 10.0) -> None:
        self.function_name = function_name
        self.timer_name = function_full_name(function_name)
        self.spec = spec
        self.schedule = spec.schedule
        self.monitor = monitor if spec.use_monitor else None
        self.run_function = run_function
        self.clock = clock
        self.shutdown_timeout = shutdown_timeout
        self.status: ScheduleStatus | None = None
        self._stopping = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    async def run(self) -> None:
        now = self.clock()
        past_due = False
        status: ScheduleStatus | None = None
        if self.monitor is not None:
            try:
                stored = await self.monitor.get_status(self.timer_name)
            except (AzureError, OSError) as exc:
                log.error("reading the timer status failed; going on without it %s",
                          fields(function=self.function_name, error=type(exc).__name__))
                stored = None
            recorded, changed = reconcile_status(now, self.schedule, stored)
            if changed:
                await self.monitor.update_status(self.timer_name, recorded)
            past_due = now > recorded.next
            if stored is not None:
                status = recorded
            log.info("timer status %s", fields(function=self.function_name, **_status_fields(stored)))
        self.status = status or ScheduleStatus(last=DEFAULT_DATETIME, next=self.schedule.next_after(now),
                                               last_updated=DEFAULT_DATETIME)
        log.info("The next %d occurrences of the schedule (%s) will be: %s %s", NEXT_OCCURRENCES_LOGGED,
                 self.schedule.text, ", ".join(self._next_occurrences(now)),
                 fields(function=self.function_name, use_monitor=self.monitor is not None))

        if past_due:
            await self._invoke(self.clock(), past_due=True)
        elif self.spec.run_on_startup:
            await self._invoke(self.clock(), run_on_startup=True)
        while await self._sleep_until(self.status.next):
            await self._invoke(self.clock())

    async def stop(self) -> None:
        """No new runs; wait up to `shutdown_timeout` for a run in progress."""
        self._stopping.set()
        with suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout=self.shutdown_timeout)

    def _next_occurrences(self, now: datetime) -> list[str]:
        out, moment = [], now
        for _ in range(NEXT_OCCURRENCES_LOGGED):
            moment = self.schedule.next_after(moment)
            out.append(format_datetime(moment))
        return out

    async def _sleep_until(self, when: datetime) -> bool:
        """Wait for `when` by the clock; False when stopping. Never returns before `when`."""
        while not self._stopping.is_set():
            remaining = (when - self.clock()).total_seconds()
            if remaining <= 0:
                return True
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=min(remaining, MAX_SLEEP.total_seconds()))
        return False

    async def _invoke(self, invoked_at: datetime, *, past_due: bool = False, run_on_startup: bool = False) -> None:
        if self._stopping.is_set():
            return
        assert self.status is not None
        self._idle.clear()
        try:
            info = {
                "Schedule": self.schedule.payload,
                "ScheduleStatus": self.status.to_json() if self.monitor is not None else None,
                "IsPastDue": past_due,
            }
            reason = ("IsPastDue" if past_due else "RunOnStartup" if run_on_startup
                      else f"Timer fired at {format_datetime(invoked_at)}")
            await self.run_function(info, reason)
            # NB: a timer that fired a hair early counts as the scheduled time, or Next would repeat.
            adjusted = invoked_at
            if not past_due and not run_on_startup and self.status.next > invoked_at:
                adjusted = self.status.next
            self.status = ScheduleStatus(last=adjusted, next=self.schedule.next_after(adjusted),
                                         last_updated=adjusted)
            if self.monitor is not None:
                await self.monitor.update_status(self.timer_name, self.status)
        finally:
            self._idle.set()


def _status_fields(status: ScheduleStatus | None) -> dict[str, str | None]:
    if status is None:
        return {"last": None, "next": None, "last_updated": None}
    data = status.to_json()
    return {"last": data["Last"], "next": data["Next"], "last_updated": data["LastUpdated"]}


# ---------------------------------------------------------------- the host service


class TimerTriggers:
    """Host service for `timerTrigger` functions."""

    name = "timers"
    trigger_types = frozenset({TIMER_TRIGGER})

    def __init__(self, *, clock: Callable[[], datetime] = utc_now, shutdown_timeout: float = 10.0,
                 environ: Mapping[str, str] | None = None) -> None:
        self.clock = clock
        self.shutdown_timeout = shutdown_timeout
        self._environ = environ
        self._host: Host | None = None
        self.specs: dict[str, TimerSpec] = {}
        self.errors: dict[str, str] = {}
        self.singleton_options = SingletonOptions()
        self._blob_service: BlobServiceClient | None = None
        self.singletons: list[SingletonListener] = []

    # -- host service protocol

    def install(self, host: Host) -> None:
        self._host = host
        self.singleton_options = SingletonOptions.from_config(host.config)
        tz = schedule_time_zone(self._environ)
        now = self.clock()
        for fn in host.index.functions:
            if fn.trigger_type != TIMER_TRIGGER:
                continue
            try:
                self.specs[fn.name] = TimerSpec.from_function(fn, now=now, environ=self._environ, tz=tz)
            except BindingConfigError as exc:
                self.errors[fn.name] = str(exc)

    def describe(self, fn: IndexedFunction, base_url: str) -> str:
        if fn.name in self.errors:
            return f"[ERROR] {self.errors[fn.name]}"
        return TIMER_TRIGGER

    async def start(self, host: Host) -> None:
        for name, message in self.errors.items():
            log.error("The '%s' function is in error: %s", name, message)
        functions = [fn for fn in host.index.functions if fn.name in self.specs and not fn.disabled]
        if not functions:
            return
        storage = host.settings.require_storage()
        self._blob_service = BlobServiceClient.from_connection_string(storage.connection_string)
        container = self._blob_service.get_container_client(HOSTS_CONTAINER)
        with suppress(ResourceExistsError):
            await container.create_container()
        monitor = ScheduleMonitor(container=container, host_id=host.settings.host_id)
        for fn in functions:
            missing = host.extensions.unsupported(fn, frozenset())
            if missing:
                self.errors[fn.name] = f"binding type(s) {', '.join(missing)} not supported by devhost"
                log.error("The '%s' function is in error: %s", fn.name, self.errors[fn.name])
                continue
            lock = BlobLease(container=container, blob_name=listener_lock_blob(host.settings.host_id, fn.name),
                             period=self.singleton_options.listener_lock_period)
            self.singletons.append(SingletonListener(
                lock=lock, options=self.singleton_options, function_name=fn.name,
                make_listener=self._listener_factory(fn, self.specs[fn.name], monitor),
            ))
        for singleton in self.singletons:
            singleton.start()

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.singletons), return_exceptions=True)
        self.singletons.clear()
        if self._blob_service is not None:
            await self._blob_service.close()
            self._blob_service = None

    # -- wiring

    def _listener_factory(self, fn: IndexedFunction, spec: TimerSpec,
                          monitor: ScheduleMonitor) -> Callable[[], TimerListener]:
        async def run_function(info: dict[str, Any], reason: str) -> bool:
            assert self._host is not None
            invocation = Invocation(function=fn, invocation_id=str(uuid.uuid4()),
                                    trigger_datum=meta.Datum(type="json", value=json.dumps(info)))
            return await execute(self._host.invoker, invocation, logger=log, reason=reason,
                                 past_due=info["IsPastDue"])

        def make() -> TimerListener:
            return TimerListener(function_name=fn.name, spec=spec, monitor=monitor, run_function=run_function,
                                 clock=self.clock, shutdown_timeout=self.shutdown_timeout)
        return make
