"""A contract's schedule: the fire times of its cron, the local days one delivery covers, its latency SLA.

Light at import (croniter is imported when a schedule is first expanded): validation, planning and DAG
parsing ask for the same crons many times, so fire times are cached.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

#: the latency SLA's units (ODCS ``slaProperties``), in hours
UNIT_HOURS = {"m": 1 / 60, "min": 1 / 60, "minutes": 1 / 60, "h": 1, "hours": 1, "d": 24, "days": 24}


@cache
def fire_times(cron: str, limit: int = 400) -> tuple:
    """Fire times of ``cron`` in a sample year (2026, naive local time), at most ``limit`` of them (cached:
    validation, planning and DAG parsing ask for the same crons many times)."""
    from croniter import croniter

    fires = croniter(cron, dt.datetime(2026, 1, 1))
    times = [fires.get_next(dt.datetime) for _ in range(limit)]
    return tuple(t for t in times if t < dt.datetime(2027, 1, 1))


def fires_more_than_daily(cron: str) -> bool:
    """True when two consecutive fire times of ``cron`` are less than a day apart."""
    times = fire_times(cron)
    return any(b - a < dt.timedelta(days=1) for a, b in zip(times, times[1:], strict=False))


def delivery_days(cron: str) -> int:
    """Local days one delivery covers: the gap between the schedule's first two fire times."""
    times = fire_times(cron, limit=3)
    return max(1, round((times[1] - times[0]).total_seconds() / 86_400)) if len(times) > 1 else 1


def latency(document: dict) -> dt.timedelta | None:
    """The latency SLA of an ODCS contract document, or None when it states none.

    Raises
    ------
    ValueError
        The latency is not a positive number of minutes, hours or days (the message names the field).
    """
    for item in document.get("slaProperties") or []:
        if isinstance(item, dict) and item.get("property") == "latency":
            value, unit = item.get("value"), str(item.get("unit", "h")).lower()
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"slaProperties.latency.value: {value!r} is not a positive number")
            if unit not in UNIT_HOURS:
                raise ValueError(f"slaProperties.latency.unit: {unit!r} is not one of {sorted(UNIT_HOURS)}")
            return dt.timedelta(hours=value * UNIT_HOURS[unit])
    return None
