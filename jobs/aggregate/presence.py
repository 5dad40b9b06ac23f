"""``silver.presence``: one row per pseudonymous person, source, 15-minute bin and finest H3 cell.

The aggregation layer keeps person-level rows; the privacy release step bounds them, then counts
(DESIGN.md section 6). Nothing here is published.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from jobs.common import lake, settings
from jobs.common.timebins import bin_start_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)
PRESENCE_BIN_MINUTES = 15


def presence_from_events(events: DataFrame, source: str, bin_minutes: int = PRESENCE_BIN_MINUTES) -> DataFrame:
    """Turn located, pseudonymised events into person-level presence rows.

    Parameters
    ----------
    events : DataFrame
        Bronze events with ``pseudo_id``, ``key_period``, ``event_ts``, ``event_date``, ``h3_cell`` and
        optionally ``home_mcc``.
    source : str
        Feed name recorded in the ``source`` column.
    bin_minutes : int
        Width of the time bins (15 by default: the finest cut any contract may use).

    Returns
    -------
    DataFrame
        ``pseudo_id, source, event_date, bin_start, h3_cell, home_mcc, key_period, events``.
    """
    from pyspark.sql import functions as F

    home_mcc = F.col("home_mcc") if "home_mcc" in events.columns else F.lit(None).cast("string")
    return (
        events.select(
            "pseudo_id", F.lit(source).alias("source"), "event_date",
            bin_start_column(F.col("event_ts"), bin_minutes).alias("bin_start"),
            "h3_cell", home_mcc.alias("home_mcc"), "key_period",
        )
        .groupBy("pseudo_id", "source", "event_date", "bin_start", "h3_cell", "home_mcc", "key_period")
        .agg(F.count(F.lit(1)).alias("events"))
    )


def build_presence(spark: SparkSession, date: dt.date, sources: tuple[str, ...] = ("telco",)) -> dict:
    """Rebuild the ``silver/presence`` partitions of a local date from bronze, one source at a time.

    Returns
    -------
    dict
        Per source: bronze version read, rows written and the silver version committed.
    """
    out = {}
    for source in sources:
        bronze_path = settings.table_path("bronze", f"{source}_events")
        if not lake.exists(bronze_path):
            raise FileNotFoundError(f"no bronze table for {source} at {bronze_path}: ingest it first")
        bronze_version = lake.version(bronze_path)
        events = lake.read(spark, bronze_path, version=bronze_version,
                           partitions={"event_date": date.isoformat()})
        presence = presence_from_events(events, source).cache()
        rows = presence.count()
        version = lake.write(
            presence, settings.table_path("silver", "presence"), mode="replace_partitions",
            partition_by=["event_date", "source"],
            replace=[{"event_date": date.isoformat(), "source": source}],
        )
        presence.unpersist()
        out[source] = {"bronze_version": bronze_version, "rows": rows, "silver_version": version}
        log.info("aggregate presence %s %s: bronze v%d -> %d presence rows, silver v%d",
                 source, date, bronze_version, rows, version)
    return out
