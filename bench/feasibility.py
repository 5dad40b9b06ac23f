"""Feasibility of the example products (not a test): the epsilon each one's goals need, and what the portfolio
spends per 30 days against the global caps.

    .venv/bin/python bench/feasibility.py

Goal at city scale: median relative error at most 10% on keys whose true value is at least 500, and at least
90% of those keys released. With two-sided geometric noise of scale ``b`` the median absolute error is about
``b ln 2``, so the goal needs ``b <= 50 / ln 2 = 72`` (epsilon >= L1 / 72), and k (set by the phantom rule:
at most 1% of empty keys and 10 rows a delivery) must stay well below 500. Prints a Markdown table.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from jobs.privacy.feasibility import smallest_k
    from jobs.privacy.plan import plan_for
    from jobs.privacy.planning import contract_year, global_year
    from jobs.publish.portfolio import load_contracts

    contracts, invalid = load_contracts()
    if invalid:
        raise SystemExit(f"invalid contracts: {invalid}")
    day = dt.date(2026, 3, 2)
    print("| product | schedule | L1 per delivery | keys per delivery | epsilon the goal needs | k at that epsilon "
          "| epsilon chosen | noise scale | k (people) | epsilon per 30 days |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for contract in contracts.values():
        plan = plan_for(contract, contract.metrics[0], day, day + dt.timedelta(days=1))
        needed = plan.noise_sensitivity / (50 / math.log(2))
        at_needed = plan.__class__(**{**plan.__dict__, "epsilon": needed})
        domain = plan.domain_size()
        print(f"| {contract.id} | `{contract.schedule}` | {plan.noise_sensitivity} | {domain:,} | {needed:.3f} | "
              f"{smallest_k(at_needed, domain)} | {contract.epsilon:g} | {plan.noise()['scale']:.3g} | {contract.k} | "
              f"{contract_year(contract)['max_epsilon_per_window']:.3g} |")
    for cls, figures in global_year(contracts.values()).items():
        if figures["epsilon"]:
            print(f"\nPortfolio ({cls}): epsilon {figures['epsilon']:.3g} of {figures['epsilon_cap']:g} per 30 days "
                  f"({1 - figures['epsilon'] / figures['epsilon_cap']:.0%} unplanned), delta {figures['delta']:.3g} of "
                  f"{figures['delta_cap']:g}.")


if __name__ == "__main__":
    main()
