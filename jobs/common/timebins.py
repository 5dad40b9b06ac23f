"""Time bins: instants are UTC, bins and dates are local to the region's time zone (``CDE_REGION``).

(docs/architecture.md, fixed interfaces.)
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from jobs.common.settings import LOCAL_TZ, LOCAL_TZ_NAME

if TYPE_CHECKING:
    from pyspark.sql import Column

BIN_MINUTES = {"15min": 15, "1h": 60, "1d": 1440}


def local_date_column(ts: Column) -> Column:
    """Spark expression: the local date of a UTC instant (the privacy-unit day)."""
    from pyspark.sql import functions as F

    return F.to_date(F.from_utc_timestamp(ts, LOCAL_TZ_NAME))


def bin_start_column(ts: Column, bin_minutes: int) -> Column:
    """Spark expression: the UTC instant at which the local time bin holding ``ts`` starts.

    A region's offsets are whole numbers of hours (``jobs.common.regions.check_time_zone`` refuses others),
    so 15-minute and hourly bins are floors of the UTC instant; daily bins start at local midnight.
    """
    from pyspark.sql import functions as F

    if bin_minutes == 1440:
        local_midnight = F.date_trunc("day", F.from_utc_timestamp(ts, LOCAL_TZ_NAME))
        return F.to_utc_timestamp(local_midnight, LOCAL_TZ_NAME)
    if 60 % bin_minutes and bin_minutes % 60:
        raise ValueError(f"bin of {bin_minutes} minutes does not tile the hour")
    seconds = bin_minutes * 60
    return F.timestamp_seconds(F.floor(F.unix_timestamp(ts) / seconds) * seconds)


def day_bounds(date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Return the UTC instants where a local day starts (inclusive) and ends (exclusive)."""
    start = dt.datetime.combine(date, dt.time(), tzinfo=LOCAL_TZ)
    end = dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), tzinfo=LOCAL_TZ)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def day_bins(date: dt.date, bin_minutes: int) -> list[dt.datetime]:
    """Return the UTC start instants of every local bin of a day (23, 24 or 25 hourly bins)."""
    start, end = day_bounds(date)
    if bin_minutes == 1440:
        return [start]
    step = dt.timedelta(minutes=bin_minutes)
    bins, t = [], start
    while t < end:
        bins.append(t)
        t += step
    return bins


def local_iso(instant: dt.datetime) -> str:
    """Format a UTC instant as ISO-8601 local time with its offset (``2026-10-25T02:00:00+02:00``)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(LOCAL_TZ).isoformat()
