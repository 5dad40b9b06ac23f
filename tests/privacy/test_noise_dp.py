"""Empirical privacy of the discrete noise: a lower bound on epsilon from samples, with confidence intervals.

For neighbouring inputs 0 and 1 (sensitivity 1), draw 300,000 noisy values of each, and for every output
value with enough samples compute Clopper-Pearson intervals of both probabilities (Bonferroni over the
values, alpha 1e-4 overall). The largest ln(lower(p0) / upper(p1)) is a lower bound on the mechanism's
epsilon that holds with probability 1 - alpha: it must not exceed the claimed epsilon, and the same test
must flag a deliberately wrong mechanism that uses twice the epsilon.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import beta

from jobs.privacy.noise import add_discrete_noise

pytestmark = pytest.mark.slow
DRAWS = 300_000
ALPHA = 1e-4


def _interval(successes: int, n: int, alpha: float) -> tuple[float, float]:
    low = beta.ppf(alpha / 2, successes, n - successes + 1) if successes else 0.0
    high = beta.ppf(1 - alpha / 2, successes + 1, n - successes) if successes < n else 1.0
    return low, high


def empirical_epsilon(mechanism, epsilon: float) -> float:
    """Lower confidence bound on the epsilon of ``mechanism`` at neighbouring inputs 0 and 1."""
    a = mechanism(np.zeros(DRAWS, dtype=np.int64))
    b = mechanism(np.ones(DRAWS, dtype=np.int64))
    values = np.union1d(a, b)
    counts_a = {v: c for v, c in zip(*np.unique(a, return_counts=True), strict=True)}
    counts_b = {v: c for v, c in zip(*np.unique(b, return_counts=True), strict=True)}
    bins = [v for v in values if counts_a.get(v, 0) + counts_b.get(v, 0) >= 200]
    per_test = ALPHA / (2 * len(bins))  # Bonferroni over values and both intervals
    best = 0.0
    for v in bins:
        lo_a, hi_a = _interval(counts_a.get(v, 0), DRAWS, per_test)
        lo_b, hi_b = _interval(counts_b.get(v, 0), DRAWS, per_test)
        if lo_a > 0 and hi_b > 0:
            best = max(best, math.log(lo_a / hi_b))
        if lo_b > 0 and hi_a > 0:
            best = max(best, math.log(lo_b / hi_a))
    return best


@pytest.mark.parametrize("epsilon", [0.5, 1.0])
def test_geometric_noise_stays_within_its_epsilon(epsilon):
    bound = empirical_epsilon(lambda v: add_discrete_noise(v, epsilon, 1), epsilon)
    assert 0.5 * epsilon < bound <= epsilon, bound  # tight, and never above the claim


def test_the_same_test_catches_a_mechanism_using_twice_the_epsilon():
    epsilon = 1.0
    wrong = lambda v: add_discrete_noise(v, 2 * epsilon, 1)  # noqa: E731  (claims epsilon, spends 2x)
    assert empirical_epsilon(wrong, epsilon) > epsilon


def test_gaussian_discrete_lower_bound_within_epsilon_plus_delta_region():
    # The discrete Gaussian is (epsilon, delta)-DP: its pointwise ratio may exceed e^epsilon only on a tail of
    # mass delta, which 300,000 draws at delta = 1e-6 never reach.
    epsilon = 1.0
    bound = empirical_epsilon(lambda v: add_discrete_noise(v, epsilon, 1, "gaussian_discrete", 1e-6), epsilon)
    assert bound <= epsilon
