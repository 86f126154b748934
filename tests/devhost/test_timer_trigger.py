"""Timer triggers under devhost, with the schedule status and singleton lock in real Azurite blobs.

tests/devhost/apps/timer_app records every run as a blob; each test gets its own run id and host id and
enables only the timers it looks at (`AzureWebJobs.<name>.Disabled`). The app's host.json shortens the
singleton lock (15 s lease, 1 s standby polling) so a takeover fits in a test.
"""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from devhost.timers import (
    DEFAULT_DATETIME,
    ConstantSchedule,
    CronSchedule,
    ScheduleStatus,
    format_datetime,
    parse_datetime,
    parse_schedule,
    reconcile_status,
)
from tests.fixtures.devhost_process import DevHost, devhost_environment
from tests.fixtures.waiting import wait_for

TIMER_APP = Path(__file__).resolve().parent / "apps" / "timer_app"
TIMERS = ("every_second", "even_seconds", "at_startup", "every_five_minutes")
RECORDS_CONTAINER = "timer-app-records"
HOSTS_CONTAINER = "azure-webjobs-hosts"
YEARLY = "0 0 0 1 1 *"


def timer_env(connection_string: str, *, run_id: str, host_id: str, enabled: set[str], label: str = "a") -> dict:
    disabled = {f"AzureWebJobs.{name}.Disabled": "true" for name in TIMERS if name not in enabled}
    return devhost_environment(connection_string, TIMER_RUN_ID=run_id, TIMER_HOST_LABEL=label,
                               STARTUP_SCHEDULE=YEARLY, AzureFunctionsWebHost__hostid=host_id, **disabled)


def records(connection_string: str, run_id: str, kind: str) -> list[dict]:
    with BlobServiceClient.from_connection_string(connection_string) as service:
        container = service.get_container_client(RECORDS_CONTAINER)
        try:
            names = [b.name for b in container.list_blobs(name_starts_with=f"{run_id}/{kind}/")]
        except ResourceNotFoundError:
            return []
        found = [json.loads(container.download_blob(name).readall()) for name in names]
    return sorted(found, key=lambda r: r["at"])


def read_status(connection_string: str, host_id: str, function: str) -> dict | None:
    with BlobServiceClient.from_connection_string(connection_string) as service:
        blob = service.get_blob_client(HOSTS_CONTAINER, f"timers/{host_id}/Host.Functions.{function}/status")
        try:
            return json.loads(blob.download_blob().readall())
        except ResourceNotFoundError:
            return None


def write_status(connection_string: str, host_id: str, function: str, status: dict) -> None:
    with BlobServiceClient.from_connection_string(connection_string) as service:
        blob = service.get_blob_client(HOSTS_CONTAINER, f"timers/{host_id}/Host.Functions.{function}/status")
        blob.upload_blob(json.dumps(status), overwrite=True)


def ids() -> tuple[str, str]:
    token = uuid.uuid4().hex[:8]
    return f"run-{token}", f"timers-{token}"


# ---------------------------------------------------------------- end to end


def test_timespan_cron_and_run_on_startup_timers_fire(azurite, tmp_path):
    conn = azurite.ports.connection_string
    run_id, host_id = ids()
    env = timer_env(conn, run_id=run_id, host_id=host_id, enabled={"every_second", "even_seconds", "at_startup"})
    host = DevHost(app_dir=TIMER_APP, env=env, log_dir=tmp_path).start()
    try:
        wait_for(lambda: len(records(conn, run_id, "timespan")) >= 3 and len(records(conn, run_id, "cron")) >= 2,
                 what="3 TimeSpan runs and 2 cron runs")
        startup = records(conn, run_id, "startup")
    finally:
        assert host.stop() == 0, host.stderr()
    out = host.stdout()
    for name in TIMERS:
        assert f"{name}: timerTrigger" in out

    timespan = records(conn, run_id, "timespan")
    assert all(not r["past_due"] and r["schedule_status"] == {} for r in timespan)  # monitor off: sub-minute
    assert all(r["schedule"] == {"AdjustForDST": True} for r in timespan)
    # "00:00:01" counts from the previous run: never two runs within the interval (slack for clock jitter).
    starts = [datetime.fromisoformat(r["at"]) for r in timespan]
    assert all(b - a >= timedelta(seconds=0.9) for a, b in itertools.pairwise(starts))

    ticks = [datetime.fromisoformat(r["tick"]) for r in records(conn, run_id, "cron")]
    assert len(set(ticks)) == len(ticks)
    assert all(t.second % 2 == 0 for t in ticks), ticks  # "*/2 * * * * *": seconds come first

    # runOnStartup on a yearly schedule: exactly one run, with the monitor's status (>= 1 min schedule).
    assert len(startup) == 1
    [run] = startup
    assert run["past_due"] is False
    status = run["schedule_status"]
    assert status["Last"] == status["LastUpdated"] == "0001-01-01T00:00:00+00:00"
    next_new_year = datetime(datetime.now(UTC).year + 1, 1, 1, tzinfo=UTC)
    assert parse_datetime(status["Next"]) == next_new_year


