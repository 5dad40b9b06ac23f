"""Estimates beside the raw noisy values, for free (post-processing): the ``estimate`` column.

Input: the noisy values of one stored release over its whole zero-filled public domain (suppressed keys
included) and the release's published noise distribution. Nothing else: no true count, no seed, no random
draw, so it costs no privacy budget and the same release always gives the same estimates.

Method: empirical Bayes for a non-negative additive count. The true bounded values of a release's keys
follow some distribution over the domain (many empty keys, a long tail of busy ones). That distribution is
fitted from the noisy values themselves: nonparametric maximum likelihood (Kiefer-Wolfowitz) by EM over a
grid of non-negative values, stopped after a fixed number of iterations (which keeps the fitted
distribution smooth). Each key's estimate is the mean of its posterior given its noisy value, its interval
the posterior's central 95%, never narrower than the raw noise's own interval.

Why: a key is released because its noisy value reached k, so released values near k were more often
lifted by the noise than pushed down (the winner's curse). The raw values of released keys are biased
upwards, and a buyer who adds up released keys (a street, a district, a day) adds that bias up key after
key; the posterior mean removes it and knows that counts are never negative. Its price is shrinkage: where
the busiest keys are few (a small population), their estimates are pulled towards the bulk of the
distribution. So products deliver both: ``value`` (the noisy value, unbiased for every key; k acts on it)
and ``estimate`` (better for sums and for keys near k). Measured in ``bench/postprocess.py`` (figures in
``bench/RESULTS.md``).

Not applied (the estimate columns are null, and the manifest says why) to partition-selection releases
(only the selected keys are known, not the whole domain), to releases with too few keys to fit a
distribution, or where the noise is so small against the range of values that the grid cannot resolve it
(then the raw value is already as good as an estimate gets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from jobs.privacy.measures import PARTITION_SELECTION
from jobs.privacy.noise import noise_log_pmf, noise_sd

METHOD = "empirical Bayes (posterior mean under the value distribution fitted from the release's noisy values)"
MIN_KEYS = 200  # fewer keys than this cannot pin down a distribution of true values
ITERATIONS = 100  # EM steps; stopping early keeps the fitted distribution smooth (better-calibrated intervals)
MAX_GRID = 3000  # grid points of the fitted distribution
MAX_CELLS = 40_000_000  # distinct noisy values x grid points held in memory at once
TAIL = 0.025  # each side of the 95% posterior interval


@dataclass(frozen=True)
class Estimates:
    """Post-processed values of one release, in the order of its noisy values.

    Attributes
    ----------
    value : numpy.ndarray
        ``int64`` estimates (the noisy values themselves when ``applied`` is False).
    ci95_half_width : numpy.ndarray
        ``int64`` half-width of each value's 95% interval.
    applied : bool
        False when the raw values were kept.
    note : str
        What was done, or why nothing was, in words for manifests and audits.
    """

    value: np.ndarray
    ci95_half_width: np.ndarray
    applied: bool
    note: str


def _raw(noisy: np.ndarray, raw_half_width: int, why: str) -> Estimates:
    return Estimates(noisy.astype(np.int64), np.full(noisy.shape, raw_half_width, dtype=np.int64), False,
                     f"no estimate (the noisy values alone are delivered): {why}")


def _grid(top: int, sd: float) -> np.ndarray | None:
    """Non-negative grid from 0 to ``top`` with steps of at most a quarter of the noise's sd, or None when
    that needs more than ``MAX_GRID`` points and coarser steps would blur values the noise does not."""
    step = max(1, int(sd // 4))
    if top // step + 1 > MAX_GRID:
        step = int(math.ceil(top / (MAX_GRID - 1)))
        if step > sd / 2:
            return None
    return np.arange(0, top + step, step, dtype=np.int64)


def fit_prior(counts: np.ndarray, log_likelihood: np.ndarray, iterations: int = ITERATIONS) -> np.ndarray:
    """EM for the nonparametric maximum-likelihood mixing distribution.

    Parameters
    ----------
    counts : numpy.ndarray
        How many keys carry each distinct noisy value (rows of ``log_likelihood``).
    log_likelihood : numpy.ndarray
        ``log P(noisy value i | true value = grid point j)``, shape (values, grid points).
    iterations : int
        EM steps from the uniform distribution.

    Returns
    -------
    numpy.ndarray
        Weights over the grid points, summing to 1.
    """
    # Rows scaled by their maximum: EM is unchanged by a per-row factor, and nothing underflows.
    likelihood = np.exp(log_likelihood - log_likelihood.max(axis=1, keepdims=True))
    weights = np.full(likelihood.shape[1], 1.0 / likelihood.shape[1])
    share = counts / counts.sum()
    for _ in range(iterations):
        joint = likelihood * weights
        weights = (share[:, None] * joint / joint.sum(axis=1, keepdims=True)).sum(axis=0)
    return weights


def empirical_bayes(noisy: np.ndarray, epsilon: float, sensitivity: int, mechanism: str = "geometric",
                    delta: float | None = None, raw_half_width: int = 0) -> Estimates:
    """Posterior-mean estimates and 95% intervals of one release's keys (see the module docstring).

    Parameters
    ----------
    noisy : numpy.ndarray
        Integer noisy values of every key of the release's zero-filled domain.
    epsilon, sensitivity, mechanism, delta
        The release's noise (``ReleasePlan.epsilon``, ``noise_sensitivity``, ``mechanism``, ``delta``).
    raw_half_width : int
        The raw noise's 95% half-width (``noise_scale``); no interval is made narrower than this.

    Returns
    -------
    Estimates
        In the order of ``noisy``.
    """
    noisy = np.asarray(noisy, dtype=np.int64)
    if noisy.size < MIN_KEYS:
        return _raw(noisy, raw_half_width, f"{noisy.size} keys, fewer than the {MIN_KEYS} needed to fit the "
                                           "distribution of true values")
    sd = noise_sd(epsilon, sensitivity, mechanism, delta)
    grid = _grid(int(max(noisy.max(), 0) + math.ceil(4 * sd)), sd)
    values, index, counts = np.unique(noisy, return_inverse=True, return_counts=True)
    if grid is None or values.size * grid.size > MAX_CELLS:
        return _raw(noisy, raw_half_width, "the noise is too small against the range of values for a fitted "
                                           "distribution to improve on them")
    log_likelihood = noise_log_pmf(values[:, None] - grid[None, :], epsilon, sensitivity, mechanism, delta)
    weights = fit_prior(counts, log_likelihood)
    posterior = np.exp(log_likelihood - log_likelihood.max(axis=1, keepdims=True)) * weights
    posterior /= posterior.sum(axis=1, keepdims=True)
    mean = posterior @ grid
    cdf = np.cumsum(posterior, axis=1)
    low = grid[np.minimum((cdf < TAIL).sum(axis=1), grid.size - 1)]
    high = grid[np.minimum((cdf < 1 - TAIL).sum(axis=1), grid.size - 1)]
    estimate = np.rint(mean).astype(np.int64)
    half = np.maximum(np.ceil(np.maximum(estimate - low, high - estimate)).astype(np.int64), raw_half_width)
    return Estimates(estimate[index], half[index], True,
                     f"{METHOD}; non-negative; fitted over {noisy.size} keys, {ITERATIONS} EM steps on "
                     f"{grid.size} grid points; intervals are the posterior 95% and never narrower than the "
                     f"raw noise's +/- {raw_half_width}")


def post_process_release(frame, plan) -> tuple[object, str]:
    """Estimates for a stored release's rows, beside its noisy values.

    Parameters
    ----------
    frame : pandas.DataFrame
        The release read back (``value`` holds the noisy values), every key of its domain.
    plan : ReleasePlan
        Its plan (noise parameters, domain kind).

    Returns
    -------
    tuple
        A copy of ``frame`` with ``estimate`` and ``estimate_ci95_half_width`` per row (``value`` untouched;
        the estimate columns are null when nothing was applied); and the note describing what was done.
    """
    import pandas as pd

    raw_half = int(plan.noise()["ci95_half_width"])
    noisy = frame["value"].to_numpy(dtype=np.int64)
    if plan.domain == PARTITION_SELECTION:
        estimates = _raw(noisy, raw_half, "partition selection releases only the selected keys, so the "
                                          "distribution of true values over the domain cannot be fitted")
    else:
        estimates = empirical_bayes(noisy, plan.epsilon, plan.noise_sensitivity, plan.mechanism,
                                    plan.delta if plan.mechanism == "gaussian_discrete" else None, raw_half)
    out = frame.copy()
    out["estimate"] = pd.array(estimates.value if estimates.applied else [None] * len(out), dtype="Int64")
    out["estimate_ci95_half_width"] = pd.array(estimates.ci95_half_width if estimates.applied
                                               else [None] * len(out), dtype="Int64")
    return out, estimates.note
