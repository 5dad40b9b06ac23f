"""Contribution bounding (docs/architecture.md, the privacy model): the privacy unit is a person, bounded per day.

Excess contributions are dropped by a keyed hash, not by arrival order: the key is drawn fresh from the
operating system for every release (it is not a seed and is never stored), so which pairs survive is
unpredictable to a supplier or attacker and does not favour early events.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

PERSON_DAY = ("pseudo_id", "source", "event_date")


def bound_distinct_pairs(rows: DataFrame, max_pairs_per_day: int, pair: Sequence[str] = ("h3_cell", "bin_start"),
                         person_day: Sequence[str] = PERSON_DAY) -> DataFrame:
    """Keep each person at most once per pair and at most ``max_pairs_per_day`` pairs per day.

    Parameters
    ----------
    rows : DataFrame
        Person-level rows at the release cut (``to_cut``).
    max_pairs_per_day : int
        The contract's ``max_cells_per_day``: the L0 bound per person and day.
    pair : sequence of str
        Columns of one released key (cell, bin, and any segment column).
    person_day : sequence of str
        Columns identifying a person-day (pseudonym, source, local date).

    Returns
    -------
    DataFrame
        Distinct ``person_day + pair`` rows, at most ``max_pairs_per_day`` per person-day.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if max_pairs_per_day < 1:
        raise ValueError(f"max_pairs_per_day must be at least 1, not {max_pairs_per_day}")
    key = secrets.randbits(62)
    distinct = rows.select(*person_day, *pair).distinct()
    order = F.xxhash64(F.lit(key), *[F.col(c) for c in (*person_day, *pair)])
    rank = F.row_number().over(Window.partitionBy(*person_day).orderBy(order, *pair))
    return distinct.withColumn("_rank", rank).filter(F.col("_rank") <= max_pairs_per_day).drop("_rank")


def bound_events_per_pair(rows: DataFrame, max_pairs_per_day: int, max_events_per_pair: int,
                          pair: Sequence[str] = ("h3_cell", "bin_start"), events: str = "events",
                          person_day: Sequence[str] = PERSON_DAY) -> DataFrame:
    """For event counts (footfall): at most ``max_pairs_per_day`` pairs per person-day, each with its events
    clamped to ``max_events_per_pair``. L1 sensitivity per day: ``max_pairs_per_day * max_events_per_pair``.

    Returns
    -------
    DataFrame
        ``person_day + pair + [events]`` with clamped ``events``.
    """
    from pyspark.sql import functions as F

    if max_events_per_pair < 1:
        raise ValueError(f"max_events_per_pair must be at least 1, not {max_events_per_pair}")
    per_pair = rows.groupBy(*person_day, *pair).agg(F.sum(events).alias(events))
    kept = bound_distinct_pairs(per_pair, max_pairs_per_day, pair, person_day)
    return kept.join(per_pair, [*person_day, *pair]).withColumn(
        events, F.least(F.col(events), F.lit(max_events_per_pair)).cast("long"))


def bound_rows_per_day(rows: DataFrame, max_rows_per_day: int, order_columns: Sequence[str],
                       person_day: Sequence[str] = PERSON_DAY) -> DataFrame:
    """Keep at most ``max_rows_per_day`` rows (trips) per person-day, chosen by a fresh keyed hash."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if max_rows_per_day < 1:
        raise ValueError(f"max_rows_per_day must be at least 1, not {max_rows_per_day}")
    key = secrets.randbits(62)
    order = F.xxhash64(F.lit(key), *[F.col(c) for c in (*person_day, *order_columns)])
    rank = F.row_number().over(Window.partitionBy(*person_day).orderBy(order, *order_columns))
    return rows.withColumn("_rank", rank).filter(F.col("_rank") <= max_rows_per_day).drop("_rank")


def clamp(rows: DataFrame, column: str, low: int, high: int) -> DataFrame:
    """Clamp a summed column (e.g. dwell minutes) to ``[low, high]`` per row, in integer units."""
    from pyspark.sql import functions as F

    return rows.withColumn(column, F.least(F.greatest(F.col(column), F.lit(low)), F.lit(high)).cast("long"))
