"""DP partition selection for sparse domains (origin-destination pairs).

An OD domain is too large to zero-fill (every pair of cells), so only pairs present in the data are
candidates, and a pair is released only when its noisy count reaches a threshold. Pairs not selected are
left out (not written as suppressed rows).

One person adds at most ``L1`` to all counts together (their bounded trips) and at most ``C`` to any one
count (trips can repeat a pair: ``C`` is the per-person cap per key), so two-sided geometric noise with
``p = exp(-epsilon / L1)`` makes the counts epsilon-DP. A pair whose only contributor is one person exists
only with that person; the chance that any of the person's pairs is released must stay below ``delta``.
With ``P(X >= t) = p^t / (1 + p)`` for the geometric noise ``X`` (``t >= 1``), a pair holding ``c`` of the
person's trips is released with probability ``p^(tau - c) / (1 + p)``. That is convex in ``c``, so the
worst way to spread ``L1`` over pairs of at most ``C`` each puts as many as possible at ``C``
(``worst_case_delta`` computes the maximum exactly over every such spread). The threshold ``tau`` is the
smallest integer whose worst case is at most ``delta``.

When ``C = 1`` this is the threshold of Korolova, Kenthapadi, Mishra and Ntoulas, "Releasing search queries
and clicks privately" (WWW 2009), and Wilson et al., "Differentially Private SQL with Bounded User
Contribution" (PETS 2020), in its discrete form. The released value is the same noisy count that passed
the threshold, so the release is (epsilon, delta)-DP.
"""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING

from jobs.privacy.noise import noisy_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def geometric_tail(epsilon: float, sensitivity: int, k: int) -> float:
    """``P(X >= k)`` for diffprivlib's two-sided geometric noise of scale ``sensitivity / epsilon``."""
    p = math.exp(-epsilon / sensitivity)
    if k >= 1:
        return p ** k / (1 + p)
    return 1.0 - p ** (1 - k) / (1 + p)


def worst_case_delta(epsilon: float, tau: int, l1: int, max_per_key: int = 1) -> float:
    """Largest chance that one person's own pairs are released, over every way to spread their contribution.

    Parameters
    ----------
    epsilon : float
        The release's epsilon (noise scale ``l1 / epsilon``).
    tau : int
        The threshold a noisy count must reach.
    l1 : int
        The person's total contribution (L1 sensitivity of the counts).
    max_per_key : int
        The most the person adds to one pair.

    Returns
    -------
    float
        ``max over spreads c_1..c_m (1 <= c_i <= max_per_key, sum <= l1) of sum_i P(c_i + X >= tau)``,
        summed exactly (a union bound over the person's pairs).
    """
    cap = max(1, min(max_per_key, l1))
    best = 0.0
    # Convexity: at most one pair lies strictly between 1 and the cap; the rest are at the cap or at 1.
    for full in range(l1 // cap + 1):
        rest = l1 - full * cap
        for middle in range(0, min(rest, cap - 1) + 1):
            ones = rest - middle
            total = full * geometric_tail(epsilon, l1, tau - cap)
            total += (geometric_tail(epsilon, l1, tau - middle) if middle else 0.0)
            total += ones * geometric_tail(epsilon, l1, tau - 1)
            best = max(best, total)
    return best


@cache
def selection_threshold(epsilon: float, delta: float, max_partitions: int, max_per_key: int = 1) -> int:
    """Return the noisy-count threshold ``tau`` for releasing a partition (see the module docstring).

    Parameters
    ----------
    epsilon, delta : float
        The release's privacy parameters.
    max_partitions : int
        L1: the most one person adds to all counts (also the noise's sensitivity).
    max_per_key : int
        The most one person adds to one count (1 for distinct people; the trip cap for trips).
    """
    if not 0 < delta < 1:
        raise ValueError(f"partition selection needs 0 < delta < 1, not {delta!r}")
    if epsilon <= 0 or max_partitions < 1 or max_per_key < 1:
        raise ValueError("epsilon must be positive and max_partitions and max_per_key at least 1")
    # Start below the answer (the one-trip-per-pair threshold) and step up: worst_case_delta falls with tau.
    p = math.exp(-epsilon / max_partitions)
    tau = 1 + max(0, math.ceil(math.log(delta * (1 + p) / max_partitions) / math.log(p)))
    while worst_case_delta(epsilon, tau, max_partitions, max_per_key) > delta:
        tau += 1
    return tau


def select_partitions(counts: DataFrame, epsilon: float, delta: float, max_partitions: int,
                      max_per_key: int = 1) -> DataFrame:
    """Add geometric noise to the present partitions' counts in the executors and keep those at or above
    the threshold. Write the result once: Spark would redraw the noise on recomputation.

    Parameters
    ----------
    counts : DataFrame
        True counts of the partitions present in the data, in ``value``.
    epsilon, delta : float
        The release's privacy parameters.
    max_partitions : int
        L1: the most one person adds to all counts (the noise's sensitivity).
    max_per_key : int
        The most one person adds to one count.

    Returns
    -------
    DataFrame
        Selected partitions with their noisy ``value``.
    """
    from pyspark.sql import functions as F

    tau = selection_threshold(epsilon, delta, max_partitions, max_per_key)
    noisy = noisy_column(counts, "value", epsilon, max_partitions, "geometric")
    return noisy.filter(F.col("value") >= F.lit(tau))
