"""What every CDE DAG shares: owner, retries, timeouts, the local daily timetable, the ``date`` param, sensor
settings and the Assets of the bronze and silver tables.

Imported by the DAG files at parse time, so it stays light (no Spark, no pandas).
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Param

from jobs.common import settings
from jobs.ingest.feeds import FEEDS as REGISTERED_FEEDS
from jobs.ingest.feeds import feeds_with, supplied_feeds

TIMEZONE = settings.LOCAL_TZ_NAME  # the region's (CDE_REGION)
START_DATE = pendulum.datetime(2026, 3, 1, tz=TIMEZONE)
DEFAULT_ARGS = {
    "owner": "cde-data-platform",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "execution_timeout": dt.timedelta(hours=2),
}

# Tasks that start a SparkSession run in this pool (created by ``jobs.airflow.standalone.ensure_airflow_db``):
# one JVM per core at most, whatever Airflow's parallelism.
SPARK_POOL = "spark"


def spark_pool_slots() -> int:
    """Slots of the Spark pool: ``CDE_SPARK_POOL_SLOTS``, else one per core."""
    import os

    from jobs.common.settings import setting  # the settings module is light: a DAG file may read it

    return setting("CDE_SPARK_POOL_SLOTS") or os.cpu_count() or 2


# What every CDE DAG passes to ``@dag``: one run at a time, no automatic catch-up (backfills are explicit).
DAG_DEFAULTS = {"start_date": START_DATE, "catchup": False, "max_active_runs": 1, "default_args": DEFAULT_ARGS}


def local_daily(cron: str = "0 0 * * *") -> CronDataIntervalTimetable:
    """Daily data intervals in the region's local time; they must start at local midnight to be one local day."""
    return CronDataIntervalTimetable(cron, timezone=TIMEZONE)


def date_param(what: str = "process") -> Param:
    """The ``date`` param of manual runs (default: the local date where the data interval starts)."""
    return Param(None, type=["null", "string"], format="date",
                 description=f"Local date to {what} (YYYY-MM-DD); default: the data interval's date")


# Sensors that wait for suppliers' files or upstream tables: free the worker slot between checks, give up
# after 18 hours (a day's landing files that never come are then a failed, visible run).
WAIT_FOR_INPUT = {"poke_interval": 600, "timeout": 18 * 3600, "mode": "reschedule"}


def bronze_asset(feed: str) -> Asset:
    """The Asset of ``bronze/<feed>_events`` (ingest DAGs update it; the aggregation DAG is scheduled on it)."""
    return Asset(name=f"bronze/{feed}_events", uri=f"cde://lake/bronze/{feed}_events", group="bronze")


SILVER_TABLES = ("presence", "stays", "trips", "anchors")
FEEDS = tuple(REGISTERED_FEEDS)


# The feeds a registered supplier owns: the ones with a daily ingest run (``jobs.ingest.feeds.supplied_feeds``).
SUPPLIED_FEEDS = supplied_feeds()
# Feeds whose bronze tables are aggregated into silver (camera counts carry no identity and are released from
# bronze directly).
AGGREGATED_FEEDS = feeds_with(lambda spec: spec.presence is not None)
# What a manual aggregation run with only a date rebuilds: the aggregated feeds a supplier owns (a feed nobody
# supplies has no ingest run to aggregate).
SUPPLIED_AGGREGATED_FEEDS = tuple(feed for feed in AGGREGATED_FEEDS if feed in SUPPLIED_FEEDS)


def silver_asset(table: str) -> Asset:
    """The Asset of ``silver/<table>`` (updated by the aggregation DAG)."""
    return Asset(name=f"silver/{table}", uri=f"cde://lake/silver/{table}", group="silver")


def local_day_bounds(first: dt.date, last: dt.date) -> tuple[str, str]:
    """``airflow backfill create`` bounds selecting the runs of local days ``first`` to ``last`` (inclusive).

    Backfill dates are read as UTC unless they carry an offset, so a bare ``2026-03-02`` would miss the run
    of that local day (its interval starts at 23:00 UTC the day before). The bounds are local midnight of
    ``first`` and the last second of ``last``, with the offset of each (which differs across DST changes).
    """
    start = pendulum.datetime(first.year, first.month, first.day, tz=TIMEZONE)
    end = pendulum.datetime(last.year, last.month, last.day, 23, 59, 59, tz=TIMEZONE)
    return start.isoformat(), end.isoformat()
