"""Zone sums: an additive product summed from its H3 release into the contract's zones.

The zones themselves (loading, cells, checks) are contract geometry (``jobs/contracts/zones.py``). Here is
what privacy adds: the sum of ``n`` cells carries ``n`` noises (``noise.sum_noise_scale``), so each zone row
states its own interval, and validation checks that the largest zone's summed noise does not reach k by
itself (``jobs/privacy/feasibility.py``). Distinct people are not additive: their release is made per zone
(the contract's zones are mapped onto person-level rows before bounding, ``jobs/privacy/release.py``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from jobs.common.columns import SEGMENT_COLUMNS
from jobs.contracts.zones import cell_to_zone_index
from jobs.privacy.domain import domain_cells


@dataclasses.dataclass(frozen=True)
class ZoneSum:
    """How an additive product is summed from its H3 release into the contract's zones.

    Attributes
    ----------
    zones : tuple of (str, tuple of str)
        Zone ids with their cells, in zone-index order.
    places : int
        Place columns of a key (1; 2 for origin-destination: a zone pair sums every pair of their cells).
    """

    zones: tuple
    places: int

    def terms(self) -> list[int]:
        """Released values summed into each zone key (per zone, or per ordered zone pair), zone-index order."""
        sizes = [len(cells) for _, cells in self.zones]
        if self.places == 1:
            return sizes
        return [a * b for a in sizes for b in sizes]

    @property
    def most_summed(self) -> int:
        """The most release values summed into one zone key (the largest zone, or zone pair)."""
        return max(self.terms())

    def figures(self, plan, k: int) -> dict[str, Any]:
        """Noise and phantom figures of the zone sums at the contract's k (manifests, audits, validation).

        The interval stated is the largest zone's (each row carries its own in ``ci95_half_width``); the
        phantom chance is the largest zone's, and the expected phantom rows add up every zone key.
        """
        from jobs.privacy.noise import sum_noise_scale, sum_noise_tail  # loads numpy: only when called

        delta = plan.delta if plan.mechanism == "gaussian_discrete" else None
        terms = self.terms()
        noise = sum_noise_scale(plan.epsilon, plan.noise_sensitivity, max(terms), plan.mechanism, delta)
        out = {"zones": len(self.zones), "summed_release_values": {"min": min(terms), "max": max(terms)},
               "noise_sd": noise["sd"], "ci95_half_width": noise["ci95_half_width"]}
        per_place_key = plan.domain_size()
        if per_place_key is not None:  # zero-filled: a zone of empty cells can still reach k by noise
            cells = len(domain_cells(json.loads(plan.area), plan.h3_resolution)) ** self.places
            repeats = per_place_key // cells  # bins x segment values
            chance = {t: sum_noise_tail(plan.epsilon, plan.noise_sensitivity, plan.k_threshold(k), t,
                                        plan.mechanism, delta) for t in set(terms)}
            out.update(domain_keys=len(terms) * repeats, phantom_probability=max(chance.values()),
                       expected_phantom_rows=sum(chance[t] for t in terms) * repeats)
        return out

    def ci95_by_terms(self, plan) -> dict[int, int]:
        """The 95% half-width of a zone value summed from ``t`` release values, for each ``t`` used."""
        from jobs.privacy.noise import sum_noise_scale  # loads numpy: only when called

        delta = plan.delta if plan.mechanism == "gaussian_discrete" else None
        return {t: int(sum_noise_scale(plan.epsilon, plan.noise_sensitivity, t, plan.mechanism,
                                       delta)["ci95_half_width"]) for t in set(self.terms())}


def sum_into_zones(release, zone_sum: ZoneSum, ci95_by_terms: dict[int, int]):
    """Sum an additive release's noisy values into zones (post-processing; see the module docstring).

    Parameters
    ----------
    release : pandas.DataFrame
        Rows of ``gold/releases`` over the area's cells (``h3_cell`` and, for OD, ``destination_h3`` as
        int64, ``bin_start``, ``bin_minutes``, segment columns where set, ``metric``, ``value``), zero-filled.
    zone_sum : ZoneSum
        The contract's zones.
    ci95_by_terms : dict
        ``ZoneSum.ci95_by_terms`` of the release's plan.

    Returns
    -------
    pandas.DataFrame
        The place columns holding zone indices, ``bin_start``, ``bin_minutes``, the segment columns,
        ``metric``, ``value`` (the sum) and ``ci95_half_width`` (the sum's own interval). Cells outside
        every zone are left out.
    """
    import pandas as pd

    index = cell_to_zone_index(zone_sum.zones)
    places = ["h3_cell", "destination_h3"][: zone_sum.places]
    segments = [c for c in SEGMENT_COLUMNS if c in release and release[c].notna().any()]
    keys = [*places, "bin_start", "bin_minutes", *segments, "metric"]
    frame = release[[*keys, "value"]].copy()
    for place in places:
        frame[place] = frame[place].map(index)
    frame = frame.dropna(subset=places)
    for place in places:
        frame[place] = frame[place].astype("int64")
    out = frame.groupby(keys, as_index=False, dropna=False)["value"].sum()
    sizes = pd.Series([len(cells) for _, cells in zone_sum.zones])
    terms = sizes[out[places[0]]].to_numpy()
    if zone_sum.places == 2:
        terms = terms * sizes[out[places[1]]].to_numpy()
    out["ci95_half_width"] = [ci95_by_terms[int(t)] for t in terms]
    out["noise_terms"] = terms  # release values in each sum: the law of its noise (``intervals``)
    return out


def zones_from_release(release_id: str, zone_sum: ZoneSum, ci95_by_terms: dict[int, int]):
    """A stored additive release summed into zones (``sum_into_zones`` of what ``read_release`` returns)."""
    from jobs.privacy.release import read_release  # loads deltalake, numpy, pandas, pyarrow: only when called

    return sum_into_zones(read_release(release_id).to_pandas(), zone_sum, ci95_by_terms)
