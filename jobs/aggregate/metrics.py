"""Metric functions over a contract cut.

Pure DataFrame functions on person-level rows that the privacy release step has already bounded (docs/architecture.md,
the privacy model): they never see noise and never publish by themselves. A cut is an H3 resolution at or coarser than
the stored one, bins of 15 minutes, 1 hour or 1 day (local), and optional segment columns (``segment``, ``country``,
``mode``) as extra keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from jobs.common.h3cells import parent_column
from jobs.common.timebins import bin_start_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

PERSON = ("pseudo_id", "source")
CELL_BIN = ("h3_cell", "bin_start")
OD_KEYS = ("origin_h3", "destination_h3", "bin_start")


def to_cut(rows: DataFrame, h3_resolution: int, bin_minutes: int, cell: str = "h3_cell",
           ts: str = "bin_start") -> DataFrame:
    """Map rows to a cut: ``h3_cell`` becomes its parent at ``h3_resolution``, ``bin_start`` its local bin.

    Parameters
    ----------
    rows : DataFrame
        Rows with an H3 ``cell`` column (long) and a timestamp column ``ts``.
    h3_resolution : int
        Contract resolution, at or coarser than the stored one.
    bin_minutes : int
        15, 60 or 1440.
    cell, ts : str
        Input columns (e.g. ``h3_cell`` / ``bin_start`` for presence).

    Returns
    -------
    DataFrame
        The rows with ``h3_cell`` and ``bin_start`` at the cut.
    """
    from pyspark.sql import functions as F

    return rows.withColumn("h3_cell", parent_column(F.col(cell), h3_resolution)).withColumn(
        "bin_start", bin_start_column(F.col(ts), bin_minutes))


def trips_to_cut(trips: DataFrame, h3_resolution: int, bin_minutes: int) -> DataFrame:
    """Map trips to a cut: origin and destination parents, and the local bin of the trip's start."""
    from pyspark.sql import functions as F

    return trips.filter(F.col("destination_cell").isNotNull()).select(
        "*", parent_column(F.col("origin_cell"), h3_resolution).alias("origin_h3"),
        parent_column(F.col("destination_cell"), h3_resolution).alias("destination_h3"),
        bin_start_column(F.col("start_ts"), bin_minutes).alias("bin_start"))


def stay_minutes_by_bin(stays: DataFrame, bin_minutes: int = 15) -> DataFrame:
    """Split stays into the bins they cover: ``h3_cell, bin_start, minutes`` per person and bin."""
    from pyspark.sql import functions as F

    seconds = bin_minutes * 60
    first = F.floor(F.unix_timestamp("stay_start") / seconds) * seconds
    last = F.floor((F.unix_timestamp("stay_end") - 1) / seconds) * seconds
    exploded = stays.select("*", F.explode(F.sequence(first, last, F.lit(seconds).cast("long"))).alias("_b"))
    bin_start = F.col("_b")
    overlap = (F.least(F.unix_timestamp("stay_end"), bin_start + seconds)
               - F.greatest(F.unix_timestamp("stay_start"), bin_start)) / 60
    return exploded.select(*PERSON, "event_date", "h3_cell", F.timestamp_seconds(F.col("_b")).alias("bin_start"),
                           overlap.cast("long").alias("minutes"))


def with_segments(rows: DataFrame, anchors: DataFrame) -> DataFrame:
    """Add ``segment`` and ``country`` of each person-day (from ``silver.anchors``); unknown -> visitor."""
    from pyspark.sql import functions as F

    keys = ["pseudo_id", "source", "event_date"]
    joined = rows.join(anchors.select(*keys, "segment", "country"), keys, "left")
    return joined.withColumn("segment", F.coalesce("segment", F.lit("visitor")))


def unique_people(bounded: DataFrame, keys: Sequence[str] = CELL_BIN) -> DataFrame:
    """Distinct people per key (cell, bin and any segment columns): ``keys`` + ``value``."""
    from pyspark.sql import functions as F

    return bounded.groupBy(*keys).agg(F.countDistinct(*PERSON).alias("value"))


def footfall(bounded: DataFrame, keys: Sequence[str] = CELL_BIN, events: str = "events") -> DataFrame:
    """Events per key (presence events, already clamped per person and pair): ``keys`` + ``value``."""
    from pyspark.sql import functions as F

    return bounded.groupBy(*keys).agg(F.sum(events).cast("long").alias("value"))


def dwell_minutes(bounded: DataFrame, keys: Sequence[str] = CELL_BIN) -> DataFrame:
    """Minutes people stayed per key (from ``stay_minutes_by_bin`` rows, clamped): ``keys`` + ``value``."""
    from pyspark.sql import functions as F

    return bounded.groupBy(*keys).agg(F.sum("minutes").cast("long").alias("value"))


def od_trips(bounded: DataFrame, keys: Sequence[str] = OD_KEYS) -> DataFrame:
    """Trips per origin, destination and bin (``trips_to_cut`` rows, bounded): ``keys`` + ``value``."""
    from pyspark.sql import functions as F

    return bounded.groupBy(*keys).agg(F.count(F.lit(1)).cast("long").alias("value"))


def camera_count(camera: DataFrame, keys: Sequence[str] = CELL_BIN) -> DataFrame:
    """People counted into camera views per key (``count_in`` summed; camera rows cut like presence)."""
    from pyspark.sql import functions as F

    return camera.groupBy(*keys).agg(F.sum("count_in").cast("long").alias("value"))
