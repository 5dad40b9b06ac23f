"""Discrete noise only (docs/architecture.md, the privacy model), drawn by exact samplers.

Float Laplace / Gaussian samplers leak the true value through the low bits of their output (diffprivlib
issue #94), and diffprivlib's integer ``Geometric`` draws by a float inverse CDF whose support ends near
36.7 scales, so neither draws noise here: every draw is ``jobs/privacy/samplers.py``'s, exact integer
arithmetic on a cryptographic source (Canonne, Kamath and Steinke 2020). diffprivlib still calibrates the
discrete Gaussian's sigma for (epsilon, delta) (``GaussianDiscrete``; no draw). There is no seed
parameter; tests check distributions with large samples instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from jobs.privacy import samplers

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

MECHANISMS = ("geometric", "gaussian_discrete")


def _check(epsilon: float, sensitivity: int, mechanism: str, delta: float | None) -> int:
    """Validate a mechanism's parameters; return the integer sensitivity."""
    if not epsilon > 0 or not math.isfinite(epsilon):
        raise ValueError(f"epsilon must be a positive number, not {epsilon!r}")
    sensitivity = int(math.ceil(sensitivity))
    if sensitivity < 1:
        raise ValueError(f"sensitivity must be a positive integer, not {sensitivity!r}")
    if mechanism == "geometric":
        if delta:
            raise ValueError("the geometric mechanism is pure epsilon: delta must be None or 0")
        return sensitivity
    if mechanism == "gaussian_discrete":
        if delta is None or not 0 < delta < 1:
            raise ValueError(f"gaussian_discrete needs 0 < delta < 1, not {delta!r}")
        return sensitivity
    raise ValueError(f"mechanism must be one of {MECHANISMS}, not {mechanism!r}")


def _gaussian_sigma(epsilon: float, sensitivity: int, delta: float) -> float:
    """The discrete Gaussian's sigma for (epsilon, delta) at this L2 sensitivity (diffprivlib's calibration)."""
    from diffprivlib.mechanisms import GaussianDiscrete

    return float(GaussianDiscrete(epsilon=epsilon, delta=delta, sensitivity=sensitivity)._scale)


def _sampler(epsilon: float, sensitivity: int, mechanism: str, delta: float | None) -> Callable[[], int]:
    """A function drawing one noise value of the mechanism, exactly (``jobs/privacy/samplers.py``)."""
    sensitivity = _check(epsilon, sensitivity, mechanism, delta)
    if mechanism == "geometric":
        # epsilon as the decimal the contract states (0.3 is 3/10, not its nearest binary float)
        s, t = samplers.laplace_parameters(Fraction(sensitivity) / Fraction(repr(float(epsilon))))
        return lambda: samplers.discrete_laplace(s, t)
    p, q = samplers.gaussian_parameters(_gaussian_sigma(epsilon, sensitivity, delta))
    return lambda: samplers.discrete_gaussian(p, q)


def add_discrete_noise(values: np.ndarray, epsilon: float, sensitivity: int, mechanism: str = "geometric",
                       delta: float | None = None) -> np.ndarray:
    """Return ``values`` plus independent discrete noise, one draw per element.

    Parameters
    ----------
    values : numpy.ndarray
        Integer counts (true values; never returned).
    epsilon : float
        Privacy parameter of each value's release.
    sensitivity : int
        ``geometric``: the L1 bound of one person's contribution; ``gaussian_discrete``: the L2 bound,
        rounded up to an integer.
    mechanism : {"geometric", "gaussian_discrete"}
        Two-sided geometric (discrete Laplace of scale ``sensitivity / epsilon``, pure epsilon) or the
        discrete Gaussian ((epsilon, delta), sigma calibrated by diffprivlib's ``GaussianDiscrete``).
    delta : float, optional
        Required for ``gaussian_discrete``.

    Returns
    -------
    numpy.ndarray
        ``int64`` noisy values, same shape.
    """
    values = np.asarray(values)
    if values.size and not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"values must be integers, not {values.dtype}")
    draw = _sampler(epsilon, sensitivity, mechanism, delta)
    flat = values.reshape(-1)
    noisy = np.fromiter((int(v) + draw() for v in flat), dtype=np.int64, count=flat.size)
    return noisy.reshape(values.shape)


