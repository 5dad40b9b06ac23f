"""The bounders the measures share (a measure with a bound of its own defines it in its module)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from jobs.privacy.bounding import PERSON_DAY, bound_distinct_pairs, bound_events_per_pair, bound_rows_per_day
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
        return bound_distinct_pairs(rows, self.max_pairs, pair)

    def text(self) -> str:
        return f"per person and day at most {self.max_pairs} (cell, bin) pairs, once per pair"

    def as_dict(self) -> dict[str, int]:
        return {"max_cells_per_day": self.max_pairs}


@dataclasses.dataclass(frozen=True)
class AmountPerPair(Bounder):
    """At most ``max_pairs`` keys per person and day, each with at most ``max_amount`` of the measure's
    amount: events (footfall, by default) or minutes (dwell, ``MinutesPerPair``). One bounder: only the
    bound property, its default and the column summed differ."""

    max_pairs: int
    max_amount: int
    #: the contract property of the per-pair amount, and the person-level column it clamps
    amount_property: ClassVar[str] = "max_events_per_pair"
    amount_column: ClassVar[str] = "events"
    properties = {"max_cells_per_day": None, "max_events_per_pair": 4}

    @classmethod
    def from_bounds(cls, bounds: Bounds) -> AmountPerPair:
        return cls(bounds["max_cells_per_day"], bounds[cls.amount_property])

    def l1_per_day(self) -> int:
        return self.max_pairs * self.max_amount

    def l2_per_day(self) -> float:
        return self.max_amount * math.sqrt(self.max_pairs)

    def max_per_key(self) -> int:
        return self.max_amount

    def bound(self, rows: DataFrame, pair: Sequence[str]) -> DataFrame:
        return bound_events_per_pair(rows, self.max_pairs, self.max_amount, pair, events=self.amount_column)

    def text(self) -> str:
        return (f"per person and day at most {self.max_pairs} (cell, bin) pairs, at most {self.max_amount} "
                f"{self.amount_column} each")

    def as_dict(self) -> dict[str, int]:
        return {"max_cells_per_day": self.max_pairs, self.amount_property: self.max_amount}


EventsPerPair = AmountPerPair


@dataclasses.dataclass(frozen=True)
class MinutesPerPair(AmountPerPair):
    """Dwell: at most ``max_pairs`` keys per person and day, each with at most ``max_amount`` minutes."""

    amount_property: ClassVar[str] = "max_minutes_per_pair"
    amount_column: ClassVar[str] = "minutes"
    properties = {"max_cells_per_day": None, "max_minutes_per_pair": 60}


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


#: Units of one person in ``present_population`` values (hundredths): a person's mass at an instant, spread
#: over the cells of a footprint, is a whole number of these and sums to exactly this many.
UNITS_PER_PERSON = 100


@dataclasses.dataclass(frozen=True)
class InstantsPerDay(Bounder):
    """Present population: per person and day at most ``max_bins`` bins, each bin's instant carrying the
    person's unit mass (``UNITS_PER_PERSON`` hundredths) spread over cells.

    A person's rows in one bin sum to at most one person whatever the spread, so the L1 change per day is
    ``max_bins`` persons; in one bin the change is largest in L2 when all the mass is in one cell (a vector
    of sum U has L2 norm at most U), and different bins are different keys, so L2 is ``U * sqrt(max_bins)``.
    """

    max_bins: int
    properties = {"max_bins_per_day": 24}

    @classmethod
    def from_bounds(cls, bounds: Bounds) -> InstantsPerDay:
        return cls(bounds["max_bins_per_day"])

    def l1_per_day(self) -> int:
        return self.max_bins * UNITS_PER_PERSON

    def l2_per_day(self) -> float:
        return UNITS_PER_PERSON * math.sqrt(self.max_bins)

    def max_per_key(self) -> int:
        return UNITS_PER_PERSON

    def bound(self, rows: DataFrame, pair: Sequence[str]) -> DataFrame:
        from pyspark.sql import functions as F

        # the bins a person keeps are chosen like pairs (fresh keyed hash); all their cells come along
        kept = bound_distinct_pairs(rows, self.max_bins, ("bin_start",))
        summed = rows.groupBy(*PERSON_DAY, *pair).agg(F.sum("units").alias("units"))
        return summed.join(kept, [*PERSON_DAY, "bin_start"], "left_semi")

    def text(self) -> str:
        return (f"per person and day at most {self.max_bins} bins, each counting the person once "
                f"(their presence at the bin's instant, spread over cells in units of 1/{UNITS_PER_PERSON} person)")

    def as_dict(self) -> dict[str, int]:
        return {"max_bins_per_day": self.max_bins}
