"""Release plans: everything that defines one release, its id, its cost and its figures.

Light at import (no Spark, pandas, Arrow or Delta): contract validation, run by the DAG processor at parse
time, plans releases to check that their noise does not swamp k.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
from typing import TYPE_CHECKING, Any

from jobs.contracts import zones_text
from jobs.errors import ReleaseRefused
from jobs.ingest.feeds import get_feed
from jobs.privacy.domain import domain_bins, domain_cells
from jobs.privacy.measures import (
    PARTITION_SELECTION,
    ZERO_FILL,
    Bounder,
    Bounds,
    Measure,
    SegmentColumn,
    bound_defaults,
    get_measure,
)
from jobs.privacy.measures.base import l2_over
from jobs.privacy.measures.segments import OTHER_COUNTRY
from jobs.privacy.measures.segments import SEGMENT_COLUMNS as SEGMENT_COLUMNS_BY_NAME
from jobs.privacy.samplers import SAMPLER

if TYPE_CHECKING:
    from jobs.contracts import Contract
    from jobs.privacy.ledger import Spend


# Bound properties that every plan's id has hashed since the first releases (with their defaults), so the
# ids of releases stored before measures existed stay the same; a measure's other bounds join the id only
# for that measure.
_ID_BOUNDS = {"max_pairs_per_day": "max_cells_per_day", "max_events_per_pair": "max_events_per_pair",
              "max_trips_per_day": "max_trips_per_day"}


@dataclasses.dataclass(frozen=True)
class ReleasePlan:
    """Everything that defines one release; its id is a hash of these fields."""

    contract_id: str
    contract_version: str
    metric: str
    sources: tuple[str, ...]
    area: str  # canonical GeoJSON text of the contract area
    h3_resolution: int
    bin_minutes: int
    window_start: dt.date
    window_end: dt.date
    epsilon: float
    delta: float
    mechanism: str
    bounds: Bounds
    budget_epsilon_per_period: float
    segments: tuple[str, ...] = ()
    # The contract's public list of home countries for the ``country`` segment; others become "other".
    countries: tuple[str, ...] = ()
    # "zero_fill" releases a sparse measure (OD) over every pair of the area's public cells instead of
    # selecting partitions; "" keeps the measure's own domain.
    domain_choice: str = ""
    # A zone-level release (distinct people over a contract's zones, ``jobs/privacy/zones.py``): canonical
    # JSON of [[zone id, [cells]], ...]; its keys are zones, not cells. "" for a release over H3 cells.
    zones: str = ""

    @property
    def domain(self) -> str:
        """``zero_fill`` or ``partition_selection``: the measure's domain unless the contract zero-fills."""
        return ZERO_FILL if self.domain_choice == ZERO_FILL else self.measure.domain

    @property
    def measure(self) -> Measure:
        """The metric's measure."""
        return get_measure(self.metric)

    @property
    def bounder(self) -> Bounder:
        """The measure's bounder with this plan's bounds."""
        return self.measure.bounder.from_bounds(self.bounds)

    @property
    def days(self) -> int:
        """Local days covered."""
        return (self.window_end - self.window_start).days

    @property
    def segment_columns(self) -> list[SegmentColumn]:
        """The plan's segment columns (look-back, multiplier, where they come from)."""
        return [SEGMENT_COLUMNS_BY_NAME[s] for s in self.segments]

    @property
    def lookback_days(self) -> int:
        """Days before the window whose data reaches the release (the longest look-back of its segments)."""
        return max((s.lookback_days for s in self.segment_columns), default=0)

    @property
    def multiplier(self) -> int:
        """Product of the segment columns' sensitivity multipliers (2 where a person can move between values)."""
        return math.prod(s.sensitivity_multiplier for s in self.segment_columns)

    @property
    def sensitivity(self) -> int:
        """L1 bound of one privacy unit over the release: the bounder's per-day bound x days (unless
        event-level) x sources x segment multipliers."""
        bounder = self.bounder
        days = self.days if bounder.per_day else 1
        return bounder.l1_per_day() * days * len(self.sources) * self.multiplier

    @property
    def l2_sensitivity(self) -> int:
        """L2 bound of one privacy unit over the release, rounded up (see ``measures.base.l2_over``)."""
        bounder = self.bounder
        return l2_over(bounder.l2_per_day(), self.days, len(self.sources), self.multiplier, bounder.per_day)

    @property
    def noise_sensitivity(self) -> int:
        """The bound the noise is scaled to: L1 for geometric noise, L2 for the discrete Gaussian."""
        return self.l2_sensitivity if self.mechanism == "gaussian_discrete" else self.sensitivity

    @property
    def max_per_key(self) -> int:
        """The most one privacy unit adds to one key of the release (its pseudonyms in every source)."""
        return self.bounder.max_per_key() * len(self.sources)

    @property
    def unit(self) -> str:
        """The privacy unit: ``event`` for event-level measures; else the sources' units joined with ``+``
        (wifi is a device on a network, never a person: a telco and wifi release is ``device-network+person``
        and counts against both caps in the ledger)."""
        if self.measure.unit == "event":
            return "event"
        return "+".join(sorted({get_feed(s).unit for s in self.sources}))

    @property
    def rho(self) -> float:
        """zCDP cost: epsilon^2 / 2 for pure epsilon; for the discrete Gaussian L2^2 / (2 sigma^2)."""
        if self.mechanism == "geometric":
            return self.epsilon ** 2 / 2
        sigma = self.noise()["scale"]
        return self.noise_sensitivity ** 2 / (2 * sigma ** 2)

    def segment_values(self, column: SegmentColumn) -> list[str]:
        """Public values of a segment column in this release: the contract's country list plus ``other``
        for ``country``, else the column's own list."""
        if column.name == "country" and self.countries:
            return [*self.countries, OTHER_COUNTRY]
        return column.values()

    def domain_size(self) -> int | None:
        """Keys of the zero-filled public domain (cells x bins x segment values); None for partition
        selection, whose keys come from the data."""
        if self.domain == PARTITION_SELECTION:
            return None
        places = (len(json.loads(self.zones)) if self.zones
                  else len(domain_cells(json.loads(self.area), self.h3_resolution)))
        size = places ** len(self.measure.places)
        size *= len(domain_bins(self.window_start, self.window_end, self.bin_minutes))
        return size * math.prod(len(self.segment_values(c)) for c in self.segment_columns)

    def phantom_probability(self, k: int) -> float:
        """Chance that a key with no contribution at all is released: its noise alone reaches k (in the
        measure's units)."""
        from jobs.privacy.noise import noise_tail  # loads numpy: only when called

        return noise_tail(self.epsilon, self.noise_sensitivity, self.k_threshold(k), self.mechanism,
                          self.delta if self.mechanism == "gaussian_discrete" else None)

    def k_threshold(self, k: int) -> int:
        """The contract's k people in this measure's units."""
        return self.measure.k_threshold(k, self.bounder)

    def most_per_value(self, summed: int = 1) -> int:
        """The most one person adds to one delivered value: the per-key cap times their pseudonyms' sources,
        times the release values summed into it, never more than the release's L1 bound."""
        return min(self.max_per_key * summed, self.sensitivity)

    def k_statement(self, k: int, summed: int = 1) -> str:
        """The threshold in the unit it applies in (``measure.k_statement``) and, where one person can add more
        to one value than the per-person figure it names (pseudonyms in several sources, a value summed from
        several release values), the true most one person adds and what that leaves of k."""
        text = self.measure.k_statement(k, self.bounder)
        unsummed, most = self.most_per_value(), self.most_per_value(summed)
        if most <= self.bounder.max_per_key():
            return text
        why = ([f"one pseudonym in each of {len(self.sources)} sources"] if unsummed > self.bounder.max_per_key()
               else []) + ([f"each value summed from {summed} release values"] if most > unsummed else [])
        people = math.ceil(self.k_threshold(k) / most)
        return (f"{text}; one person can add up to {most} {self.measure.value_unit} to one value "
                f"({' and '.join(why)}), so a value at the threshold may come from as few as {people} "
                f"{'person' if people == 1 else 'people'}")

    def noise(self) -> dict[str, float]:
        """Noise scale and 95% interval half-width of one released value."""
        from jobs.privacy.noise import noise_scale  # loads numpy: only when called

        return noise_scale(self.epsilon, self.noise_sensitivity, self.mechanism,
                           self.delta if self.mechanism == "gaussian_discrete" else None)

    def _identity(self) -> dict[str, Any]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "bounds"}
        fields["sources"], fields["segments"] = list(self.sources), list(self.segments)
        for name in ("countries", "domain_choice", "zones"):  # join the id only when set, so earlier ids stay
            if fields[name]:
                fields[name] = list(fields[name]) if isinstance(fields[name], tuple) else fields[name]
            else:
                fields.pop(name)
        defaults = bound_defaults()
        for legacy, name in _ID_BOUNDS.items():
            fields[legacy] = self.bounds.get(name, defaults.get(name))
        for name in self.measure.bound_properties():
            if name not in _ID_BOUNDS.values():
                fields[name] = self.bounds[name]
        return fields

    @property
    def release_id(self) -> str:
        """Deterministic id: the same plan always names the same stored release."""
        text = json.dumps(self._identity(), sort_keys=True, default=str)
        return "rel-" + hashlib.sha256(text.encode()).hexdigest()[:20]

    def to_json(self) -> str:
        """The plan as JSON (for the release log and audits)."""
        return json.dumps({**self._identity(), "bounds": self.bounds.as_dict(), "release_id": self.release_id,
                           "sensitivity": self.sensitivity, "l2_sensitivity": self.l2_sensitivity,
                           "unit": self.unit, "lookback_days": self.lookback_days}, sort_keys=True, default=str)

    def spend(self) -> Spend:
        """What this release costs, for the ledger."""
        from jobs.privacy import ledger  # loads deltalake, numpy, pandas, pyarrow: only when called

        return ledger.Spend(
            contract_id=self.contract_id, contract_version=self.contract_version, release_id=self.release_id,
            sources=self.sources, unit=self.unit, window_start=self.window_start, window_end=self.window_end,
            epsilon=self.epsilon, delta=self.delta, rho=self.rho, mechanism=self.mechanism,
            sensitivity=self.noise_sensitivity, budget_epsilon_per_period=self.budget_epsilon_per_period,
            lookback_days=self.lookback_days,
        )

    def describe(self) -> dict[str, Any]:
        """Every privacy figure of this release, for manifests and audits."""
        bounder, noise = self.bounder, self.noise()
        out = {
            "metric": self.metric, "release_id": self.release_id, "unit": self.unit,
            "epsilon": self.epsilon, "delta": self.delta, "mechanism": self.mechanism, "sampler": SAMPLER,
            "bounds": bounder.as_dict(), "bound": bounder.text(),
            "sensitivity_l1": self.sensitivity, "sensitivity_l2": self.l2_sensitivity,
            "noise_sensitivity": self.noise_sensitivity,
            "noise_scale": noise["scale"], "ci95_half_width": noise["ci95_half_width"],
            "lookback_days": self.lookback_days, "value_unit": self.measure.value_unit,
            "domain": self.domain,
        }
        if self.zones:
            out["zones"] = len(json.loads(self.zones))
        if self.domain == PARTITION_SELECTION:
            from jobs.privacy.partition_selection import selection_threshold  # loads numpy: only when called

            out["partition_selection_threshold"] = selection_threshold(self.epsilon, self.delta, self.sensitivity,
                                                                       self.max_per_key)
        return out