def noise_tail(epsilon: float, sensitivity: int, t: int, mechanism: str = "geometric",
               delta: float | None = None) -> float:
    """``P(X >= t)`` for the release noise ``X``: the chance that noise alone lifts an empty key to ``t``.

    Geometric: ``p^t / (1 + p)`` with ``p = exp(-epsilon / sensitivity)`` (``t >= 1``). Discrete Gaussian:
    the normalised sum of ``exp(-x^2 / (2 sigma^2))`` over ``x >= t``, summed out to 40 sigma.
    """
    _check(epsilon, sensitivity, mechanism, delta)
    if mechanism == "geometric":
        p = math.exp(-epsilon / int(math.ceil(sensitivity)))
        return p ** t / (1 + p) if t >= 1 else 1.0 - p ** (1 - t) / (1 + p)
    sigma = noise_scale(epsilon, sensitivity, mechanism, delta)["scale"]
    reach = int(math.ceil(40 * sigma)) + abs(t) + 1
    weights = [math.exp(-x * x / (2 * sigma * sigma)) for x in range(-reach, reach + 1)]
    return sum(w for x, w in zip(range(-reach, reach + 1), weights, strict=True) if x >= t) / sum(weights)


def noise_scale(epsilon: float, sensitivity: int, mechanism: str = "geometric",
                delta: float | None = None) -> dict:
    """Describe the noise of a released value: its scale and the 95% interval half-width.

    Returns
    -------
    dict
        ``{"mechanism", "scale", "ci95_half_width"}``: for ``geometric`` the scale is ``sensitivity /
        epsilon``; for ``gaussian_discrete`` it is sigma. The half-width is the smallest integer ``t`` with
        P(|noise| <= t) >= 0.95.
    """
    _check(epsilon, sensitivity, mechanism, delta)
    if mechanism == "geometric":  # closed form: no mechanism object needed (light enough for DAG parsing)
        p = math.exp(-epsilon / int(math.ceil(sensitivity)))
        # P(|X| > t) = 2 p^(t+1) / (1 + p) for the two-sided geometric distribution.
        t = max(0, math.ceil(math.log(0.05 * (1 + p) / 2) / math.log(p) - 1))
        return {"mechanism": mechanism, "scale": sensitivity / epsilon, "ci95_half_width": int(t)}
    sigma = _gaussian_sigma(epsilon, int(math.ceil(sensitivity)), delta)
    return {"mechanism": mechanism, "scale": sigma, "ci95_half_width": int(math.ceil(1.96 * sigma))}


def sum_noise_tail(epsilon: float, sensitivity: int, t: int, terms: int, mechanism: str = "geometric",
                   delta: float | None = None) -> float:
    """``P(S >= t)`` for ``S``, the sum of ``terms`` independent release noises: the chance that a derived
    value (a parent cell or a longer bin summed from ``terms`` empty keys) reaches ``t`` by noise alone.

    Geometric: exact, as the difference of two negative binomials (each the sum of ``terms`` one-sided
    geometric draws). Discrete Gaussian: the sub-Gaussian bound ``exp(-t^2 / (2 terms sigma^2))``, an upper
    bound (the discrete Gaussian is sub-Gaussian with parameter sigma^2), so refusals stay on the safe side.
    """
    if terms <= 1:
        return noise_tail(epsilon, sensitivity, t, mechanism, delta)
    _check(epsilon, sensitivity, mechanism, delta)
    if mechanism == "geometric":
        from scipy.stats import nbinom

        p = math.exp(-epsilon / int(math.ceil(sensitivity)))
        # S = A - B with A, B ~ NegBin(terms, 1 - p) (failures before the terms-th success).
        top = int(nbinom.isf(1e-15, terms, 1 - p)) + 1
        j = np.arange(top + 1)
        return float(np.sum(nbinom.pmf(j, terms, 1 - p) * nbinom.sf(t + j - 1, terms, 1 - p)))
    sigma = noise_scale(epsilon, sensitivity, mechanism, delta)["scale"]
    return 1.0 if t <= 0 else math.exp(-t * t / (2 * terms * sigma * sigma))


