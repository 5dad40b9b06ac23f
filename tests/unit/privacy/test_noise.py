"""Discrete noise: integers in, integers out, the right spread, no way to pass a seed."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from jobs.privacy import noise
from jobs.privacy.noise import add_discrete_noise, noise_scale


def test_integers_in_integers_out_one_draw_each():
    values = np.arange(2000, dtype=np.int64).reshape(40, 50)
    out = add_discrete_noise(values, epsilon=1.0, sensitivity=3)
    assert out.dtype == np.int64 and out.shape == values.shape
    # Independent draws: the noise is not one shared offset.
    assert len(np.unique(out - values)) > 10


def test_geometric_spread_matches_its_scale():
    # Two-sided geometric with p = exp(-eps/s): variance 2p / (1-p)^2.
    eps, sens, n = 0.5, 4, 200_000
    p = math.exp(-eps / sens)
    draws = add_discrete_noise(np.zeros(n, dtype=np.int64), eps, sens)
    var = 2 * p / (1 - p) ** 2
    # Sample-mean bound at about 5 standard errors (alpha well below 1e-3).
    assert abs(draws.mean()) < 5 * math.sqrt(var / n)
    assert abs(draws.var() / var - 1) < 0.05
    half = noise_scale(eps, sens)["ci95_half_width"]
    assert 0.945 < np.mean(np.abs(draws) <= half) < 0.96


def test_gaussian_discrete_needs_delta_and_is_integer():
    out = add_discrete_noise(np.full(50_000, 100, dtype=np.int64), 1.0, 2, "gaussian_discrete", delta=1e-6)
    assert out.dtype == np.int64
    sigma = noise_scale(1.0, 2, "gaussian_discrete", 1e-6)["scale"]
    assert abs(out.std() / sigma - 1) < 0.03
    with pytest.raises(ValueError, match="delta"):
        add_discrete_noise(np.zeros(3, dtype=np.int64), 1.0, 2, "gaussian_discrete")


@pytest.mark.parametrize("bad", [dict(epsilon=0), dict(epsilon=-1), dict(sensitivity=0),
                                 dict(mechanism="laplace")])
def test_bad_parameters_are_refused(bad):
    args = dict(values=np.zeros(3, dtype=np.int64), epsilon=1.0, sensitivity=1, mechanism="geometric")
    args.update(bad)
    with pytest.raises(ValueError):
        add_discrete_noise(**args)


def test_float_values_are_refused():
    with pytest.raises(TypeError):
        add_discrete_noise(np.array([1.5, 2.0]), 1.0, 1)


def test_privacy_code_takes_no_seed():
    for fn in (add_discrete_noise, noise.noisy_column, noise_scale):
        params = inspect.signature(fn).parameters
        assert not {"seed", "random_state", "rng"} & set(params)


def test_advice_scores_bounds_by_dropped_share_and_noise():
    """A synthetic histogram: every person-day has 10 contributions. Bounds below 10 drop a share, bounds above
    add noise only; with a large mean value the bias dominates and 10 is recommended."""
    import dataclasses
    import datetime as dt

    from jobs.privacy.advise import BUCKETS, candidates, dropped_share
    from jobs.privacy.plan import plan_for
    from jobs.publish.portfolio import find_contract

    histogram = [100_000 if low <= 10 <= high else 0 for low, high in BUCKETS]
    assert dropped_share(histogram, 10) == 0 and dropped_share(histogram, 5) == 0.5
    plan = plan_for(find_contract("kk-inner-city-presence"), "unique_people", dt.date(2026, 3, 2), dt.date(2026, 3, 3))
    scored = {c.bound: c for c in candidates(histogram, plan, "max_cells_per_day", 1)}
    assert min(scored.values(), key=lambda c: c.rmse).bound == 10
    assert scored[20].noise_sd == pytest.approx(2 * scored[10].noise_sd, rel=0.01)
    # A hundredth of the epsilon: noise matters a hundred times more, and a smaller bound wins.
    quiet = dataclasses.replace(plan, epsilon=plan.epsilon / 100)
    assert min(candidates(histogram, quiet, "max_cells_per_day", 1), key=lambda c: c.rmse).bound < 10


def test_an_advice_over_too_few_person_days_says_it_is_unreliable():
    from jobs.privacy.advise import ADVISE_EPSILON, BUCKETS, MAX_DROPPED_SD, dropped_share_sd
    from jobs.privacy.noise import noise_sd

    sd = noise_sd(ADVISE_EPSILON, 1)  # one day, one source
    shape = [max(0, 20 - abs(low - 8)) for low, _ in BUCKETS]  # person-days per bucket, peaked near 8
    small = [n * 5 for n in shape]  # about 1,000 person-days: the demo's scale
    large = [n * 2_000 for n in shape]  # about 400,000: a city's
    assert dropped_share_sd(small, 12, sd) > MAX_DROPPED_SD
    assert dropped_share_sd(large, 12, sd) < MAX_DROPPED_SD / 10
    # The uncertainty shrinks as one over the person-days.
    assert dropped_share_sd(large, 12, sd) == pytest.approx(dropped_share_sd(small, 12, sd) / 400, rel=1e-9)
