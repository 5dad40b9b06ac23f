"""``dwell_minutes``: minutes people stayed per cell and local bin, from ``silver/stays`` (additive).

Each stay is split into the 15-minute bins it covers, mapped to the contract cut, and summed per person
and (cell, bin) pair; a person-day keeps at most ``max_cells_per_day`` pairs, each clamped to
``max_minutes_per_pair`` minutes, so values are sums of integer minutes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.aggregate.metrics import dwell_minutes, stay_minutes_by_bin, to_cut
from jobs.privacy.measures.base import Measure
from jobs.privacy.measures.bounders import MinutesPerPair

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from jobs.privacy.release import ReleasePlan


def stays_cut(spark: SparkSession, stays: DataFrame, plan: ReleasePlan, cells: list[str]) -> DataFrame:
    """Minutes per person, cell and 15-minute bin of each stay, mapped to the contract cut."""
    del spark, cells  # the engine restricts the rows to the area's cells and the window before bounding
    # 15-minute bins align with local time (whole-hour offsets); the cut then maps them to the contract bins.
    return to_cut(stay_minutes_by_bin(stays, 15), plan.h3_resolution, plan.bin_minutes)


def _sum_minutes(bounded: DataFrame, keys: list[str]) -> DataFrame:
    return dwell_minutes(bounded, keys)


MEASURE = Measure(
    name="dwell_minutes",
    description="minutes people stayed in the cell during the bin (each person's minutes per pair clamped)",
    reads="silver/stays",
    reads_sources=lambda feed: feed.presence is not None,
    to_cut=stays_cut,
    bounder=MinutesPerPair,
    aggregate=_sum_minutes,
    segments=("segment", "country"),
    value_unit="minutes",
)
