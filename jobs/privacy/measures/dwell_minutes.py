"""``dwell_minutes``: minutes people stayed per cell and local bin, from ``silver/stays`` (additive).

Each stay is split into the 15-minute bins it covers, mapped to the contract cut, and summed per person
and (cell, bin) pair; a person-day keeps at most ``max_cells_per_day`` pairs, each clamped to
``max_minutes_per_pair`` minutes, so values are sums of integer minutes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from jobs.privacy.measures.base import Bounder, Bounds, Measure

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from jobs.privacy.release import ReleasePlan


@dataclasses.dataclass(frozen=True)
class MinutesPerPair(Bounder):
    """At most ``max_pairs`` keys per person and day, each with at most ``max_minutes`` minutes."""

    max_pairs: int
    max_minutes: int
    properties = {"max_cells_per_day": None, "max_minutes_per_pair": 60}

    @classmethod
    def from_bounds(cls, bounds: Bounds) -> MinutesPerPair:
        return cls(bounds["max_cells_per_day"], bounds["max_minutes_per_pair"])

    def l1_per_day(self) -> int:
        return self.max_pairs * self.max_minutes

    def l2_per_day(self) -> float:
        return self.max_minutes * math.sqrt(self.max_pairs)

    def max_per_key(self) -> int:
        return self.max_minutes

    def bound(self, rows: DataFrame, pair: Sequence[str]) -> DataFrame:
        from jobs.privacy.bounding import bound_events_per_pair

        return bound_events_per_pair(rows, self.max_pairs, self.max_minutes, pair, events="minutes")

    def text(self) -> str:
        return (f"per person and day at most {self.max_pairs} (cell, bin) pairs, at most {self.max_minutes} "
                "minutes each")

    def as_dict(self) -> dict[str, int]:
        return {"max_cells_per_day": self.max_pairs, "max_minutes_per_pair": self.max_minutes}


def stays_cut(spark: SparkSession, stays: DataFrame, plan: ReleasePlan, cells: list[str]) -> DataFrame:
    """Minutes per person, cell and 15-minute bin of each stay, mapped to the contract cut."""
    from jobs.aggregate.metrics import stay_minutes_by_bin, to_cut

    del spark, cells  # the engine restricts the rows to the area's cells and the window before bounding
    # 15-minute bins align with local time (whole-hour offsets); the cut then maps them to the contract bins.
    return to_cut(stay_minutes_by_bin(stays, 15), plan.h3_resolution, plan.bin_minutes)


def _sum_minutes(bounded: DataFrame, keys: list[str]) -> DataFrame:
    from jobs.aggregate.metrics import dwell_minutes

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
