"""Privacy's checks of a contract: can its product be released as it asks, within its budget?

Run with the document's own checks (``jobs/contracts/document.py``) whenever a contract is validated:

- ``measure_errors``: every metric has a release, allows the segments and reads the sources asked for, has
  its delta; a sparse product stands alone; countries are ISO codes;
- ``feasibility_errors``: settings a privacy officer should never approve: one delivery exhausting the
  budget, a year of the schedule the budget cannot pay, phantoms (an empty key released too often), a
  delivery's delta too large for the area's population, zones whose summed noise reaches k by itself.

Light at import (no Spark): contract validation runs at DAG parse time.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

from jobs.common import settings
from jobs.contracts import Contract, delivery_windows, zone_cells, zone_errors
from jobs.ingest.feeds import FEEDS
from jobs.privacy.domain import domain_bins, domain_cells
from jobs.privacy.measures import PARTITION_SELECTION, measures
from jobs.privacy.measures.segments import segment_values
from jobs.privacy.plan import plan_for
from jobs.privacy.planning import contract_year
from jobs.privacy.zones import ZoneSum


def measure_errors(terms: dict, delta: float, where: str) -> list[str]:
    """What the contract's measures say: known metric, its segments, its sources, delta, one sparse product."""
    field, errors = "customProperties", []
    known = measures()
    for metric in terms["metrics"]:
        measure = known.get(metric)
        if measure is None:
            errors.append(f"{where}: {field}.metrics: {metric!r} has no release yet (releasable: "
                          f"{', '.join(sorted(known))})")
            continue
        wrong = [s for s in terms.get("segments") or () if s not in measure.segments]
        if wrong:
            errors.append(f"{where}: {field}.segments: {metric} cannot be split by {', '.join(wrong)} (possible: "
                          f"{', '.join(measure.segments) or 'none'})")
        unread = [s for s in terms["sources"] if s in FEEDS and not measure.reads_sources(FEEDS[s])]
        if unread:
            errors.append(f"{where}: {field}.sources: {metric} cannot use {', '.join(unread)} (it reads "
                          f"{measure.reads})")
        zero_filled = terms.get("od_domain") == "zero_fill"
        if zero_filled and measure.domain != PARTITION_SELECTION:
            errors.append(f"{where}: {field}.od_domain: {metric} is zero-filled already; od_domain is for sparse "
                          "(origin, destination) products")
        if measure.needs_delta and not delta and not zero_filled:
            errors.append(f"{where}: {field}.delta: {metric} uses DP partition selection, which needs a delta above 0")
        if measure.domain == PARTITION_SELECTION and len(terms["metrics"]) > 1:
            errors.append(f"{where}: {field}.metrics: {metric} is a product of its own ({', '.join(measure.places)}), "
                          "not combined with other metrics")
    unknown = [s for s in terms["sources"] if s not in FEEDS]
    if unknown:
        errors.append(f"{where}: {field}.sources: no feed {', '.join(unknown)} (known: {', '.join(FEEDS)})")
    segments = terms.get("segments") or ()
    if "country" in segments and not terms.get("countries"):
        # Zero-filling every ISO country releases mostly noise above k for countries nobody came from.
        errors.append(f"{where}: {field}.countries: a product by country needs the buyer's public list of "
                      "countries (every other home country is released as 'other'), e.g. [DE, SE, NO, GB, US]")
    if terms.get("countries") and "country" not in segments:
        errors.append(f"{where}: {field}.countries: set, but the product is not split by country")
    if terms.get("countries"):
        iso = set(segment_values("country"))
        wrong = [c for c in terms["countries"] if c not in iso]
        if wrong:
            errors.append(f"{where}: {field}.countries: {', '.join(wrong)} not ISO 3166-1 alpha-2 code(s)")
    return errors


# A zero-filled pair domain holds cells^2 x bins keys a day: above this it is too big to draw noise for.
MAX_ZERO_FILL_KEYS = 250_000


# Phantoms: keys with no contribution that noise alone lifts to k. Refused above this chance per key, or
# above this many expected phantom rows in one delivery (domain size x that chance).
MAX_PHANTOM_PROBABILITY = 0.01
MAX_PHANTOM_ROWS = 10.0


def phantom_limit(domain: int) -> float:
    """The largest phantom chance per key allowed for a domain of this many keys."""
    return min(MAX_PHANTOM_PROBABILITY, MAX_PHANTOM_ROWS / domain)