def plan_for(contract: Contract, metric: str, window_start: dt.date, window_end: dt.date) -> ReleasePlan:
    """Build the release plan of a contract's metric over local dates ``[window_start, window_end)``.

    Raises
    ------
    ReleaseRefused
        No measure for the metric, or a segment the measure does not allow (validation refuses both first).
    """
    measure = get_measure(metric)
    wrong = [s for s in contract.segments if s not in measure.segments]
    if wrong:
        raise ReleaseRefused(f"contract {contract.id}: {metric} cannot be split by {wrong} "
                             f"(possible: {list(measure.segments) or 'none'})")
    if measure.fixed_sources:
        sources = measure.fixed_sources
    else:
        sources = tuple(s for s in sorted(contract.sources) if measure.reads_sources(get_feed(s)))
    # Sparse domains need a delta for partition selection and use pure geometric noise otherwise.
    choice = ZERO_FILL if contract.od_domain == ZERO_FILL and measure.domain == PARTITION_SELECTION else ""
    selects = measure.domain == PARTITION_SELECTION and not choice
    delta = contract.delta if (contract.mechanism == "gaussian_discrete" or (measure.needs_delta and selects)) else 0.0
    mechanism = "geometric" if selects else contract.mechanism
    zones = ""
    if contract.zones and not measure.additive:  # distinct people: released per zone (additive: summed)
        zones = zones_text(contract.zones, contract.h3_resolution)
    return ReleasePlan(
        contract_id=contract.id, contract_version=contract.version, metric=metric,
        sources=sources, area=json.dumps(contract.area, sort_keys=True),
        h3_resolution=contract.h3_resolution, bin_minutes=contract.bin_minutes,
        window_start=window_start, window_end=window_end, epsilon=contract.epsilon, delta=delta,
        mechanism=mechanism, bounds=contract.bounds,
        budget_epsilon_per_period=contract.budget_epsilon_per_period, segments=tuple(contract.segments),
        countries=tuple(contract.countries) if "country" in contract.segments else (), domain_choice=choice,
        zones=zones,
    )
