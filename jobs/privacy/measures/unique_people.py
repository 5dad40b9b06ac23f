"""``unique_people``: distinct people per cell and local bin (not additive: one person is in several cells)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.aggregate.metrics import to_cut, unique_people
from jobs.privacy.measures.base import Measure
from jobs.privacy.measures.bounders import DistinctPairs

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from jobs.privacy.release import ReleasePlan


def presence_cut(spark: SparkSession, presence: DataFrame, plan: ReleasePlan, cells: list[str]) -> DataFrame:
    """Presence rows at the contract's H3 resolution and local bins (the area is applied by the domain)."""
    del spark, cells  # the engine restricts the rows to the area's cells and the window before bounding
    return to_cut(presence, plan.h3_resolution, plan.bin_minutes)


def _count(bounded: DataFrame, keys: list[str]) -> DataFrame:
    return unique_people(bounded, keys)


MEASURE = Measure(
    name="unique_people",
    description="distinct people seen in the cell during the bin",
    reads="silver/presence",
    reads_sources=lambda feed: feed.presence is not None,
    to_cut=presence_cut,
    bounder=DistinctPairs,
    aggregate=_count,
    segments=("segment", "country"),
    additive=False,
    value_unit="people",
)
