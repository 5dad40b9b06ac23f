"""What every measure is made of: bounders, segment columns and the ``Measure`` itself (the contribution
bounds a contract sets are ``jobs.contracts.Bounds``).

Light at import (no Spark, no pandas): contract validation and DAG files look measures up.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from jobs.contracts import Bounds

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from jobs.privacy.release import ReleasePlan

ZERO_FILL = "zero_fill"
PARTITION_SELECTION = "partition_selection"


class Bounder:
    """How a measure bounds one person's contribution per day, and what that costs.

    A parameter object in the manner of PipelineDP's ``AggregateParams``: it holds the bounds it applies,
    knows the L1 and L2 sensitivity of one privacy unit per day, bounds person-level rows, and writes its
    own text for audits.
    """

    #: contract properties the bounder reads, with their defaults (None: required)
    properties: Mapping[str, int | None] = {}
    #: False for event-level bounds (one event changes one count by one, whatever the window length)
    per_day: bool = True

    @classmethod
    def from_bounds(cls, bounds: Bounds) -> Bounder:
        """The bounder with a contract's bound values."""
        raise NotImplementedError

    def l1_per_day(self) -> int:
        """Largest L1 change one privacy unit can make to the release's counts in one day."""
        raise NotImplementedError

    def l2_per_day(self) -> float:
        """Largest L2 change one privacy unit can make to the release's counts in one day."""
        raise NotImplementedError

    def max_per_key(self) -> int:
        """Largest amount one privacy unit adds to one key (how many units k people are, per key)."""
        raise NotImplementedError

    def bound(self, rows: DataFrame, pair: Sequence[str]) -> DataFrame:
        """Bound person-level rows at the contract cut; ``pair`` are the columns of one released key."""
        raise NotImplementedError

    def text(self) -> str:
        """The bound in words, for audits, manifests and the record of processing."""
        raise NotImplementedError

    def as_dict(self) -> dict[str, int]:
        """The bound properties this bounder applies (for manifests and audits)."""
        return {}


@dataclasses.dataclass(frozen=True)
class SegmentColumn:
    """A column that splits a release by a public list of values.

    Attributes
    ----------
    name : str
        Column name in releases and products (``segment``, ``country``, ``mode``).
    values : callable
        Returns the public list of values (never taken from the data).
    lookback_days : int
        Days before a release window whose data decides a person's value (0 when the value is fixed per
        pseudonym or per record).
    sensitivity_multiplier : int
        2 when a person's data can move them between values (they leave one key and join another), else 1.
    joined_from : str or None
        Table the column is joined from per person-day (``silver/anchors``), None when the rows carry it.
    description : str
        What the column is, for audits.
    """

    name: str
    values: Callable[[], list[str]]
    lookback_days: int
    sensitivity_multiplier: int
    joined_from: str | None
    description: str


