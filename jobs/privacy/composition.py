"""How many releases' privacy losses add up: the basic sum and a Rényi accountant beside it. Pure.

The ledger checks every cap and budget on the basic sum (sums of epsilon and of delta), which holds for any
mechanism. Over many releases that sum is loose, so the 30-day and yearly figures that audits print come
with a Rényi-DP accountant (as in Google's ``dp_accounting``), and the figure stated is the smaller of the
two, never looser than the basic sum printed beside it:

- a pure epsilon release (discrete Laplace) has Rényi divergence at most ``min(epsilon, alpha epsilon^2 / 2)``
  at every order alpha (pure DP bounds every order by epsilon; Bun and Steinke 2016, Prop. 3.3, bound it by
  ``epsilon^2 / 2``-zCDP);
- a discrete Gaussian release is ``rho``-zCDP with ``rho = L2^2 / (2 sigma^2)`` (Canonne, Kamath and Steinke
  2020, Theorem 4), so at most ``alpha rho``; its own delta is only its conversion and is not added;
- a release with a delta of its own (partition selection) is ``delta``-approximately
  ``epsilon^2 / 2``-zCDP (Bun and Steinke 2016, Prop. 3.3): ``alpha epsilon^2 / 2``, and its delta is added;
- Rényi divergences add over releases at each order; the total converts to (epsilon, delta) by Canonne,
  Kamath and Steinke 2020, Prop. 12, minimised over the orders below.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any

# Rényi orders the conversion minimises over (dp_accounting's defaults, thinned).
ORDERS = (1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 14.0, 16.0, 20.0, 24.0, 32.0,
          48.0, 64.0, 96.0, 128.0, 256.0, 512.0, 1024.0, 4096.0, 16384.0)


@dataclasses.dataclass(frozen=True)
class Cost:
    """One release's privacy cost as the ledger records it.

    Attributes
    ----------
    epsilon, delta, rho : float
        The release's epsilon, delta and zCDP rho.
    mechanism : str
        ``geometric`` (discrete Laplace; with a delta: partition selection) or ``gaussian_discrete``.
    """

    epsilon: float
    delta: float
    rho: float
    mechanism: str

    def renyi(self, order: float) -> float:
        """The most this release's Rényi divergence of this order can be."""
        if self.mechanism == "gaussian_discrete":
            return order * self.rho
        if self.delta > 0:  # approximate zCDP only: the pure-DP bound does not hold off its delta event
            return order * self.epsilon ** 2 / 2
        return min(self.epsilon, order * self.epsilon ** 2 / 2)

    @property
    def added_delta(self) -> float:
        """The delta this release adds on top of the Rényi conversion (partition selection's)."""
        return self.delta if self.mechanism != "gaussian_discrete" else 0.0


def renyi_epsilon(costs: Iterable[Cost], delta: float) -> float:
    """Epsilon of the releases together at a total ``delta`` by the Rényi accountant (``inf`` when their
    own deltas already reach ``delta``)."""
    costs = list(costs)
    if not costs:
        return 0.0
    slack = delta - sum(c.added_delta for c in costs)
    if slack <= 0:
        return math.inf
    best = math.inf
    for order in ORDERS:
        total = sum(c.renyi(order) for c in costs)
        # CKS20 Prop. 12: (alpha, tau)-RDP gives (epsilon, delta)-DP with this epsilon.
        epsilon = total + (math.log1p(-1 / order) - (math.log(slack) + math.log(order)) / (order - 1))
        best = min(best, epsilon)
    return max(best, 0.0)


def composed(costs: Iterable[Cost], delta: float) -> dict[str, Any]:
    """The privacy loss of releases together: the basic sum and the Rényi figure, and the one stated.

    Parameters
    ----------
    costs : iterable of Cost
        Every release composed (repeat a cost for each delivery that repeats it).
    delta : float
        The total delta the Rényi figure is stated at (its conversion's delta plus the releases' own).

    Returns
    -------
    dict
        ``basic_epsilon``, ``basic_delta`` (sums), ``renyi_epsilon`` at ``renyi_delta``, and ``epsilon``,
        ``delta``, ``method``: the Rényi pair where its epsilon is smaller than the sum, else the sum's, so the
        figure stated is never looser than the basic sum; ``text``, the two in one sentence.
    """
    costs = list(costs)
    basic_epsilon, basic_delta = sum(c.epsilon for c in costs), sum(c.delta for c in costs)
    renyi = renyi_epsilon(costs, delta)
    tighter = renyi < basic_epsilon
    rdp = (f"Rényi accountant {renyi:.4g} at delta {delta:.2g}" if math.isfinite(renyi)
           else "the Rényi accountant gives no figure at this delta")
    text = (f"{len(costs)} release(s): basic composition {basic_epsilon:.3g} (delta {basic_delta:.2g}); {rdp}; "
            + ("the Rényi figure is tighter and is the one stated" if tighter else
               "the basic sum is as tight or tighter and is the one stated"))
    return {"basic_epsilon": basic_epsilon, "basic_delta": basic_delta, "renyi_epsilon": renyi,
            "renyi_delta": delta, "epsilon": renyi if tighter else basic_epsilon,
            "delta": delta if tighter else basic_delta,
            "method": "Rényi accountant" if tighter else "basic composition", "text": text}
