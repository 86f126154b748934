"""Timestamps as the service writes them: ISO-8601 UTC with microseconds and `+00:00`, like the seed output."""

from __future__ import annotations

from datetime import UTC, datetime

# The .NET DateTime.MinValue the real service shows before anything was applied.
NEVER_APPLIED = "0001-01-01T00:00:00"


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
