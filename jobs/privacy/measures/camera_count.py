"""``camera_count``: people counted into camera views per cell and local bin; event-level DP (cameras
carry no identity), read from bronze, with their own cap in the ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.aggregate.metrics import camera_count, to_cut
from jobs.privacy.measures.base import Measure
from jobs.privacy.measures.bounders import EventLevel

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from jobs.privacy.release import ReleasePlan


def camera_cut(spark: SparkSession, camera: DataFrame, plan: ReleasePlan, cells: list[str]) -> DataFrame:
    """Camera intervals at the contract's resolution, binned by their start."""
    del spark, cells
    return to_cut(camera, plan.h3_resolution, plan.bin_minutes, ts="event_ts")


def _sum_counts(rows: DataFrame, keys: list[str]) -> DataFrame:
    return camera_count(rows, keys)


MEASURE = Measure(
    name="camera_count",
    description="passages counted into the camera views of the cell during the bin",
    reads="bronze/camera_events",
    reads_sources=lambda feed: feed.unit == "event",
    to_cut=camera_cut,
    bounder=EventLevel,
    aggregate=_sum_counts,
    unit="event",
    value_unit="passages",
    fixed_sources=("camera",),
)