def test_past_due_run_after_downtime(azurite, tmp_path):
    conn = azurite.ports.connection_string
    run_id, host_id = ids()
    env = timer_env(conn, run_id=run_id, host_id=host_id, enabled={"every_five_minutes"})

    first = DevHost(app_dir=TIMER_APP, env=env, log_dir=tmp_path, name="first").start()
    try:
        status = wait_for(lambda: read_status(conn, host_id, "every_five_minutes"), what="the status blob")
    finally:
        assert first.stop() == 0, first.stderr()
    assert set(status) == {"Last", "Next", "LastUpdated"}
    assert status["Last"] == "0001-01-01T00:00:00+00:00"
    written_next = parse_datetime(status["Next"])
    assert written_next > datetime.now(UTC) - timedelta(seconds=5)
    assert written_next.minute % 5 == 0 and written_next.second == 0
    # Nothing was missed at the first start (a run on a 5-minute boundary would be a normal one).
    assert not any(r["past_due"] for r in records(conn, run_id, "monitored"))

    # The host "was down" across an occurrence: the last run was 10 minutes ago, Next 5 minutes ago.
    now = datetime.now(UTC)
    last = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0) - timedelta(minutes=10)
    aged = {"Last": format_datetime(last), "Next": format_datetime(last + timedelta(minutes=5)),
            "LastUpdated": format_datetime(last)}
    write_status(conn, host_id, "every_five_minutes", aged)

    second = DevHost(app_dir=TIMER_APP, env=env, log_dir=tmp_path, name="second").start()
    try:
        past_due_runs = wait_for(lambda: [r for r in records(conn, run_id, "monitored") if r["past_due"]],
                                 what="the past-due run")
        updated = wait_for(lambda: (s := read_status(conn, host_id, "every_five_minutes")) != aged and s,
                           what="the status after the run")
    finally:
        assert second.stop() == 0, second.stderr()
    [run] = past_due_runs  # once, not once per missed occurrence
    assert run["schedule_status"] == aged
    assert parse_datetime(updated["Last"]) > now - timedelta(seconds=1)
    assert parse_datetime(updated["Next"]) == CronSchedule.parse("0 */5 * * * *").next_after(
        parse_datetime(updated["Last"]))
    assert len([r for r in records(conn, run_id, "monitored") if r["past_due"]]) == 1


def test_one_host_runs_each_tick_and_a_standby_takes_over_after_sigkill(azurite, tmp_path):
    conn = azurite.ports.connection_string
    run_id, host_id = ids()
    envs = {label: timer_env(conn, run_id=run_id, host_id=host_id, enabled={"even_seconds"}, label=label)
            for label in ("a", "b")}
    leader = DevHost(app_dir=TIMER_APP, env=envs["a"], log_dir=tmp_path, name="a").start()
    standby: DevHost | None = None
    try:
        wait_for(lambda: records(conn, run_id, "cron"), what="the leader's first tick")
        standby = DevHost(app_dir=TIMER_APP, env=envs["b"], log_dir=tmp_path, name="b").start()
        seen = len(records(conn, run_id, "cron"))
        wait_for(lambda: len(records(conn, run_id, "cron")) >= seen + 2, what="two ticks with both hosts up")
        assert {r["host"] for r in records(conn, run_id, "cron")} == {"a"}

        leader.kill()
        killed_at = datetime.now(UTC)
        # The lease (15 s) runs out, then the standby (polling every 1 s) takes over.
        wait_for(lambda: len([r for r in records(conn, run_id, "cron") if r["host"] == "b"]) >= 2,
                 timeout=40, what="the standby's ticks")
    finally:
        if leader.process.poll() is None:
            leader.kill()
        if standby is not None:
            assert standby.stop() == 0, standby.stderr()

    runs = records(conn, run_id, "cron")
    ticks = [r["tick"] for r in runs]
    assert len(ticks) == len(set(ticks)), ticks  # never two hosts on one tick
    assert all(datetime.fromisoformat(r["at"]) < killed_at for r in runs if r["host"] == "a")
    assert all(datetime.fromisoformat(r["at"]) > killed_at for r in runs if r["host"] == "b")
    log = standby.stderr()
    assert "Unable to acquire Singleton lock" in log
    assert f"lock={HOSTS_CONTAINER}/locks/{host_id}/Host.Functions.even_seconds.Listener" in log
    assert log.index("Unable to acquire Singleton lock") < log.index("Singleton lock acquired")