def smallest_k(plan, domain: int) -> int:
    """The smallest k (people) whose phantom chance fits ``phantom_limit(domain)`` at this plan's noise."""
    limit, high = phantom_limit(domain), 1
    while plan.phantom_probability(high) > limit:
        high *= 2
    low = high // 2
    while high - low > 1:  # the chance falls as k grows: bisect
        middle = (low + high) // 2
        low, high = (low, middle) if plan.phantom_probability(middle) <= limit else (middle, high)
    return high


def feasibility_errors(contract: Contract, where: str) -> list[str]:
    """Settings a privacy officer should never approve: one delivery exhausting the budget, a year of the
    schedule that the budget cannot pay in some period, phantoms (an empty key released with a chance above
    ``MAX_PHANTOM_PROBABILITY``, or more than ``MAX_PHANTOM_ROWS`` expected in a delivery), a delivery's
    delta at or above 1 / (people living in the area) where the area states its population."""
    field, errors = "customProperties", []
    per_delivery = contract.epsilon * len(contract.metrics)
    if per_delivery >= contract.budget_epsilon_per_period - 1e-12:
        errors.append(f"{where}: {field}.budget_epsilon_per_period: {contract.budget_epsilon_per_period:g} is spent "
                      f"whole by one delivery ({len(contract.metrics)} metric(s) x epsilon {contract.epsilon:g}); "
                      "a rerun that must draw noise again, or the next delivery, would be refused")
    else:
        year = contract_year(contract)
        if year["first_over"]:
            # the fullest window, so the spend named and the budget that would pass are one figure
            start, spent = year["fullest_window"]
            end = start + dt.timedelta(days=settings.ACCOUNTING_PERIOD_DAYS)
            errors.append(f"{where}: {field}.budget_epsilon_per_period: the schedule {contract.schedule!r} puts "
                          f"epsilon {spent:.4g} into its fullest {settings.ACCOUNTING_PERIOD_DAYS} days (look-back "
                          f"included; e.g. {start.isoformat()} to {end.isoformat()}), above the "
                          f"budget {contract.budget_epsilon_per_period:g}: a budget of at least {spent:.4g}, a lower "
                          "epsilon or a sparser schedule would pass")
    # every window the schedule delivers is judged, the worst (most days, then most bins) first
    windows = window_shapes(contract.schedule, contract.bin_minutes)
    plans_of = {window: [plan_for(contract, metric, *window) for metric in contract.metrics] for window in windows}
    delivery_delta = max(sum(plan.delta for plan in plans) for plans in plans_of.values())
    if contract.area_population and delivery_delta >= 1.0 / contract.area_population:
        # delta is the chance that the guarantee fails outright; at 1/n it fails for about one person here.
        errors.append(f"{where}: {field}.delta: one delivery's delta {delivery_delta:.3g} is not below "
                      f"1 / {contract.area_population:,} people in the area ({1.0 / contract.area_population:.3g}): "
                      "about one resident could be exposed outright")
    for window, plans in plans_of.items():
        found = _zone_errors(contract, plans, where) if contract.zones else []
        found += [] if contract.derived_from else _phantom_errors(contract, plans, where)  # derived: on the parent
        if found:
            return errors + [f"{line} (in the delivery window {_window_text(window, contract.bin_minutes)})"
                             if "customProperties.k" in line or "od_domain" in line else line for line in found]
    return errors


@cache
def window_shapes(cron: str, bin_minutes: int) -> tuple[tuple[dt.date, dt.date], ...]:
    """One window of each shape (local days, bins) the schedule delivers in a year, the longest first: the
    checks that depend on a window's size (phantoms, zone sums) judge each shape, so the 25-hour day of the
    autumn clock change and a weekly cron's six-day window are judged, not only the first delivery."""
    shapes: dict[tuple[int, int], tuple[dt.date, dt.date]] = {}
    for start, end in delivery_windows(cron):
        shapes.setdefault(((end - start).days, len(domain_bins(start, end, bin_minutes))), (start, end))
    return tuple(shapes[shape] for shape in sorted(shapes, reverse=True))


def _window_text(window: tuple[dt.date, dt.date], bin_minutes: int) -> str:
    start, end = window
    return f"{start.isoformat()} to {end.isoformat()}: {len(domain_bins(start, end, bin_minutes))} bins"


