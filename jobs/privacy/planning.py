"""Budget planning: can the contracts' schedules be delivered for a year within their budgets and the caps?

The ledger refuses a release that would exceed a budget, but only when the release is due. This module looks ahead: it
lays out a year of each contract's deliveries from its cron (each delivery covers the local days since the previous fire
time, one release per metric), widens each release by its look-back as the ledger does, and sums the epsilon and delta
of every window of ``ACCOUNTING_PERIOD_DAYS`` days, per contract against its ``budget_epsilon_per_period`` and over all
contracts against the global caps of each privacy unit class. A contract whose own year does not fit is refused at
validation; approving a contract that would make the approved portfolio break a global cap is refused at approval
(``cde contracts plan`` prints both). A derived contract (shared releases) counts against its own budget at its
epsilon ceiling and never against the global caps: its parent's releases are counted there once. Pure Python over day
numbers: light enough for DAG parse time.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

from jobs.common import settings
from jobs.contracts import Contract, fire_times, plan_start
from jobs.privacy.plan import plan_for

YEAR_DAYS = 365
# The examples must leave this share of each global cap unplanned, for contracts not yet signed.
HEADROOM = 0.2


def deliveries_per_window(cron: str, period_days: int = settings.ACCOUNTING_PERIOD_DAYS) -> int:
    """The most times ``cron`` fires within any ``period_days`` days (over the planned year)."""
    times = fire_times(cron)
    period = dt.timedelta(days=period_days)
    return max(bisect.bisect_left(times, t + period) - i for i, t in enumerate(times))


@dataclasses.dataclass(frozen=True)
class PlannedRelease:
    """One release a schedule will make: the local dates its data spans (look-back included) and its cost."""

    contract_id: str
    metric: str
    unit: str
    first_day: dt.date  # window start minus look-back
    window_end: dt.date
    epsilon: float
    delta: float


def year_releases(contract: Contract) -> list[PlannedRelease]:
    """Every release of a year of the contract's schedule (fire times of the year from today, in order)."""
    dates = sorted({t.date() for t in fire_times(contract.schedule)})
    if len(dates) < 2:
        return []
    # Unit, look-back, epsilon and delta of a metric's plan do not depend on its dates: plan each metric once.
    plans = [plan_for(contract, metric, dates[0], dates[1]) for metric in contract.metrics]
    return [PlannedRelease(contract.id, plan.metric, plan.unit, start - dt.timedelta(days=plan.lookback_days), end,
                           plan.epsilon, plan.delta)
            for start, end in zip(dates, dates[1:], strict=False) for plan in plans]


def _window_sums(releases: Iterable[PlannedRelease], period_days: int) -> tuple[dt.date, list[float], list[float]]:
    """Epsilon and delta of every window ``[d, d + period_days)``: a release counts in each window its data
    overlaps (``ledger.check``'s rule). Returns the first window's start and the sums per window start."""
    releases = list(releases)
    if not releases:
        return plan_start(), [], []
    origin = min(r.first_day for r in releases) - dt.timedelta(days=period_days)
    span = (max(r.window_end for r in releases) - origin).days + 1
    eps, delta = [0.0] * (span + 1), [0.0] * (span + 1)
    for r in releases:
        # Windows starting in (first_day - period_days, window_end) overlap [first_day, window_end).
        lo, hi = (r.first_day - origin).days - period_days + 1, (r.window_end - origin).days
        eps[lo] += r.epsilon
        eps[hi] -= r.epsilon
        delta[lo] += r.delta
        delta[hi] -= r.delta
    out_eps, out_delta, run_eps, run_delta = [], [], 0.0, 0.0
    for i in range(span):
        run_eps, run_delta = run_eps + eps[i], run_delta + delta[i]
        out_eps.append(run_eps)
        out_delta.append(run_delta)
    return origin, out_eps, out_delta


def _first_over(origin: dt.date, sums: list[float], cap: float, rel: float = 1e-9) -> tuple[dt.date, float] | None:
    for i, value in enumerate(sums):
        if value > cap * (1 + rel) + 1e-12:
            return origin + dt.timedelta(days=i), value
    return None


