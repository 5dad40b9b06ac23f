"""``od_trips``: trips per origin cell, destination cell and local bin of the start; a sparse domain, so
DP partition selection instead of zero-fill (needs a delta)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.aggregate.metrics import od_trips, trips_to_cut
from jobs.privacy.measures.base import PARTITION_SELECTION, Measure
from jobs.privacy.measures.bounders import TripsPerDay
from jobs.privacy.measures.segments import segment_values

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from jobs.privacy.release import ReleasePlan


def trips_cut(spark: SparkSession, trips: DataFrame, plan: ReleasePlan, cells: list[str]) -> DataFrame:
    """Trips at the contract cut (the engine keeps those with both ends inside the area); unknown modes are
    outside the domain."""
    from pyspark.sql import functions as F

    del spark, cells  # the engine restricts both ends to the area's cells before bounding
    cut = trips_to_cut(trips, plan.h3_resolution, plan.bin_minutes)
    if "mode" in plan.segments:  # public list only: trips of unknown mode are not in this domain
        cut = cut.filter(F.col("mode").isin(*segment_values("mode")))
    return cut


def _count_trips(bounded: DataFrame, keys: list[str]) -> DataFrame:
    return od_trips(bounded, keys)


MEASURE = Measure(
    name="od_trips",
    description="trips from the origin cell to the destination cell starting in the bin",
    reads="silver/trips",
    reads_sources=lambda feed: feed.presence is not None,
    to_cut=trips_cut,
    bounder=TripsPerDay,
    aggregate=_count_trips,
    places=("origin_h3", "destination_h3"),
    segments=("mode",),
    domain=PARTITION_SELECTION,
    needs_delta=True,
    value_unit="trips",
)
