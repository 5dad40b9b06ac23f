"""What every CDE DAG shares: owner, retries, timeouts, the local daily timetable and the ``date`` param.

Imported by the DAG files at parse time, so it stays light (no Spark, no pandas).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param

TIMEZONE = "Europe/Copenhagen"
START_DATE = pendulum.datetime(2026, 3, 1, tz=TIMEZONE)
DEFAULT_ARGS = {
    "owner": "cde-data-platform",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "execution_timeout": timedelta(hours=2),
}


def local_daily(cron: str = "0 0 * * *") -> CronDataIntervalTimetable:
    """Daily data intervals in Copenhagen time; they must start at local midnight to be one local day."""
    return CronDataIntervalTimetable(cron, timezone=TIMEZONE)


def date_param(what: str = "process") -> Param:
    """The ``date`` param of manual runs (default: the local date where the data interval starts)."""
    return Param(None, type=["null", "string"], format="date",
                 description=f"Local date to {what} (YYYY-MM-DD); default: the data interval's date")
