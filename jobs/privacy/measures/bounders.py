"""The bounders the measures share (a measure with a bound of its own defines it in its module)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from jobs.privacy.measures.base import Bounder, Bounds

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@dataclasses.dataclass(frozen=True)
class DistinctPairs(Bounder):
    """Distinct people: per person and day at most ``max_pairs`` keys, once each (L0 bound, Linf 1)."""

    max_pairs: int
    properties = {"max_cells_per_day": None}

    @classmethod
    def from_bounds(cls, bounds: Bounds) -> DistinctPairs:
        return cls(bounds["max_cells_per_day"])

    def l1_per_day(self) -> int:
        return self.max_pairs

    def l2_per_day(self) -> float:
        return math.sqrt(self.max_pairs)

    def max_per_key(self) -> int:
        return 1

    def bound(self, rows: DataFrame, pair: Sequence[str]) -> DataFrame:
        from jobs.privacy.bounding import bound_distinct_pairs

        return bound_distinct_pairs(rows, self.max_pairs, pair)

    def text(self) -> str:
        return f"per person and day at most {self.max_pairs} (cell, bin) pairs, once per pair"

    def as_dict(self) -> dict[str, int]:
        return {"max_cells_per_day": self.max_pairs}


@dataclasses.dataclass(frozen=True)
class EventsPerPair(Bounder):
    """Event counts: at most ``max_pairs`` keys per person and day, each with at most ``max_events``."""

    max_pairs: int
    max_events: int
    properties = {"max_cells_per_day": None, "max_events_per_pair": 4}

    @classmethod
    def from_bounds(cls, bounds: Bounds) -> EventsPerPair:
        return cls(bounds["max_cells_per_day"], bounds["max_events_per_pair"])

    def l1_per_day(self) -> int:
        return self.max_pairs * self.max_events

    def l2_per_day(self) -> float:
        return self.max_events * math.sqrt(self.max_pairs)

    def max_per_key(self) -> int:
        return self.max_events

    def bound(self, rows: DataFrame, pair: Sequence[str]) -> DataFrame:
        from jobs.privacy.bounding import bound_events_per_pair

        return bound_events_per_pair(rows, self.max_pairs, self.max_events, pair)

    def text(self) -> str:
        return (f"per person and day at most {self.max_pairs} (cell, bin) pairs, at most {self.max_events} events "
                "each")

    def as_dict(self) -> dict[str, int]:
        return {"max_cells_per_day": self.max_pairs, "max_events_per_pair": self.max_events}


@dataclasses.dataclass(frozen=True)
class TripsPerDay(Bounder):
    """Trips: at most ``max_trips`` per person and day, which may all fall into one key."""

    max_trips: int
    properties = {"max_trips_per_day": 4}

    @classmethod
    def from_bounds(cls, bounds: Bounds) -> TripsPerDay:
        return cls(bounds["max_trips_per_day"])

    def l1_per_day(self) -> int:
        return self.max_trips

    def l2_per_day(self) -> float:
        return float(self.max_trips)  # every trip of the day may be the same (origin, destination, bin)

    def max_per_key(self) -> int:
        return self.max_trips

    def bound(self, rows: DataFrame, pair: Sequence[str]) -> DataFrame:
        from jobs.privacy.bounding import bound_rows_per_day

        return bound_rows_per_day(rows, self.max_trips, ["start_ts", *pair])

    def text(self) -> str:
        return f"per person and day at most {self.max_trips} trips"

    def as_dict(self) -> dict[str, int]:
        return {"max_trips_per_day": self.max_trips}


@dataclasses.dataclass(frozen=True)
class EventLevel(Bounder):
    """No identity (camera counts): one event changes one count by one, whatever the window."""

    properties = {}
    per_day = False

    @classmethod
    def from_bounds(cls, bounds: Bounds) -> EventLevel:
        del bounds
        return cls()

    def l1_per_day(self) -> int:
        return 1

    def l2_per_day(self) -> float:
        return 1.0

    def max_per_key(self) -> int:
        return 1

    def bound(self, rows: DataFrame, pair: Sequence[str]) -> DataFrame:
        del pair
        return rows

    def text(self) -> str:
        return "none needed: cameras carry no identity (event-level: one passage changes one count by one)"