def _phantom_errors(contract: Contract, plans: list, where: str) -> list[str]:
    """Zero-filled releases of one window whose empty keys noise alone lifts to k too often (or too many)."""
    field, errors = "customProperties", []
    for plan in plans:
        if contract.zones and plan.measure.additive:  # delivered as zone sums: ``_zone_errors``
            continue
        domain = plan.domain_size()
        if domain is None:  # partition selection: keys come from the data, phantoms are bounded by delta
            continue
        if plan.domain_choice and domain > MAX_ZERO_FILL_KEYS * plan.days:
            errors.append(f"{where}: {field}.od_domain: zero-filling {domain:,} (origin, destination, bin) keys in a "
                          f"delivery is above {MAX_ZERO_FILL_KEYS:,} a day: coarsen h3_resolution or time_bin, or "
                          "use partition_selection")
            continue
        chance = plan.phantom_probability(contract.k)
        if chance > phantom_limit(domain):
            errors.append(f"{where}: {field}.k: {plan.metric} at noise scale {plan.noise()['scale']:.3g} releases an "
                          f"empty key with chance {chance:.2%} ({chance * domain:,.1f} phantom rows expected in a "
                          f"delivery of {domain:,} keys; allowed {MAX_PHANTOM_PROBABILITY:.0%} and "
                          f"{MAX_PHANTOM_ROWS:g} rows): k {smallest_k(plan, domain)} would pass at this epsilon "
                          "(or raise epsilon, lower the bounds, or coarsen the cut)")
    return errors


def _zone_errors(contract: Contract, plans: list, where: str) -> list[str]:
    """Why a contract's zones cannot be delivered (``jobs/contracts/zones.py``, ``jobs/privacy/zones.py``):
    zones that are empty, overlap or leave the area; a derived contract or a partition-selection domain (a zone sum
    needs every cell's value); and zone sums whose summed noise reaches k by itself too often."""
    field = "customProperties.zones"
    errors = zone_errors(contract.zones, domain_cells(contract.area, contract.h3_resolution),
                         contract.h3_resolution, where)
    if contract.derived_from:
        errors.append(f"{where}: {field}: a derived contract cannot have zones yet: zones are served from the "
                      "contract's own releases")
    if errors:
        return errors
    cells = [(zone_id, tuple(c)) for zone_id, c in zone_cells(contract.zones, contract.h3_resolution)]
    for plan in plans:
        if not plan.measure.additive:
            continue  # a zone-level release: the per-release phantom check applies to its zone keys
        if plan.domain == PARTITION_SELECTION:
            errors.append(f"{where}: {field}: {plan.metric} over partition selection leaves unselected pairs "
                          "out, so a zone sum would undercount: use od_domain zero_fill with zones")
            continue
        zone_sum = ZoneSum(tuple(cells), len(plan.measure.places))
        figures = zone_sum.figures(plan, contract.k)
        chance, keys = figures["phantom_probability"], figures["domain_keys"]
        if not _zone_k_passes(zone_sum, plan, contract.k):
            errors.append(f"{where}: customProperties.k: {plan.metric} summed into zones (up to "
                          f"{figures['summed_release_values']['max']} cell values per zone key) reaches k "
                          f"{contract.k} by noise alone with chance up to {chance:.2%} "
                          f"({figures['expected_phantom_rows']:,.1f} phantom rows expected in a delivery of "
                          f"{keys:,} zone keys; allowed {MAX_PHANTOM_PROBABILITY:.0%} and {MAX_PHANTOM_ROWS:g} "
                          f"rows): k {_smallest_zone_k(zone_sum, plan, contract.k)} would pass, or use smaller "
                          "zones or a coarser h3_resolution")
    return errors


def _zone_k_passes(zone_sum, plan, k: int) -> bool:
    figures = zone_sum.figures(plan, k)
    return (figures["phantom_probability"] <= phantom_limit(figures["domain_keys"])
            and figures["expected_phantom_rows"] <= MAX_PHANTOM_ROWS)


def _smallest_zone_k(zone_sum, plan, k: int) -> int:
    """The smallest k at which the zone sums pass the phantom limits (bisection; chances fall as k grows)."""
    low, high = k, max(k, 1) * 2
    while not _zone_k_passes(zone_sum, plan, high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if _zone_k_passes(zone_sum, plan, middle) else (middle, high)
    return high
