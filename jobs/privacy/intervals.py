"""Release-conditional 95% intervals for released values: post-processing of noisy values, no privacy cost.

``ci95_half_width`` is the noise's interval over every key of the domain, suppressed keys included. A value
is released only when its noisy value reaches the threshold, and near the threshold noise lifted more keys
over it than it pushed down: among released values near k, ``value +/- ci95_half_width`` covers the truth
far less than 95% of the time. The interval here is conditional on the release itself: for a released noisy
value ``v`` and threshold ``tau``, it holds every non-negative true count ``t`` for which ``v`` is not in
either 2.5% tail of the noise's distribution given that ``t + noise >= tau`` (a test inverted, as in
selective inference; the lower tail's share of the 5% is smaller where the noise's mass at the threshold
is, see below). Both noise laws are log-concave, so the truncated family grows with ``t`` and the set
is an interval. For every true count, among the keys of that count that are released, the interval covers
it at least 95% of the time. Far above the threshold it is the noise's own interval; at the threshold it
reaches down to 0 (a value there may be an empty key lifted by noise).

Summed values (zones, coarser derived cuts) use the law of the sum of their ``terms`` noises.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from jobs.privacy.measures import PARTITION_SELECTION
from jobs.privacy.noise import noise_log_pmf, noise_scale

ALPHA = 0.05
REACH = 12  # noise support kept: this many 95% half-widths each side (tails beyond are below 1e-14)


def noise_law(epsilon: float, sensitivity: int, mechanism: str = "geometric", delta: float | None = None,
              terms: int = 1) -> tuple[int, np.ndarray]:
    """The pmf of a released value's noise (the sum of ``terms`` draws) on ``[-reach, reach]``.

    Returns
    -------
    tuple
        ``reach`` and the pmf at offsets ``-reach .. reach`` (sums to 1).
    """
    half = max(1, noise_scale(epsilon, sensitivity, mechanism, delta)["ci95_half_width"])
    reach = REACH * half + 2
    pmf = np.exp(noise_log_pmf(np.arange(-reach, reach + 1), epsilon, sensitivity, mechanism, delta))
    pmf /= pmf.sum()
    law, total = np.array([1.0]), pmf
    count = int(terms)
    while count:  # the sum's law by repeated squaring of the one-draw law
        if count & 1:
            law = _convolve(law, total)
        count >>= 1
        if count:
            total = _convolve(total, total)
    return (len(law) - 1) // 2, law


def _convolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    size = len(a) + len(b) - 1
    n = 1 << (size - 1).bit_length()
    out = np.fft.irfft(np.fft.rfft(a, n) * np.fft.rfft(b, n), n)[:size]
    out = np.clip(out, 0.0, None)
    return out / out.sum()


def released_intervals(values: np.ndarray, threshold: int, law: tuple[int, np.ndarray],
                       alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """The release-conditional ``1 - alpha`` interval of the true count behind each released value.

    Parameters
    ----------
    values : numpy.ndarray
        Released noisy values (each at least ``threshold``).
    threshold : int
        The noisy value a key needed to be released (k in the metric's units, or the partition-selection
        threshold where that is higher).
    law : tuple
        ``noise_law`` of these values' noise.
    alpha : float
        One minus the coverage.

    Returns
    -------
    tuple of numpy.ndarray
        Lowest and highest true count (integers, never below 0) in each value's interval.
    """
    reach, pmf = law
    # tail[i] = P(noise >= i - reach) for i in 0 .. 2 reach + 1 (the last is 0)
    tail = np.concatenate([np.cumsum(pmf[::-1])[::-1], [0.0]])

    def at_least(x: np.ndarray) -> np.ndarray:
        return np.where(x < -reach, 1.0, tail[np.clip(x + reach, 0, 2 * reach + 1)])

    # The two tails' shares of alpha. At the threshold itself the lower tail is the noise's hazard there,
    # P(noise = 0 | noise >= 0) at most for every true count below it (1 - p for the geometric: under 2.5% at
    # large scales), so an equal split would leave no true count for a value at the threshold. The split is
    # fixed before any value is seen, so every true count's acceptance set keeps 1 - alpha.
    lower_share = min(alpha / 2, 0.999 * pmf[reach] / tail[reach])
    upper_share = alpha - lower_share
    values = np.asarray(values, dtype=np.int64)
    low, high = np.empty(len(values), dtype=np.int64), np.empty(len(values), dtype=np.int64)
    for v in np.unique(values):
        if v < threshold:
            raise ValueError(f"value {v} is below the threshold {threshold}: it was not released")
        t = np.arange(max(0, v - reach - 1), v + reach + 2, dtype=np.int64)
        selected = at_least(threshold - t)  # P(t + noise >= threshold)
        with np.errstate(divide="ignore", invalid="ignore"):
            upper_tail = at_least(v - t) / selected  # P(value >= v | released)
            lower_tail = (selected - at_least(v + 1 - t)) / selected  # P(value <= v | released)
        possible = selected > 1e-300
        inside = possible & (upper_tail > upper_share) & (lower_tail > lower_share)
        rows = values == v
        low[rows], high[rows] = (int(t[inside].min()), int(t[inside].max())) if inside.any() else (v, v)
    return low, high


def interval_text(threshold: int, unit: str) -> str:
    """What the release-conditional interval columns are, for manifests and data packages."""
    return (f"ci95_low / ci95_high: the 95% interval of the true bounded count given that the value was released "
            f"(noisy value at least {threshold} {unit}); conditional on release, so it stays true near k, where "
            "value +/- ci95_half_width (taken over all keys of the domain, suppressed ones included) covers far "
            "less; at the threshold it reaches down to 0")




def release_threshold(plan, k_threshold: int) -> int:
    """The noisy value a key of this release needed to be delivered: k in the metric's units, or the
    partition-selection threshold where that is higher."""
    if plan.domain == PARTITION_SELECTION:
        from jobs.privacy.partition_selection import selection_threshold  # loads numpy only: kept beside its use

        return max(k_threshold, selection_threshold(plan.epsilon, plan.delta, plan.sensitivity, plan.max_per_key))
    return k_threshold


def interval_columns(frame: pd.DataFrame, plan, k_threshold: int, terms: int = 1) -> tuple[pd.array, pd.array]:
    """``ci95_low`` and ``ci95_high`` of a product: the release-conditional interval of each released value
    (null where suppressed).

    Parameters
    ----------
    frame : pandas.DataFrame
        The product's rows: ``value`` (noisy, null where suppressed), ``suppressed`` and, for zone sums whose
        rows sum different numbers of release values, ``noise_terms`` per row.
    plan : ReleasePlan
        The stored release's plan (its noise law).
    k_threshold : int
        The threshold applied, in the metric's units.
    terms : int
        Release values summed into each value (a derived cut), where ``noise_terms`` is absent.
    """
    delta = plan.delta if plan.mechanism == "gaussian_discrete" else None
    threshold = release_threshold(plan, k_threshold)
    low = np.full(len(frame), -1, dtype=np.int64)
    high = np.full(len(frame), -1, dtype=np.int64)
    shown = ~frame["suppressed"].to_numpy(dtype=bool)
    per_row = frame["noise_terms"].to_numpy() if "noise_terms" in frame else np.full(len(frame), terms)
    for count in np.unique(per_row[shown]):
        rows = shown & (per_row == count)
        law = noise_law(plan.epsilon, plan.noise_sensitivity, plan.mechanism, delta, int(count))
        values = frame["value"].fillna(0).to_numpy(dtype=np.int64)[rows]
        low[rows], high[rows] = released_intervals(values, threshold, law)
    return (pd.Series(low, dtype="Int64").where(shown).array, pd.Series(high, dtype="Int64").where(shown).array)
