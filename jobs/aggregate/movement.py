"""Stays and trips from person-level presence (``silver.stays``, ``silver.trips``).

A person's day becomes a sequence of 15-minute bins, each in one cell: the cell with the most events in that
bin (ties: the smallest cell id). Consecutive bins in the same cell, with gaps of at most
``max_gap_minutes``, merge into a stay from its first bin's start to its last bin's end. A trip is a move
between two consecutive stays of at least ``min_stay_minutes`` in different cells (telco, wifi), or a
ticket check-in and check-out (with its transport mode).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

PERSON_DAY = ("pseudo_id", "source", "event_date")
DEFAULT_MAX_GAP_MINUTES = 60
DEFAULT_MIN_STAY_MINUTES = 30


def located_bins(presence: DataFrame) -> DataFrame:
    """One cell per person and bin: the cell with the most events (ties: smallest cell id)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rank = Window.partitionBy(*PERSON_DAY, "bin_start").orderBy(F.col("events").desc(), F.col("h3_cell"))
    return (presence.withColumn("_r", F.row_number().over(rank)).filter("_r = 1")
            .select(*PERSON_DAY, "key_period", "bin_start", "h3_cell"))


def stays_from_presence(presence: DataFrame, bin_minutes: int = 15,
                        max_gap_minutes: int = DEFAULT_MAX_GAP_MINUTES) -> DataFrame:
    """Merge consecutive presence in the same cell into stays.

    Parameters
    ----------
    presence : DataFrame
        ``silver.presence`` rows.
    bin_minutes : int
        Width of the presence bins.
    max_gap_minutes : int
        Longest gap between two bins of the same cell that still counts as one stay.

    Returns
    -------
    DataFrame
        ``pseudo_id, source, event_date, key_period, h3_cell, stay_start, stay_end, dwell_minutes``.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    bins = located_bins(presence)
    order = Window.partitionBy(*PERSON_DAY).orderBy("bin_start")
    previous_cell = F.lag("h3_cell").over(order)
    gap = F.unix_timestamp("bin_start") - F.unix_timestamp(F.lag("bin_start").over(order)) - bin_minutes * 60
    new_stay = (previous_cell.isNull() | (previous_cell != F.col("h3_cell"))
                | (gap > max_gap_minutes * 60)).cast("int")
    numbered = bins.withColumn("_new", new_stay).withColumn(
        "_stay", F.sum("_new").over(order.rowsBetween(Window.unboundedPreceding, Window.currentRow)))
    stays = numbered.groupBy(*PERSON_DAY, "key_period", "_stay", "h3_cell").agg(
        F.min("bin_start").alias("stay_start"),
        (F.max("bin_start") + F.expr(f"INTERVAL {bin_minutes} MINUTES")).alias("stay_end"))
    minutes = ((F.unix_timestamp("stay_end") - F.unix_timestamp("stay_start")) / 60).cast("long")
    return stays.select(*PERSON_DAY, "key_period", "h3_cell", "stay_start", "stay_end",
                        minutes.alias("dwell_minutes"))


def trips_from_stays(stays: DataFrame, min_stay_minutes: int = DEFAULT_MIN_STAY_MINUTES) -> DataFrame:
    """Trips between consecutive stays of at least ``min_stay_minutes`` in different cells (mode unknown).

    Returns
    -------
    DataFrame
        ``pseudo_id, source, event_date, key_period, origin_cell, destination_cell, start_ts, end_ts, mode``.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    long_stays = stays.filter(F.col("dwell_minutes") >= min_stay_minutes)
    order = Window.partitionBy(*PERSON_DAY).orderBy("stay_start")
    with_next = long_stays.select(
        *PERSON_DAY, "key_period", F.col("h3_cell").alias("origin_cell"), F.col("stay_end").alias("start_ts"),
        F.lead("h3_cell").over(order).alias("destination_cell"), F.lead("stay_start").over(order).alias("end_ts"))
    return with_next.filter(F.col("destination_cell").isNotNull()
                            & (F.col("destination_cell") != F.col("origin_cell"))).select(
        *PERSON_DAY, "key_period", "origin_cell", "destination_cell", "start_ts", "end_ts",
        F.lit(None).cast("string").alias("mode"))


def trips_from_tickets(tickets: DataFrame, source: str = "ticket") -> DataFrame:
    """Trips of ticket bronze rows: check-in stop to check-out stop (no destination without a check-out)."""
    from pyspark.sql import functions as F

    return tickets.select(
        "pseudo_id", F.lit(source).alias("source"), "event_date", "key_period",
        F.col("h3_cell").alias("origin_cell"), F.col("h3_cell_out").alias("destination_cell"),
        F.col("event_ts").alias("start_ts"), F.col("check_out_ts").alias("end_ts"), "mode")