def contract_year(contract: Contract, period_days: int = settings.ACCOUNTING_PERIOD_DAYS) -> dict[str, Any]:
    """A year of one contract against its own budget.

    Returns
    -------
    dict
        ``releases`` in the year, ``epsilon_per_delivery``, ``max_epsilon_per_window`` (look-back included),
        ``budget``, ``first_over`` (the first window start whose spend exceeds the budget, or None) and
        ``fullest_window`` (the start and spend of the window holding the most).
    """
    releases = year_releases(contract)
    origin, eps, _ = _window_sums(releases, period_days)
    over = _first_over(origin, eps, contract.budget_epsilon_per_period)
    fullest = max(range(len(eps)), key=eps.__getitem__, default=None)
    return {"contract_id": contract.id, "releases": len(releases),
            "epsilon_per_delivery": contract.epsilon * len(contract.metrics),
            "max_epsilon_per_window": max(eps, default=0.0), "budget": contract.budget_epsilon_per_period,
            "first_over": over,
            # the fullest window (its start and spend): what a refusal names, so its figures agree
            "fullest_window": None if fullest is None else (origin + dt.timedelta(days=fullest), eps[fullest])}


def contract_plan(contract: Contract, period_days: int = settings.ACCOUNTING_PERIOD_DAYS) -> dict[str, Any]:
    """Planned spend of one contract per accounting window.

    Returns
    -------
    dict
        ``deliveries`` per window, ``epsilon_per_delivery`` (one release per metric), ``epsilon_per_window``
        (the most any window holds, look-back included), ``delta_per_window``, ``budget``,
        ``affordable_deliveries`` per window and ``epsilon_by_class`` / ``delta_by_class`` (the most any
        window holds per privacy unit class: ``person``, ``device-network`` or ``event``).
    """
    releases = year_releases(contract)
    per_delivery = contract.epsilon * len(contract.metrics)
    by_class, delta_by_class = {}, {}
    for cls in settings.PRIVACY_UNITS:
        mine = [r for r in releases if cls in r.unit.split("+")]
        if mine:
            _, eps, delta = _window_sums(mine, period_days)
            by_class[cls], delta_by_class[cls] = max(eps), max(delta)
    _, eps, delta = _window_sums(releases, period_days)
    return {
        "contract_id": contract.id, "deliveries": deliveries_per_window(contract.schedule, period_days),
        "epsilon_per_delivery": per_delivery, "epsilon_per_window": max(eps, default=0.0),
        "delta_per_window": max(delta, default=0.0), "budget": contract.budget_epsilon_per_period,
        "affordable_deliveries": math.floor(contract.budget_epsilon_per_period / per_delivery + 1e-9),
        "epsilon_by_class": by_class, "delta_by_class": delta_by_class,
    }


def global_year(contracts: Iterable[Contract], period_days: int = settings.ACCOUNTING_PERIOD_DAYS) -> dict[str, Any]:
    """A year of all the contracts together against the global caps, per privacy unit class.

    Returns
    -------
    dict
        Per class: ``epsilon`` and ``delta`` (the most any window holds), the caps, ``epsilon_first_over`` /
        ``delta_first_over`` (first window start and spend above the cap, or None) and ``monthly`` (spend of
        the window starting on the first of each month).
    """
    # A derived contract is served by its parent's releases (on the parent's dates, validation checks): the
    # global caps hold those once, under the parent.
    releases = [r for c in contracts if not c.derived_from for r in year_releases(c)]
    out = {}
    for cls in settings.PRIVACY_UNITS:
        mine = [r for r in releases if cls in r.unit.split("+")]
        origin, eps, delta = _window_sums(mine, period_days)
        monthly = {}
        start = plan_start()
        for step in range(1, 13):  # the first of each month of the planned year
            year, month = divmod(start.month - 1 + step, 12)
            first = dt.date(start.year + year, month + 1, 1)
            i = (first - origin).days
            monthly[first.strftime("%Y-%m")] = eps[i] if 0 <= i < len(eps) else 0.0
        out[cls] = {"epsilon": max(eps, default=0.0), "epsilon_cap": settings.epsilon_cap(cls),
                    "delta": max(delta, default=0.0), "delta_cap": settings.GLOBAL_DELTA_CAP,
                    "epsilon_first_over": _first_over(origin, eps, settings.epsilon_cap(cls)),
                    "delta_first_over": _first_over(origin, delta, settings.GLOBAL_DELTA_CAP),
                    "monthly": monthly}
    return out


