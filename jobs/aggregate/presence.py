"""``silver.presence``: one row per pseudonymous person, source, local day, 15-minute bin and finest H3 cell.

- telco: every event marks its bin and cell;
- wifi: a sighting marks every bin from ``first_seen`` to ``last_seen`` (at most ``MAX_SIGHTING_HOURS``);
- ticket: the check-in marks the check-in stop's cell and bin, the check-out the check-out stop's.

The aggregation layer keeps person-level rows; the privacy release step bounds them, then counts
(DESIGN.md section 6). Nothing here is published.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.common.timebins import bin_start_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

PRESENCE_BIN_MINUTES = 15
MAX_SIGHTING_HOURS = 12
PRESENCE_KEYS = ("pseudo_id", "source", "event_date", "bin_start", "h3_cell", "home_mcc", "key_period")


def _points(events: DataFrame, source: str, ts: str, cell: str, bin_minutes: int) -> DataFrame:
    from pyspark.sql import functions as F

    home_mcc = F.col("home_mcc") if "home_mcc" in events.columns else F.lit(None).cast("string")
    return events.filter(F.col(cell).isNotNull() & F.col(ts).isNotNull()).select(
        "pseudo_id", F.lit(source).alias("source"), "event_date",
        bin_start_column(F.col(ts), bin_minutes).alias("bin_start"), F.col(cell).alias("h3_cell"),
        home_mcc.alias("home_mcc"), "key_period")


def _count(rows: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    return rows.groupBy(*PRESENCE_KEYS).agg(F.count(F.lit(1)).alias("events"))


def presence_from_events(events: DataFrame, source: str, bin_minutes: int = PRESENCE_BIN_MINUTES) -> DataFrame:
    """Presence of point events (telco): one row per person, bin and cell with the number of events.

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
    return _count(_points(events, source, "event_ts", "h3_cell", bin_minutes))


def presence_from_sightings(sightings: DataFrame, source: str = "wifi",
                            bin_minutes: int = PRESENCE_BIN_MINUTES) -> DataFrame:
    """Presence of wifi sightings: every bin a sighting overlaps (``event_ts`` to ``last_seen``)."""
    from pyspark.sql import functions as F

    seconds = bin_minutes * 60
    first_bin = F.floor(F.unix_timestamp("event_ts") / seconds) * seconds
    last = F.least(F.col("last_seen"), F.col("event_ts") + F.expr(f"INTERVAL {MAX_SIGHTING_HOURS} HOURS"))
    last_bin = F.floor(F.unix_timestamp(last) / seconds) * seconds
    rows = sightings.filter(F.col("h3_cell").isNotNull()).select(
        "pseudo_id", F.lit(source).alias("source"), "event_date",
        F.explode(F.sequence(first_bin, last_bin, F.lit(seconds).cast("long"))).alias("_bin"),
        "h3_cell", F.lit(None).cast("string").alias("home_mcc"), "key_period")
    return _count(rows.withColumn("bin_start", F.timestamp_seconds("_bin")).drop("_bin"))


def presence_from_trips(trips: DataFrame, source: str = "ticket",
                        bin_minutes: int = PRESENCE_BIN_MINUTES) -> DataFrame:
    """Presence of transit trips: the check-in stop at check-in, the check-out stop at check-out.

    A check-out after local midnight stays with the check-in's day (one person-day per trip).
    """
    check_in = _points(trips, source, "event_ts", "h3_cell", bin_minutes)
    check_out = _points(trips, source, "check_out_ts", "h3_cell_out", bin_minutes)
    return _count(check_in.unionByName(check_out))

