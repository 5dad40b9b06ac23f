"""DP partition selection for sparse domains (origin-destination pairs).

An OD domain is too large to zero-fill (every pair of cells), so only pairs present in the data are
candidates, and a pair is released only when its noisy count reaches a threshold. Pairs not selected are
left out (not written as suppressed rows).

Each person touches at most ``L0`` pairs (their bounded trips) and changes each count by at most 1, so
two-sided geometric noise with ``p = exp(-epsilon / L0)`` makes the counts epsilon-DP. A pair whose only
contributor is one person exists only with that person; it must be released with probability at most
``delta / L0``, so that over the person's ``L0`` pairs the total is at most ``delta``. With
``P(X >= t) = p^t / (1 + p)`` for the geometric noise ``X``, the threshold is

    tau = 1 + ceil( ln(delta * (1 + p) / L0) / ln(p) )

the discrete analogue of the Laplace threshold of Korolova, Kenthapadi, Mishra and Ntoulas, "Releasing
search queries and clicks privately" (WWW 2009), and of Wilson et al., "Differentially Private SQL with
Bounded User Contribution" (PETS 2020). The released value is the same noisy count that passed the
threshold, so the release is (epsilon, delta)-DP.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from jobs.privacy.noise import noisy_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def selection_threshold(epsilon: float, delta: float, max_partitions: int) -> int:
    """Return the noisy-count threshold ``tau`` for releasing a partition (see the module docstring)."""
    if not 0 < delta < 1:
        raise ValueError(f"partition selection needs 0 < delta < 1, not {delta!r}")
    if epsilon <= 0 or max_partitions < 1:
        raise ValueError("epsilon must be positive and max_partitions at least 1")
    p = math.exp(-epsilon / max_partitions)
    return 1 + max(0, math.ceil(math.log(delta * (1 + p) / max_partitions) / math.log(p)))


def select_partitions(counts: DataFrame, epsilon: float, delta: float, max_partitions: int) -> DataFrame:
    """Add geometric noise to the present partitions' counts in the executors and keep those at or above
    the threshold. Write the result once: Spark would redraw the noise on recomputation.

    Parameters
    ----------
    counts : DataFrame
        True counts of the partitions present in the data, in ``value``.
    epsilon, delta : float
        The release's privacy parameters.
    max_partitions : int
        L0: partitions one person can touch (also the L1 sensitivity of the counts).

    Returns
    -------
    DataFrame
        Selected partitions with their noisy ``value``.
    """
    from pyspark.sql import functions as F

    tau = selection_threshold(epsilon, delta, max_partitions)
    noisy = noisy_column(counts, "value", epsilon, max_partitions, "geometric")
    return noisy.filter(F.col("value") >= F.lit(tau))
