"""Budget planning: can the contracts' schedules be delivered within their budgets and the global caps?

The ledger refuses a release that would exceed a budget, but only when the release is due. This module
looks ahead: from each contract's cron, epsilon and metrics it works out the spend per accounting window
(the most deliveries any window of ``ACCOUNTING_PERIOD_DAYS`` can hold) and compares it with the contract's
``budget_epsilon_per_period`` and, summed over all contracts, with the global epsilon and delta caps. The
figures are lower bounds: look-back windows (anchors, segments) make releases count in more windows.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

from jobs.common import settings
from jobs.publish.contracts import Contract, fire_times


def deliveries_per_window(cron: str, period_days: int = settings.ACCOUNTING_PERIOD_DAYS) -> int:
    """The most times ``cron`` fires within any ``period_days`` days (over a sample year)."""
    times = fire_times(cron)
    period = dt.timedelta(days=period_days)
    return max(bisect.bisect_left(times, t + period) - i for i, t in enumerate(times))


def contract_plan(contract: Contract, period_days: int = settings.ACCOUNTING_PERIOD_DAYS) -> dict[str, Any]:
    """Planned spend of one contract per accounting window.

    Returns
    -------
    dict
        ``deliveries`` per window, ``epsilon_per_delivery`` (one release per metric), ``epsilon_per_window``,
        ``delta_per_window``, ``budget``, ``affordable_deliveries`` per window and ``epsilon_by_class``
        (``person`` or ``event``: which global cap the spend counts against).
    """
    from jobs.privacy.plan import plan_for

    day = dt.date(2026, 1, 5)
    plans = [plan_for(contract, metric, day, day + dt.timedelta(days=1)) for metric in contract.metrics]
    deliveries = deliveries_per_window(contract.schedule, period_days)
    per_delivery = sum(p.epsilon for p in plans)
    by_class: dict[str, float] = {}
    delta_by_class: dict[str, float] = {}
    for p in plans:
        for cls in p.unit.split("+"):
            by_class[cls] = by_class.get(cls, 0.0) + p.epsilon * deliveries
            delta_by_class[cls] = delta_by_class.get(cls, 0.0) + p.delta * deliveries
    return {
        "contract_id": contract.id, "deliveries": deliveries, "epsilon_per_delivery": per_delivery,
        "epsilon_per_window": per_delivery * deliveries, "budget": contract.budget_epsilon_per_period,
        "affordable_deliveries": math.floor(contract.budget_epsilon_per_period / per_delivery + 1e-9),
        "epsilon_by_class": by_class, "delta_by_class": delta_by_class,
    }


def budget_plan(contracts: Iterable[Contract],
                period_days: int = settings.ACCOUNTING_PERIOD_DAYS) -> dict[str, Any]:
    """Plan every contract and the global caps; return the plans and one warning per shortfall.

    Returns
    -------
    dict
        ``contracts`` (``contract_plan`` of each), ``global`` (planned epsilon and delta per class against
        the caps) and ``warnings`` (sentences saying which deliveries will be refused).
    """
    plans = [contract_plan(c, period_days) for c in contracts]
    warnings = []
    for p in plans:
        if p["epsilon_per_window"] > p["budget"] + 1e-9:
            warnings.append(
                f"{p['contract_id']}: its schedule makes up to {p['deliveries']} deliveries in {period_days} days at "
                f"epsilon {p['epsilon_per_delivery']:g} each ({p['epsilon_per_window']:g}), but its budget is "
                f"{p['budget']:g} per {period_days} days: only {p['affordable_deliveries']} of them can be released, "
                "the ledger refuses the rest")
    caps = {unit: (settings.epsilon_cap(unit), settings.GLOBAL_DELTA_CAP) for unit in settings.PRIVACY_UNITS}
    totals = {}
    for cls, (eps_cap, delta_cap) in caps.items():
        eps = sum(p["epsilon_by_class"].get(cls, 0.0) for p in plans)
        delta = sum(p["delta_by_class"].get(cls, 0.0) for p in plans)
        totals[cls] = {"epsilon": eps, "epsilon_cap": eps_cap, "delta": delta, "delta_cap": delta_cap}
        if eps > eps_cap + 1e-9:
            warnings.append(f"all contracts ({cls}-level): up to epsilon {eps:g} planned per {period_days} days "
                            f"against the global cap {eps_cap:g}: releases beyond the cap are refused")
        if delta > delta_cap * (1 + 1e-9):
            warnings.append(f"all contracts ({cls}-level): up to delta {delta:g} planned per {period_days} days "
                            f"against the global cap {delta_cap:g}: releases beyond the cap are refused")
    return {"contracts": plans, "global": totals, "warnings": warnings}
