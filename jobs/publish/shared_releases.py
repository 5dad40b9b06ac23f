"""Shared releases: one release serving several contracts, charged to the global caps once.

A contract with ``derived_from: <contract id>`` is served from the releases made for that (parent)
contract's plan instead of a release of its own. Its product equals the parent's release or is summed from
it (``jobs/privacy/derive.py``): a sub-area (cells dropped), parent cells and longer bins for additive
metrics. The release is made once, by one writer, whoever asks first; its ``spend`` row stands under the
parent contract and counts against the global caps once. Each derived contract records a ``use`` row of
the release's epsilon against its own budget (its buyer learns that much), and its audit names the release.

What k protects: k is applied to each delivered value. When a parent value and its children are both
released (this product's summed cells and the parent's own cells, or two sub-areas that differ by a few
cells), a difference of released values describes a group that may be smaller than k: that difference is
protected by differential privacy only (it is post-processing of noisy values), not by k.

Checks before approval (``derivation_errors``), each naming the field: the parent exists and is not itself
derived; the same sources, segments, country list, OD domain and mechanism; metrics the parent releases;
the parent's epsilon within this contract's (a ceiling); a coarser or equal resolution, bins a whole
multiple of the parent's, coarsening only for additive metrics; every cell wholly covered by the parent's
cells (a border cell summed from part of its children would undercount); deliveries on dates the parent
delivers, covering the same days; and phantoms of the summed values within the limits every product has.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from jobs.common import settings
from jobs.contracts import delivery_windows, is_ended
from jobs.privacy import (
    MAX_PHANTOM_PROBABILITY,
    MAX_PHANTOM_ROWS,
    domain_bins,
    domain_cells,
    get_measure,
    phantom_limit,
    plan_for,
    window_shapes,
)

if TYPE_CHECKING:
    from jobs.contracts import Contract
    from jobs.privacy import ReleasePlan, Spend

K_NOTE = ("k is applied to each value of this product. Where a parent value and its children are both "
          "released (a cell and its sub-cells, a day and its hours, two areas that differ by a few cells, in "
          "this product or another product of the same release), the difference of released values describes "
          "a group that may be smaller than k: it is protected by differential privacy (post-processing of "
          "noisy values), not by k.")


@dataclasses.dataclass(frozen=True)
class DerivedCut:
    """How a derived contract's product is summed from its parent's release.

    Attributes
    ----------
    parent_id : str
        The contract whose release plans are used.
    cells : frozenset of str
        Release-resolution cells kept (every child, at the release's resolution, of this contract's cells).
    terms : int
        Released values summed into one delivered value (cells per place, to the power of the places,
        times release bins per delivered bin).
    domain_keys : int
        Keys of one delivered day of 24 hours (this contract's cells per place, bins and segment values).
    keys_per_bin : int
        Keys of one delivered bin (a window's keys are this times its bins).
    """

    parent_id: str
    cells: frozenset
    terms: int
    domain_keys: int
    keys_per_bin: int = 0

    @property
    def most_summed(self) -> int:
        """The most release values summed into one delivered value (every value sums ``terms``)."""
        return self.terms

    def figures(self, plan: ReleasePlan, k: int) -> dict[str, Any]:
        """Noise and phantom figures of the summed values at this contract's k (manifests and audits)."""
        from jobs.privacy import sum_noise_scale, sum_noise_tail  # loads numpy: only when called

        delta = plan.delta if plan.mechanism == "gaussian_discrete" else None
        noise = sum_noise_scale(plan.epsilon, plan.noise_sensitivity, self.terms, plan.mechanism, delta)
        out = {"derived_from_contract": self.parent_id, "summed_release_values": self.terms,
               "noise_sd": noise["sd"], "ci95_half_width": noise["ci95_half_width"]}
        if plan.domain_size() is not None:  # zero-filled: a summed key of empty children can still reach k
            chance = sum_noise_tail(plan.epsilon, plan.noise_sensitivity, plan.k_threshold(k), self.terms,
                                    plan.mechanism, delta)
            out.update(domain_keys=self.domain_keys, phantom_probability=chance,
                       expected_phantom_rows=chance * self.domain_keys)
        return out


def derived_cut(child: Contract, parent: Contract, metric: str) -> DerivedCut:
    """The cut of ``child``'s product of ``metric`` over its parent's release (see ``DerivedCut``)."""
    import h3

    day = dt.date(2026, 3, 2)
    plan = plan_for(parent, metric, day, day + dt.timedelta(days=1))
    cells = domain_cells(child.area, child.h3_resolution)
    kept = frozenset(c for cell in cells for c in h3.cell_to_children(cell, parent.h3_resolution))
    places = len(plan.measure.places)
    per_place = 7 ** (parent.h3_resolution - child.h3_resolution)
    bins = len(domain_bins(day, day + dt.timedelta(days=1), child.bin_minutes))
    segment_keys = 1
    for column in plan.segment_columns:
        segment_keys *= len(plan.segment_values(column))
    return DerivedCut(parent.id, kept, per_place ** places * (child.bin_minutes // parent.bin_minutes),
                      len(cells) ** places * bins * segment_keys, len(cells) ** places * segment_keys)


def _same(child: Contract, parent: Contract, name: str) -> bool:
    return getattr(child, name) == getattr(parent, name)


def derivation_errors(child: Contract, parent: Contract | None, where: str) -> list[str]:
    """Why ``child`` cannot be served from ``parent``'s releases (empty when it can); see the module."""
    field = "customProperties.derived_from"
    if parent is None:
        return [f"{where}: {field}: no valid contract {child.derived_from!r} with releases of its own to derive "
                "from (a derived contract cannot serve others)"]
    if parent.derived_from:
        return [f"{where}: {field}: {parent.id} is derived from {parent.derived_from} itself: derive from the "
                "contract whose releases are made"]
    if is_ended(parent):
        return [f"{where}: {field}: {parent.id} has ended (cde contracts end, or status retired): its releases are "
                "no longer made"]
    errors = []
    for name in ("sources", "segments", "countries", "od_domain", "mechanism"):
        if not _same(child, parent, name):
            errors.append(f"{where}: customProperties.{name}: {getattr(child, name)!r} differs from {parent.id}'s "
                          f"{getattr(parent, name)!r}: a shared release has one value")
    missing = [m for m in child.metrics if m not in parent.metrics]
    if missing:
        errors.append(f"{where}: customProperties.metrics: {parent.id} releases no {', '.join(missing)} "
                      f"(it releases {', '.join(parent.metrics)})")
    if parent.epsilon > child.epsilon + 1e-12:
        errors.append(f"{where}: customProperties.epsilon: {parent.id}'s releases spend epsilon {parent.epsilon:g}, "
                      f"above this contract's ceiling {child.epsilon:g}")
    if child.h3_resolution > parent.h3_resolution:
        errors.append(f"{where}: customProperties.h3_resolution: {child.h3_resolution} is finer than {parent.id}'s "
                      f"{parent.h3_resolution}: cells can only be summed into parents")
    if child.bin_minutes % parent.bin_minutes:
        errors.append(f"{where}: customProperties.time_bin: {child.time_bin} is not a whole number of "
                      f"{parent.id}'s {parent.time_bin} bins")
    coarser = child.h3_resolution < parent.h3_resolution or child.bin_minutes > parent.bin_minutes
    not_additive = [m for m in child.metrics if m in parent.metrics and not get_measure(m).additive]
    if coarser and not_additive:
        errors.append(f"{where}: customProperties.h3_resolution: {', '.join(not_additive)} is not additive (one "
                      "person is in several children): a coarser cell or a longer bin needs its own release")
    if errors:
        return errors
    release_cells = set(domain_cells(parent.area, parent.h3_resolution))
    cut = derived_cut(child, parent, child.metrics[0])
    uncovered = sorted(cut.cells - release_cells)
    if uncovered:
        errors.append(f"{where}: customProperties.area: {len(uncovered)} cell(s) at resolution {parent.h3_resolution} "
                      f"inside this contract's cells are outside {parent.id}'s area (first: {uncovered[0]}): a value "
                      "summed from part of its children would undercount; use an area inside the parent's")
    others = sorted(set(delivery_windows(child.schedule)) - set(delivery_windows(parent.schedule)))
    if others:  # a window the parent never releases would be made for the child, charged to the parent
        start, end = others[0]
        errors.append(f"{where}: customProperties.schedule: {child.schedule!r} makes delivery windows "
                      f"{parent.id} never releases ({parent.schedule!r}): the first is {start.isoformat()} to "
                      f"{end.isoformat()} ({len(others)} in a year); deliver the windows the parent delivers")
    if errors:
        return errors
    windows = window_shapes(child.schedule, child.bin_minutes)  # the longest first
    plans = [plan_for(parent, metric, *windows[0]) for metric in child.metrics]
    for plan in plans:  # every privacy parameter of the served release within this contract's terms
        if plan.delta > child.delta * (1 + 1e-9):
            errors.append(f"{where}: customProperties.delta: {parent.id}'s {plan.metric} release has delta "
                          f"{plan.delta:.3g}, above this contract's {child.delta:.3g}: a derived contract is served "
                          "only releases within its own terms")
        if plan.zones:
            errors.append(f"{where}: {field}: {parent.id}'s {plan.metric} release is made per zone of its contract, "
                          "so it has no cell values to derive this contract's cells from")
    if errors:
        return errors
    for window in windows:  # every shape of window the child delivers, the longest first; the worst is named
        found = []
        for metric in child.metrics:
            plan = plan_for(parent, metric, *window)
            cut = derived_cut(child, parent, metric)
            figures = cut.figures(plan, child.k)
            if "phantom_probability" not in figures:
                continue
            chance, keys = figures["phantom_probability"], cut.keys_per_bin * len(domain_bins(*window,
                                                                                            child.bin_minutes))
            if chance > phantom_limit(keys):
                found.append(f"{where}: customProperties.k: {metric} summed from {figures['summed_release_values']} "
                             f"values of {parent.id}'s release reaches k {child.k} by noise alone with chance "
                             f"{chance:.2%} ({chance * keys:,.1f} phantom rows expected in the delivery window "
                             f"{window[0].isoformat()} to {window[1].isoformat()} of {keys:,} keys; allowed "
                             f"{MAX_PHANTOM_PROBABILITY:.0%} and {MAX_PHANTOM_ROWS:g} rows): raise k")
        if found:
            errors += found
            break
    delivery_delta = sum(plan.delta for plan in plans)
    if child.area_population and delivery_delta >= 1.0 / child.area_population:
        errors.append(f"{where}: customProperties.delta: one delivery's delta {delivery_delta:.3g} (summed over the "
                      f"shared releases) is not below 1 / {child.area_population:,} people in this contract's area")
    return errors


def use_of(plan: ReleasePlan, child: Contract) -> Spend:
    """The ledger ``use`` of a shared release by ``child``: the release's cost under the child's budget."""
    return dataclasses.replace(plan.spend(), contract_id=child.id, contract_version=child.version,
                               budget_epsilon_per_period=child.budget_epsilon_per_period)


def shared_text(child: Contract, plan: ReleasePlan, cut: DerivedCut) -> str:
    """One sentence for the audit: which release served this contract and how its values were derived."""
    how = []
    if child.h3_resolution < plan.h3_resolution:
        how.append(f"cells summed into their resolution-{child.h3_resolution} parents")
    if child.bin_minutes > plan.bin_minutes:
        how.append(f"{plan.bin_minutes}-minute bins summed into {child.bin_minutes}-minute bins")
    where = "the release's cells inside this contract's area" if json.loads(plan.area) != child.area else ""
    how = [*([where] if where else []), *how] or ["the release's values unchanged"]
    return (f"served by release {plan.release_id}, made for contract {cut.parent_id} and charged to the global caps "
            f"once (its spend row); this contract records a use of its epsilon {plan.epsilon:g} against its own "
            f"budget of {child.budget_epsilon_per_period:g} per {settings.ACCOUNTING_PERIOD_DAYS} days; derived by "
            f"post-processing: {', '.join(how)} ({cut.terms} released value(s) per delivered value)")