def global_cap_errors(year: dict[str, Any], period_days: int = settings.ACCOUNTING_PERIOD_DAYS) -> list[str]:
    """Sentences naming each global cap a ``global_year`` exceeds, and its first window."""
    errors = []
    for cls, figures in year.items():
        for what, cap in (("epsilon", figures["epsilon_cap"]), ("delta", figures["delta_cap"])):
            over = figures[f"{what}_first_over"]
            if over:
                start, spent = over
                errors.append(f"the global {what} cap {cap:g} per {cls} per {period_days} days would be exceeded "
                              f"in the window {start.isoformat()} to "
                              f"{(start + dt.timedelta(days=period_days)).isoformat()} "
                              f"({spent:.4g} planned)")
    return errors


def budget_plan(contracts: Iterable[Contract],
                period_days: int = settings.ACCOUNTING_PERIOD_DAYS) -> dict[str, Any]:
    """Plan every contract and the global caps; return the plans and one warning per shortfall.

    Returns
    -------
    dict
        ``contracts`` (``contract_plan`` of each), ``global`` (``global_year``) and ``warnings`` (sentences
        saying which deliveries will be refused).
    """
    contracts = list(contracts)
    plans = [contract_plan(c, period_days) for c in contracts]
    warnings = []
    for p in plans:
        if p["epsilon_per_window"] > p["budget"] + 1e-9:
            warnings.append(
                f"{p['contract_id']}: its schedule puts up to epsilon {p['epsilon_per_window']:g} in {period_days} "
                f"days (epsilon {p['epsilon_per_delivery']:g} per delivery, look-back included), but its budget is "
                f"{p['budget']:g} per {period_days} days: only {p['affordable_deliveries']} deliveries per window can "
                "be released, the ledger refuses the rest")
    totals = global_year(contracts, period_days)
    warnings += [f"all contracts: {line}: releases beyond the cap are refused"
                 for line in global_cap_errors(totals, period_days)]
    return {"contracts": plans, "global": totals, "warnings": warnings}


def plan_lines(contracts: Iterable[Contract], period_days: int = settings.ACCOUNTING_PERIOD_DAYS) -> list[str]:
    """``cde contracts plan``: a year of each contract against its budget, then the portfolio against each
    global cap, month by month (the window starting on the 1st), with the headroom left for new contracts."""
    contracts = list(contracts)
    lines = [f"{'contract':28} {'schedule':12} {'eps/delivery':>12} {'max eps/' + str(period_days) + 'd':>12} "
             f"{'budget':>7}  year"]
    for contract in contracts:
        year = contract_year(contract, period_days)
        verdict = ("fits every window" if not year["first_over"] else
                   f"OVER from the window starting {year['first_over'][0].isoformat()}")
        if contract.derived_from:
            verdict += f"; uses {contract.derived_from}'s releases (no global cost)"
        lines.append(f"{contract.id:28} {contract.schedule:12} {year['epsilon_per_delivery']:>12g} "
                     f"{year['max_epsilon_per_window']:>12.4g} {year['budget']:>7g}  {verdict}")
    year = global_year(contracts, period_days)
    for cls, figures in year.items():
        if not figures["epsilon"]:
            continue
        cap = figures["epsilon_cap"]
        lines.append(f"global ({cls}): most in any {period_days} days: epsilon {figures['epsilon']:.4g} of {cap:g} "
                     f"({figures['epsilon'] / cap:.0%}; {1 - figures['epsilon'] / cap:.0%} left for new contracts), "
                     f"delta {figures['delta']:.3g} of {figures['delta_cap']:g}")
        lines.append("  burn-down (epsilon in the 30 days from each 1st): " + ", ".join(
            f"{month[5:]}: {value:.3g}" for month, value in figures["monthly"].items()))
    lines += [f"REFUSED {line}" for line in global_cap_errors(year, period_days)]
    return lines