# ---------------------------------------------------------------- rules, without a host


def test_ncrontab_has_seconds_first_and_five_fields_mean_no_seconds():
    start = datetime(2026, 3, 1, 10, 0, 0, 500000, tzinfo=UTC)
    assert CronSchedule.parse("30 0 * * * *").next_after(start) == datetime(2026, 3, 1, 10, 0, 30, tzinfo=UTC)
    assert CronSchedule.parse("*/15 * * * * *").next_after(start) == datetime(2026, 3, 1, 10, 0, 15, tzinfo=UTC)
    assert CronSchedule.parse("0 12 * * *").next_after(start) == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    # NCrontab ANDs day-of-month and day-of-week: the 13th that is a Friday (2026-03-13).
    assert CronSchedule.parse("0 0 0 13 * 5").next_after(start) == datetime(2026, 3, 13, tzinfo=UTC)
    for bad in ("* * * *", "* * * * * * *", "61 * * * * *"):
        with pytest.raises(ValueError):
            CronSchedule.parse(bad)


def test_schedule_kinds_and_monitor_defaults():
    now = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert parse_schedule("00:00:10") == ConstantSchedule(timedelta(seconds=10))
    assert parse_schedule("1.00:00:00") == ConstantSchedule(timedelta(days=1))
    assert parse_schedule("00:00:10").fires_often(now)
    assert not parse_schedule("00:01:00").fires_often(now)
    assert parse_schedule("*/30 * * * * *").fires_often(now)
    assert not parse_schedule("0 * * * * *").fires_often(now)
    with pytest.raises(ValueError):
        parse_schedule("every minute")


def test_status_reconciliation_detects_past_due_and_schedule_changes():
    schedule = parse_schedule("0 */5 * * * *")
    now = datetime(2026, 3, 1, 10, 7, tzinfo=UTC)
    fresh, write = reconcile_status(now, schedule, None)
    assert write and fresh.next == datetime(2026, 3, 1, 10, 10, tzinfo=UTC) and fresh.last == DEFAULT_DATETIME

    ran = datetime(2026, 3, 1, 9, 50, tzinfo=UTC)
    missed = ScheduleStatus(last=ran, next=ran + timedelta(minutes=5), last_updated=ran)
    kept, write = reconcile_status(now, schedule, missed)
    assert (kept, write) == (missed, False) and now > kept.next  # past due

    changed = ScheduleStatus(last=ran, next=ran + timedelta(minutes=7), last_updated=ran)  # old schedule
    recomputed, write = reconcile_status(now, schedule, changed)
    assert write and recomputed.next == datetime(2026, 3, 1, 10, 10, tzinfo=UTC)  # not past due
    assert recomputed.last == DEFAULT_DATETIME


def test_status_dates_round_trip_in_dotnet_format():
    moment = datetime(2026, 3, 1, 10, 7, 3, 123456, tzinfo=UTC)
    assert format_datetime(moment) == "2026-03-01T10:07:03.1234560+00:00"
    assert parse_datetime("2026-03-01T10:07:03.1234567+00:00") == moment
    assert parse_datetime("2026-03-01T10:07:03Z") == moment.replace(microsecond=0)
    assert ScheduleStatus.from_json({"Last": "0001-01-01T00:00:00+00:00"}).next == DEFAULT_DATETIME
