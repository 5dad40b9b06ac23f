"""Empirical-Bayes post-processing: closer to the truth than the raw noise, intervals that still cover.

Real diffprivlib noise on a truth shaped like a city's counts (many near-empty keys, a long tail of busy
ones); nothing in the post-processing sees the truth.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import beta

from jobs.privacy.noise import add_discrete_noise, noise_scale
from jobs.privacy.postprocess import MIN_KEYS, empirical_bayes


def _truth(n: int) -> np.ndarray:
    rng = np.random.default_rng(7)  # the truth's shape only; the noise below has no seed
    small = rng.poisson(rng.exponential(20, n))
    busy = rng.lognormal(5.5, 1.0, n).astype(np.int64)
    return np.where(rng.random(n) < 0.7, small, busy).astype(np.int64)


def _bounds(covered: int, n: int) -> tuple[float, float]:
    return beta.ppf(0.0005, covered, n - covered + 1), beta.ppf(0.9995, covered + 1, n - covered)


@pytest.mark.parametrize("epsilon, sensitivity, k, mechanism, delta", [
    (0.5, 24, 217, "geometric", None),  # the inner-city product's noise and k
    (1.0, 10, 50, "gaussian_discrete", 1e-6),
])
def test_estimates_beat_the_raw_noise_and_their_intervals_cover(epsilon, sensitivity, k, mechanism, delta, capsys):
    truth = np.tile(_truth(2000), 3)  # 6,000 keys
    noisy = add_discrete_noise(truth, epsilon, sensitivity, mechanism, delta)
    raw_half = noise_scale(epsilon, sensitivity, mechanism, delta)["ci95_half_width"]
    est = empirical_bayes(noisy, epsilon, sensitivity, mechanism, delta, raw_half)
    assert est.applied and est.value.dtype == np.int64 and est.value.min() >= 0
    assert (est.ci95_half_width >= raw_half).all()
    released = noisy >= k
    raw_rmse = float(np.sqrt(((noisy - truth)[released] ** 2).mean()))
    eb_rmse = float(np.sqrt(((est.value - truth)[released] ** 2).mean()))
    raw_sum, eb_sum = int((noisy - truth)[released].sum()), int((est.value - truth)[released].sum())
    covered = int((np.abs(est.value - truth) <= est.ci95_half_width).sum())
    low, high = _bounds(covered, truth.size)
    with capsys.disabled():
        print(f"\n[post-processing {mechanism} eps {epsilon}] released rows RMSE raw {raw_rmse:.1f} -> {eb_rmse:.1f}; "
              f"error of their sum raw {raw_sum:+,} -> {eb_sum:+,}; coverage {covered / truth.size:.2%} "
              f"(99.9% CI {low:.2%} to {high:.2%})")
    assert eb_rmse < raw_rmse
    # Winner's curse: the released raw values are biased up; their sum's error is several times larger.
    assert raw_sum > 0 and abs(eb_sum) < raw_sum / 2
    assert low >= 0.94  # never worse than the raw interval's 95%


def test_too_few_keys_keep_the_raw_values():
    noisy = add_discrete_noise(np.arange(MIN_KEYS - 1, dtype=np.int64), 0.5, 24)
    est = empirical_bayes(noisy, 0.5, 24, raw_half_width=144)
    assert not est.applied and (est.value == noisy).all() and (est.ci95_half_width == 144).all()
    assert "fewer than" in est.note


def test_estimates_are_a_function_of_the_noisy_values_only():
    noisy = add_discrete_noise(np.tile(_truth(300), 2), 0.5, 24)
    first, second = empirical_bayes(noisy, 0.5, 24, raw_half_width=144), empirical_bayes(noisy, 0.5, 24,
                                                                                          raw_half_width=144)
    assert (first.value == second.value).all()  # redelivery of a stored release gives the same product
    # Equal noisy values get equal estimates, in any order.
    order = np.argsort(noisy, kind="stable")[::-1]
    again = empirical_bayes(noisy[order], 0.5, 24, raw_half_width=144)
    assert (again.value == first.value[order]).all()


def test_a_delivered_product_carries_the_estimate_beside_the_noisy_value():
    import datetime as dt
    import json

    import pandas as pd

    from jobs.common.h3cells import cell_to_int
    from jobs.privacy.domain import domain_bins, domain_cells
    from jobs.privacy.plan import plan_for
    from jobs.publish.deliver import build_product
    from jobs.publish.portfolio import find_contract

    contract = find_contract("kk-inner-city-presence")
    day = dt.date(2026, 3, 2)
    plan = plan_for(contract, "unique_people", day, day + dt.timedelta(days=1))
    cells, bins = domain_cells(json.loads(plan.area), 9), domain_bins(day, day + dt.timedelta(days=1), 60)
    keys = pd.DataFrame([(cell_to_int(c), b) for c in cells for b in bins], columns=["h3_cell", "bin_start"])
    truth = _truth(len(keys))
    noisy = add_discrete_noise(truth, plan.epsilon, plan.noise_sensitivity)
    release = keys.assign(value=noisy, destination_h3=None, metric="unique_people", bin_minutes=60,
                          bin_start=pd.to_datetime(keys["bin_start"], utc=True))
    k, raw_half = plan.k_threshold(contract.k), plan.noise()["ci95_half_width"]
    product = build_product(release, k, "d1", ci95=raw_half, plan=plan)
    assert product.attrs["post_processing"].startswith("empirical Bayes") and len(product) == len(keys)
    shown = product[~product["suppressed"]]
    assert len(shown) == int((noisy >= k).sum()) > 100  # k acts on the noisy values, as without estimates
    assert (shown["value"] >= k).all() and (shown["ci95_half_width"] == raw_half).all()
    assert shown["estimate"].notna().all() and (shown["estimate_ci95_half_width"] >= raw_half).all()
    # The estimates of released rows are lower on average: the noise that released them lifted them.
    assert shown["estimate"].astype(float).mean() < shown["value"].astype(float).mean()
    hidden = product[product["suppressed"]]
    assert hidden[["value", "ci95_half_width", "estimate", "estimate_ci95_half_width"]].isna().all().all()
    # Without a plan (a summed, derived product) the estimate columns are there, and null.
    plain = build_product(release, k, "d1", ci95=raw_half)
    assert plain.attrs["post_processing"] is None and plain["estimate"].isna().all()
    assert list(plain.columns) == list(product.columns)