@dataclasses.dataclass(frozen=True)
class Measure:
    """One metric: what it reads, how it bounds and counts, over which domain, at what cost.

    A generic release engine (``jobs.privacy.release``) visits a measure; nothing else knows a metric by
    name. One module per metric under ``jobs/privacy/measures/`` defines ``MEASURE``.

    Attributes
    ----------
    name : str
        The metric's name in contracts and products.
    description : str
        What a released value counts, in words.
    reads : str
        The table it reads (``silver/presence``, ``silver/trips``, ``bronze/camera_events``, ...).
    reads_sources : callable
        ``FeedSpec -> bool``: whether the measure can read a feed (e.g. feeds with presence).
    fixed_sources : tuple of str
        When set, the sources a release reads whatever the contract lists (event-level feeds).
    to_cut : callable
        ``(spark, rows, plan, cells) -> DataFrame``: maps rows to the contract cut (cell or OD pair, local
        bin, the measure's own segment columns) and keeps the keys inside the area.
    places : tuple of str
        Place columns of a key (``h3_cell``; ``origin_h3, destination_h3`` for OD).
    segments : tuple of str
        Segment columns the measure allows.
    bounder : type of Bounder
        Built per release with ``bounder.from_bounds(bounds)``.
    aggregate : callable
        ``(bounded, keys) -> DataFrame`` with ``keys`` + ``value``.
    domain : str
        ``zero_fill`` (every key of the public domain gets a value) or ``partition_selection`` (sparse keys,
        DP-selected).
    additive : bool
        Whether a coarser cut is the sum of finer ones (events, minutes, trips, passages: yes; distinct
        people: no).
    unit : str
        ``person`` or ``event`` (for person measures the feeds refine it: wifi is a device on a network).
    needs_delta : bool
        Whether a release needs a delta above 0 (partition selection).
    value_unit : str
        What ``value`` counts (people, events, minutes, trips, passages): the unit of k on delivery.
    units_per_person : int
        How many value units one person is when values are fractions of people (``present_population``: 100
        hundredths); population estimates divide by it, so they count people.
    placement : str
        How the measure places people, when not by its feeds' own rule (``FeedSpec.placement``), in words for
        the delivery's README and audit; empty: the feeds' rule.
    """

    name: str
    description: str
    reads: str
    reads_sources: Callable[[Any], bool]
    to_cut: Callable[[SparkSession, DataFrame, ReleasePlan, list[str]], DataFrame]
    bounder: type[Bounder]
    aggregate: Callable[[DataFrame, Sequence[str]], DataFrame]
    places: tuple[str, ...] = ("h3_cell",)
    segments: tuple[str, ...] = ()
    domain: str = ZERO_FILL
    additive: bool = True
    unit: str = "person"
    needs_delta: bool = False
    value_unit: str = "people"
    fixed_sources: tuple[str, ...] = ()
    units_per_person: int = 1
    placement: str = ""

    def bound_properties(self) -> dict[str, int | None]:
        """Contract properties of this measure's bound, with their defaults (None: required)."""
        return dict(self.bounder.properties)

    def keys(self, segments: Sequence[str]) -> list[str]:
        """Columns of one released key: places, bin, segment columns."""
        return [*self.places, "bin_start", *segments]

    def k_threshold(self, k: int, bounder: Bounder) -> int:
        """k people in this measure's units: k x the most one person adds to one key."""
        return k * bounder.max_per_key()

    def k_statement(self, k: int, bounder: Bounder) -> str:
        """The threshold in the unit it applies in, the same words in every README, data package, manifest,
        audit and printout: ``219 people``, or ``102 trips (k 34 people x at most 3 trips each)``."""
        per_key = bounder.max_per_key()
        threshold = self.k_threshold(k, bounder)
        if per_key == 1:
            return f"{threshold} {self.value_unit}"
        return f"{threshold} {self.value_unit} (k {k} people x at most {per_key} {self.value_unit} each)"

    def k_text(self, k: int, bounder: Bounder) -> str:
        """How k people translate into this measure's values, for audits and manifests."""
        per_key = bounder.max_per_key()
        if per_key == 1:
            return f"values below k = {k} {self.value_unit} are suppressed"
        return (f"values below {self.k_threshold(k, bounder)} {self.value_unit} are suppressed: k = {k} people x "
                f"at most {per_key} {self.value_unit} per person and key")


def l2_over(per_day_l2: float, days: int, sources: int, multiplier: int, per_day: bool) -> int:
    """L2 bound of a release, rounded up to an integer (diffprivlib's discrete Gaussian needs one).

    Different days fall into different local bins, so their contributions are disjoint and add in squares
    (sqrt of the days); one person's pseudonyms in several sources may hit the same keys, so sources add
    linearly (triangle inequality), as do the segment multipliers.
    """
    spread = math.sqrt(days) if per_day else 1.0
    return math.ceil(per_day_l2 * spread * sources * multiplier - 1e-9)
