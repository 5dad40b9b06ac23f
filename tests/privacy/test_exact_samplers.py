"""The exact samplers: their distributions over the support at two scales (chi-square), Bernoulli(exp(-g))
at several g, no cut-off tail, and the tails the phantom and interval figures use, to 1e-9, against a
50-digit computation."""

from __future__ import annotations

import decimal
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy.stats import chisquare

from jobs.privacy import samplers
from jobs.privacy.noise import add_discrete_noise, noise_scale, noise_tail

pytestmark = pytest.mark.slow
DRAWS = 60_000
# A correct sampler fails one of these tests with a chance of about 1e-6 each; a wrong one (the scale off
# by 10%) fails them all (checked below).
P_MIN = 1e-6


def _laplace_pmf(x: np.ndarray, scale: float) -> np.ndarray:
    p = math.exp(-1 / scale)
    return (1 - p) / (1 + p) * p ** np.abs(x)


def _gaussian_pmf(x: np.ndarray, sigma: float) -> np.ndarray:
    reach = np.arange(-int(40 * sigma) - 1, int(40 * sigma) + 2)
    norm = np.exp(-reach.astype(float) ** 2 / (2 * sigma * sigma)).sum()
    return np.exp(-x.astype(float) ** 2 / (2 * sigma * sigma)) / norm


def _chi_square_p(samples: np.ndarray, pmf) -> float:
    """p-value of the samples against ``pmf`` over every value expected at least 5 times, tails pooled."""
    reach = int(np.abs(samples).max()) + 50
    support = np.arange(-reach, reach + 1)
    expected = pmf(support) * len(samples)
    inner = support[expected >= 5]
    low, high = inner.min(), inner.max()
    counts = np.array([(samples < low).sum(), *[(samples == v).sum() for v in inner], (samples > high).sum()])
    probabilities = np.array([pmf(support[support < low]).sum(), *pmf(inner), pmf(support[support > high]).sum()])
    probabilities = probabilities / probabilities.sum()
    return float(chisquare(counts, probabilities * len(samples)).pvalue)


def _laplace_draws(scale: Fraction, n: int = DRAWS) -> np.ndarray:
    s, t = samplers.laplace_parameters(scale)
    return np.array([samplers.discrete_laplace(s, t) for _ in range(n)])


def _gaussian_draws(sigma: float, n: int = DRAWS) -> np.ndarray:
    p, q = samplers.gaussian_parameters(sigma)
    return np.array([samplers.discrete_gaussian(p, q) for _ in range(n)])


@pytest.mark.parametrize("scale", [Fraction(3, 2), Fraction(48, 5)])
def test_discrete_laplace_follows_its_distribution(scale):
    draws = _laplace_draws(scale)
    assert _chi_square_p(draws, lambda x: _laplace_pmf(x, float(scale))) > P_MIN
    assert _chi_square_p(draws, lambda x: _laplace_pmf(x, 1.1 * float(scale))) < P_MIN  # the test has power


@pytest.mark.parametrize("sigma", [1.7, 23.45])
def test_discrete_gaussian_follows_its_distribution(sigma):
    draws = _gaussian_draws(sigma)
    assert _chi_square_p(draws, lambda x: _gaussian_pmf(x, sigma)) > P_MIN
    assert _chi_square_p(draws, lambda x: _gaussian_pmf(x, 1.1 * sigma)) < P_MIN


@pytest.mark.parametrize("gamma", [Fraction(0), Fraction(3, 10), Fraction(1), Fraction(5, 2)])
def test_bernoulli_exp_has_probability_exp_minus_gamma(gamma):
    hits = sum(samplers.bernoulli_exp(gamma.numerator, gamma.denominator) for _ in range(40_000))
    expected = math.exp(-gamma) * 40_000
    assert abs(hits - expected) <= 5 * math.sqrt(expected * (1 - math.exp(-gamma))) + 1e-9


def test_the_laplace_sampler_has_no_cut_off_tail(monkeypatch):
    """Driven by a scripted source, the sampler returns 40 scales: a float inverse-CDF sampler's support ends
    near 36.7 scales, so its values that far out have probability 0 instead of about 4e-18."""
    calls = {"geometric": 0}

    def scripted(n: int) -> int:
        if n == 3:  # Bernoulli(1/3) inside Bernoulli(exp(-1)): 0 keeps K odd (A = 1) for 40 rounds, then stops
            calls["geometric"] += 1
            return 2 if calls["geometric"] <= 40 else 0
        return {1: 0, 2: 0}.get(n, n - 1)  # U = 0, D = 1, the sign positive, and K ends at 4 afterwards

    monkeypatch.setattr(samplers, "_below", scripted)
    assert samplers.discrete_laplace(1, 1) == 40


@pytest.mark.parametrize(("epsilon", "sensitivity"), [(0.5, 24), (0.3, 1)])
def test_the_geometric_tail_is_exact_to_one_in_a_billion(epsilon, sensitivity):
    decimal.getcontext().prec = 50
    p = (-(decimal.Decimal(repr(epsilon)) / sensitivity)).exp()
    t = math.ceil(math.log(1e-9) / math.log(float(p)))
    exact = p ** t / (1 + p)
    assert float(exact) <= 1e-9
    assert noise_tail(epsilon, sensitivity, t) == pytest.approx(float(exact), rel=1e-9)


@pytest.mark.parametrize(("epsilon", "sensitivity", "delta"), [(1.0, 5, 1e-7), (0.25, 2, 1e-8)])
def test_the_gaussian_tail_is_exact_to_one_in_a_billion(epsilon, sensitivity, delta):
    decimal.getcontext().prec = 50
    sigma = noise_scale(epsilon, sensitivity, "gaussian_discrete", delta)["scale"]
    two_var = 2 * decimal.Decimal(sigma) ** 2
    reach = int(60 * sigma) + 2
    weights = {x: (-(decimal.Decimal(x) ** 2) / two_var).exp() for x in range(-reach, reach + 1)}
    total = sum(weights.values())
    t = next(t for t in range(1, reach) if sum(w for x, w in weights.items() if x >= t) / total <= 1e-9)
    exact = sum(w for x, w in weights.items() if x >= t) / total
    assert noise_tail(epsilon, sensitivity, t, "gaussian_discrete", delta) == pytest.approx(float(exact), rel=1e-9)


def test_release_noise_comes_from_the_exact_samplers(monkeypatch):
    drawn = []
    original = samplers.discrete_laplace
    monkeypatch.setattr(samplers, "discrete_laplace", lambda s, t: drawn.append((s, t)) or original(s, t))
    out = add_discrete_noise(np.zeros(5, dtype=np.int64), 0.3, 2)
    assert len(drawn) == 5 and drawn[0] == (3, 20) and out.dtype == np.int64  # scale 2 / (3/10) = 20/3
