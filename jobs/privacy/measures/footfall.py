"""``footfall``: presence events per cell and local bin, clamped per person and pair (additive)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.aggregate.metrics import footfall
from jobs.privacy.measures.base import Measure
from jobs.privacy.measures.bounders import EventsPerPair
from jobs.privacy.measures.unique_people import presence_cut

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def _sum_events(bounded: DataFrame, keys: list[str]) -> DataFrame:
    return footfall(bounded, keys)


MEASURE = Measure(
    name="footfall",
    description="presence events in the cell during the bin (each person's events per pair clamped)",
    reads="silver/presence",
    reads_sources=lambda feed: feed.presence is not None,
    to_cut=presence_cut,
    bounder=EventsPerPair,
    aggregate=_sum_events,
    segments=("segment", "country"),
    value_unit="events",
)
