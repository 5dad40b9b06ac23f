"""A contract's schedule: the fire times of its cron, the local days one delivery covers, its latency SLA.

Light at import (croniter is imported when a schedule is first expanded): validation, planning and DAG
parsing ask for the same crons many times, so fire times are cached.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

#: the latency SLA's units (ODCS ``slaProperties``), in hours
UNIT_HOURS = {"m": 1 / 60, "min": 1 / 60, "minutes": 1 / 60, "h": 1, "hours": 1, "d": 24, "days": 24}


def plan_start() -> dt.date:
    """The first day of the year a schedule is planned over: today (UTC). Budget messages then name windows
    the contract will really deliver, not ones of a fixed sample year."""
    return dt.datetime.now(dt.UTC).date()


def fire_times(cron: str, limit: int = 400) -> tuple:
    """Fire times of ``cron`` in the year from ``plan_start()`` (naive local time), at most ``limit`` of them."""
    return _fire_times(cron, limit, plan_start())


@cache  # validation, planning and DAG parsing ask for the same crons many times
def _fire_times(cron: str, limit: int, start: dt.date) -> tuple:
    from croniter import croniter

    begin = dt.datetime.combine(start, dt.time())
    fires = croniter(cron, begin)
    times = [fires.get_next(dt.datetime) for _ in range(limit)]
    return tuple(t for t in times if t < begin + dt.timedelta(days=365))


def fires_more_than_daily(cron: str) -> bool:
    """True when two consecutive fire times of ``cron`` are less than a day apart."""
    times = fire_times(cron)
    return any(b - a < dt.timedelta(days=1) for a, b in zip(times, times[1:], strict=False))


def delivery_days(cron: str) -> int:
    """Local days the schedule's first delivery of the planned year covers (a window's length varies with the
    cron: ``delivery_windows`` has every one)."""
    times = fire_times(cron, limit=3)
    return max(1, round((times[1] - times[0]).total_seconds() / 86_400)) if len(times) > 1 else 1


def delivery_windows(cron: str) -> tuple[tuple[dt.date, dt.date], ...]:
    """Every delivery window the schedule makes in the year from ``plan_start()``, in order: a run firing on
    local date F delivers the local dates ``[previous fire's date, F)``, as Airflow's data interval does. The
    first window starts at the last fire before the year; ``cron = "30 8 * * 1,2"`` makes one-day windows
    (Monday to Tuesday) and six-day ones (Tuesday to Monday)."""
    return _delivery_windows(cron, plan_start())


@cache
def _delivery_windows(cron: str, start: dt.date) -> tuple[tuple[dt.date, dt.date], ...]:
    from croniter import croniter

    begin = dt.datetime.combine(start, dt.time())
    fires = croniter(cron, begin - dt.timedelta(minutes=1))
    previous = croniter(cron, begin).get_prev(dt.datetime).date()
    windows = []
    while (fired := fires.get_next(dt.datetime)) < begin + dt.timedelta(days=365):
        if fired.date() > previous:  # a cron firing twice a day is refused by validation; skip a same-day fire
            windows.append((previous, fired.date()))
            previous = fired.date()
    return tuple(windows)


def makes_window(cron: str, start: dt.date, end: dt.date) -> bool:
    """Whether the schedule delivers exactly the local dates ``[start, end)`` in some run: it fires on ``end``
    and its previous fire was on ``start`` (any year, not only the planned one)."""
    from croniter import croniter

    fired = croniter(cron, dt.datetime.combine(end, dt.time()) - dt.timedelta(microseconds=1)).get_next(dt.datetime)
    if fired.date() != end:
        return False
    return croniter(cron, fired).get_prev(dt.datetime).date() == start


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
