"""Release-conditional intervals: among the released values of any true count, near k or far above it, the
interval holds the true count at least 95% of the time (where value +/- ci95_half_width does not)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import beta

from jobs.privacy.intervals import noise_law, released_intervals
from jobs.privacy.noise import noise_scale


def _noise(rng, law, size):
    """Draws from a noise law (the test's own sampler: privacy code never seeds)."""
    reach, pmf = law
    return rng.choice(np.arange(-reach, reach + 1), size=size, p=pmf)


@pytest.mark.parametrize("mechanism,epsilon,sensitivity,delta,terms", [
    ("geometric", 0.5, 24, None, 1),       # kk-inner-city-presence's scale (48)
    ("geometric", 1.0, 3, None, 1),
    ("gaussian_discrete", 1.0, 3, 1e-7, 1),
    ("geometric", 0.5, 4, None, 7),        # a value summed from 7 release values
])
def test_the_interval_covers_the_truth_among_released_values_of_every_true_count(mechanism, epsilon, sensitivity,
                                                                                 delta, terms):
    rng = np.random.default_rng(7)
    law = noise_law(epsilon, sensitivity, mechanism, delta, terms)
    half = law[0] // 12  # about the sum's 95% half-width
    threshold = 4 * half
    naive_near_k = []
    for truth in (0, threshold // 2, threshold - half, threshold, threshold + half, threshold + 4 * half):
        noisy = truth + _noise(rng, law, 200_000)
        released = noisy[noisy >= threshold]
        if len(released) < 1_000:  # too rarely released to measure (an empty key far below k)
            continue
        low, high = released_intervals(released, threshold, law)
        assert (low >= 0).all() and (low <= released).all() and (high >= released - 1).all()
        covered = int(((low <= truth) & (truth <= high)).sum())
        n = len(released)
        assert covered == n or beta.ppf(0.9995, covered + 1, n - covered) >= 0.95, (truth, covered / n)
        if mechanism == "geometric" and terms == 1 and truth <= threshold:
            width = noise_scale(epsilon, sensitivity)["ci95_half_width"]
            naive_near_k.append(float((np.abs(released - truth) <= width).mean()))
    if mechanism == "geometric" and terms == 1:  # what the plain half-width gives there: far under 95%
        assert naive_near_k and min(naive_near_k) < 0.9


def test_far_above_the_threshold_the_interval_is_the_noise_interval_and_at_it_reaches_zero():
    law = noise_law(0.5, 24)
    width = noise_scale(0.5, 24)["ci95_half_width"]
    low, high = released_intervals(np.array([219, 2000]), 219, law)
    assert low[0] == 0 and 219 <= high[0] < 219 + width  # an empty key lifted by noise cannot be ruled out
    # the noise's own quantiles (the lower tail's share is 2.04% here, the upper's 2.96%)
    assert width - 12 <= 2000 - low[1] <= width + 12 and width - 12 <= high[1] - 2000 <= width + 12
    with pytest.raises(ValueError, match="below the threshold"):
        released_intervals(np.array([218]), 219, law)
    assert math.isclose(float(law[1].sum()), 1.0)