def sum_noise_scale(epsilon: float, sensitivity: int, terms: int, mechanism: str = "geometric",
                    delta: float | None = None) -> dict:
    """``noise_scale`` for a value summed from ``terms`` released values: its standard deviation and the
    smallest integer ``t`` with ``P(|S| <= t) >= 0.95`` (from ``sum_noise_tail``; symmetric noise)."""
    one = noise_scale(epsilon, sensitivity, mechanism, delta)
    if terms <= 1:
        return {**one, "sd": _sd(epsilon, sensitivity, mechanism, delta), "terms": 1}
    high = max(1, int(math.ceil(one["ci95_half_width"] * math.sqrt(terms))))
    while 2 * sum_noise_tail(epsilon, sensitivity, high + 1, terms, mechanism, delta) > 0.05:
        high *= 2
    low = 0
    while high - low > 1:  # P(|S| > t) = 2 P(S >= t + 1) falls as t grows: bisect
        middle = (low + high) // 2
        if 2 * sum_noise_tail(epsilon, sensitivity, middle + 1, terms, mechanism, delta) > 0.05:
            low = middle
        else:
            high = middle
    sd = _sd(epsilon, sensitivity, mechanism, delta) * math.sqrt(terms)
    return {"mechanism": mechanism, "scale": one["scale"], "sd": sd, "ci95_half_width": int(high), "terms": terms}


def noise_log_pmf(z: np.ndarray, epsilon: float, sensitivity: int, mechanism: str = "geometric",
                  delta: float | None = None) -> np.ndarray:
    """Natural log of ``P(X = z)`` for the release noise ``X`` at integer offsets ``z`` (any shape).

    Geometric: ``log((1 - p) / (1 + p)) + |z| log p`` with ``p = exp(-epsilon / sensitivity)``. Discrete
    Gaussian: ``-z^2 / (2 sigma^2)`` minus the log of its normalising sum (out to 40 sigma). Logs, so that
    far offsets stay finite instead of underflowing to zero.
    """
    _check(epsilon, sensitivity, mechanism, delta)
    z = np.asarray(z, dtype=np.float64)
    if mechanism == "geometric":
        p = math.exp(-epsilon / int(math.ceil(sensitivity)))
        return math.log((1 - p) / (1 + p)) + np.abs(z) * math.log(p)
    sigma = noise_scale(epsilon, sensitivity, mechanism, delta)["scale"]
    reach = np.arange(-int(math.ceil(40 * sigma)) - 1, int(math.ceil(40 * sigma)) + 2, dtype=np.float64)
    log_norm = math.log(float(np.exp(-reach * reach / (2 * sigma * sigma)).sum()))
    return -z * z / (2 * sigma * sigma) - log_norm


def noise_sd(epsilon: float, sensitivity: int, mechanism: str = "geometric", delta: float | None = None) -> float:
    """Standard deviation of one release noise draw (see ``_sd``)."""
    _check(epsilon, sensitivity, mechanism, delta)
    return _sd(epsilon, sensitivity, mechanism, delta)


def _sd(epsilon: float, sensitivity: int, mechanism: str, delta: float | None) -> float:
    """Standard deviation of one noise draw (two-sided geometric: sqrt(2p) / (1 - p); discrete Gaussian:
    at most sigma)."""
    if mechanism == "geometric":
        p = math.exp(-epsilon / int(math.ceil(sensitivity)))
        return math.sqrt(2 * p) / (1 - p)
    return noise_scale(epsilon, sensitivity, mechanism, delta)["scale"]


def noisy_column(df: DataFrame, column: str, epsilon: float, sensitivity: int,
                 mechanism: str = "geometric", delta: float | None = None) -> DataFrame:
    """Replace an integer column by its noisy value, drawing the noise inside the Spark executors.

    Parameters
    ----------
    df : DataFrame
        Rows holding the true ``column``.
    column : str
        Integer column to perturb.
    epsilon, sensitivity, mechanism, delta
        As for ``add_discrete_noise``.

    Returns
    -------
    DataFrame
        Same schema; ``column`` (``long``) now holds noisy values. Spark would redraw on recomputation:
        write the result once and read it back.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType

    _sampler(epsilon, sensitivity, mechanism, delta)  # fail on the driver, before any task runs
    df = df.withColumn(column, F.col(column).cast(LongType()))

    def draw(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            batch[column] = add_discrete_noise(batch[column].to_numpy(dtype=np.int64), epsilon,
                                               sensitivity, mechanism, delta)
            yield batch

    return df.mapInPandas(draw, df.schema)
