"""The typed contract: the ODCS envelope plus the CDE terms, and the contribution bounds it sets.

Pure data, light at import: every layer above reads a ``Contract``; nothing here knows how a release is made.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class Bounds:
    """A contract's contribution bounds per person and day, by contract property name.

    One parameter object for every bound (``max_cells_per_day``, ``max_events_per_pair``,
    ``max_trips_per_day``, ...): the contract YAML keeps its property names, measures declare which ones
    they read and their defaults (the terms schema states the same defaults, a test holds them equal), so a
    new bound needs no edit here.

    Attributes
    ----------
    values : tuple of (str, int)
        Property name and value, sorted by name.
    """

    values: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, mapping: Mapping[str, int]) -> Bounds:
        """Bounds from a mapping of property names to values."""
        return cls(tuple(sorted((name, int(value)) for name, value in mapping.items())))

    def __getitem__(self, name: str) -> int:
        for key, value in self.values:
            if key == name:
                return value
        raise KeyError(f"no contribution bound {name!r} (known: {', '.join(k for k, _ in self.values)})")

    def get(self, name: str, default: int | None = None) -> int | None:
        """The bound's value, or ``default``."""
        return dict(self.values).get(name, default)

    def as_dict(self) -> dict[str, int]:
        """The bounds as a plain dict (for JSON)."""
        return dict(self.values)


@dataclasses.dataclass(frozen=True)
class Contract:
    """A validated contract: the ODCS envelope plus the CDE terms, typed."""

    id: str
    version: str
    status: str
    name: str
    path: str
    buyer: str
    purpose: str
    legal_basis: str
    suppliers: tuple[str, ...]
    sources: tuple[str, ...]
    area: dict
    h3_resolution: int
    time_bin: str
    metrics: tuple[str, ...]
    segments: tuple[str, ...]
    countries: tuple[str, ...]
    od_domain: str
    k: int
    epsilon: float
    delta: float
    mechanism: str
    budget_epsilon_per_period: float
    bounds: Bounds
    schedule: str
    formats: tuple[str, ...]
    channel: str
    retention_days: int
    document: dict = dataclasses.field(repr=False, compare=False)
    sha256: str = ""  # of the contract file's bytes: an approval holds for exactly this file
    area_population: int | None = None  # people living in the area, where public (the area's GeoJSON says)
    derived_from: str = ""  # id of the contract whose releases serve this one (jobs/publish/shared_releases.py)
    license: str = ""  # SPDX id (or LicenseRef-...) of the delivered data's licence; empty: the contract's own
    market_share: dict | None = None  # supplier's stated share of the area's people: population_estimate
    zones: tuple | None = None  # the buyer's zones, ((id, GeoJSON geometry), ...): the unit of delivery
    agreement_end: dt.date | None = None  # the agreement's last local date: after it the contract ends
    placement_check: str = "warn"  # footprints much larger than the product's cells: "warn" or "refuse"

    @property
    def bin_minutes(self) -> int:
        """Width of the contract's time bins in minutes."""
        return {"15min": 15, "1h": 60, "1d": 1440}[self.time_bin]


#: GDPR Art. 6(1) legal bases: a contract's code and what it means, in words (audits, records, the portal)
LEGAL_BASES = {
    "art6_1_a_consent": "consent of the people concerned (GDPR Art. 6(1)(a))",
    "art6_1_b_contract": "necessary for a contract with the people concerned (GDPR Art. 6(1)(b))",
    "art6_1_c_legal_obligation": "necessary to meet a legal obligation of the controller (GDPR Art. 6(1)(c))",
    "art6_1_d_vital_interests": "necessary to protect someone's vital interests (GDPR Art. 6(1)(d))",
    "art6_1_e_public_task": "necessary for a task carried out in the public interest or in official authority "
                            "(GDPR Art. 6(1)(e))",
    "art6_1_f_legitimate_interests": "necessary for the legitimate interests of the controller or a third party, "
                                     "weighed against the people's rights (GDPR Art. 6(1)(f))",
}


def legal_basis_words(code: str) -> str:
    """A legal basis code (``art6_1_e_public_task``) in words, or the code itself when unknown."""
    return LEGAL_BASES.get(code, code)


def version_key(contract: Contract) -> tuple[int, ...]:
    """A contract version as a tuple of integers, so ``1.10.0`` sorts after ``1.9.0``."""
    return tuple(int(x) for x in contract.version.split("."))
