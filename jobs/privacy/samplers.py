"""Exact samplers of the discrete Laplace and the discrete Gaussian (Canonne, Kamath and Steinke 2020).

Every draw is integer arithmetic on uniform integers from the operating system's cryptographic source
(``secrets``): no floating point touches a sample, so the output follows the target distribution exactly,
over its whole (infinite) support. (A float inverse-CDF sampler, as diffprivlib's ``Geometric``, cannot
produce a value beyond about 36.7 scales: its "pure epsilon" holds only up to a delta of about 1e-15 per
value.) The parameters are exact rationals: a scale or a variance given as a float is taken at its exact
binary value (``fractions.Fraction(float)``), which is the value the accounting uses too.

- ``bernoulli_exp(n, d)``: 1 with probability ``exp(-n/d)``, for integers ``n >= 0``, ``d >= 1``
  (CKS20 Algorithm 1);
- ``discrete_laplace(s, t)``: ``P(x) ∝ exp(-|x| s / t)``, the two-sided geometric of scale ``t / s``
  (Algorithm 2);
- ``discrete_gaussian(p, q)``: ``P(x) ∝ exp(-x² / (2 σ²))`` with ``σ² = p / q`` (Algorithm 3).

No function takes a seed: privacy code draws only from ``secrets``. Tests check the distributions with large
samples (``tests/privacy/test_exact_samplers.py``).
"""

from __future__ import annotations

import math
import secrets
from fractions import Fraction

_below = secrets.randbelow

#: how every value's noise is drawn, for manifests and audits
SAMPLER = ("exact: discrete Laplace or discrete Gaussian sampled with integer arithmetic from the operating "
           "system's cryptographic source (Canonne, Kamath and Steinke 2020); no floating point in any draw")


def bernoulli(n: int, d: int) -> int:
    """1 with probability ``n / d`` exactly (``0 <= n <= d``)."""
    return 1 if _below(d) < n else 0


def bernoulli_exp(n: int, d: int) -> int:
    """1 with probability ``exp(-n / d)`` exactly, for integers ``n >= 0`` and ``d >= 1``."""
    if n < 0 or d < 1:
        raise ValueError(f"bernoulli_exp needs n >= 0 and d >= 1, not {n}/{d}")
    while n > d:  # exp(-gamma) = exp(-1)^floor(gamma) * exp(-(gamma - floor(gamma)))
        if not _bernoulli_exp_at_most_one(1, 1):
            return 0
        n -= d
    return _bernoulli_exp_at_most_one(n, d)


def _bernoulli_exp_at_most_one(n: int, d: int) -> int:
    """``bernoulli_exp`` for ``0 <= n / d <= 1``: the parity of the first K with Bernoulli(gamma / K) = 0."""
    k = 1
    while bernoulli(n, d * k):
        k += 1
    return k % 2


def discrete_laplace(s: int, t: int) -> int:
    """One draw with ``P(x) ∝ exp(-|x| s / t)`` (integers ``s, t >= 1``; scale ``t / s``)."""
    if s < 1 or t < 1:
        raise ValueError(f"discrete_laplace needs integers s, t >= 1, not {s}, {t}")
    while True:
        u = _below(t)
        if not bernoulli_exp(u, t):
            continue
        v = 0
        while bernoulli_exp(1, 1):
            v += 1
        y = (u + t * v) // s
        negative = _below(2)
        if negative and y == 0:
            continue
        return -y if negative else y


def discrete_gaussian(p: int, q: int) -> int:
    """One draw with ``P(x) ∝ exp(-x² / (2 σ²))``, ``σ² = p / q`` (integers ``p, q >= 1``)."""
    if p < 1 or q < 1:
        raise ValueError(f"discrete_gaussian needs integers p, q >= 1, not {p}, {q}")
    t = math.isqrt(p // q) + 1  # floor(sigma) + 1
    while True:
        y = discrete_laplace(1, t)
        # accept with exp(-(|y| - sigma²/t)² / (2 sigma²)) = exp(-(|y| q t - p)² / (2 p q t²))
        if bernoulli_exp((abs(y) * q * t - p) ** 2, 2 * p * q * t * t):
            return y


def laplace_parameters(scale: float | Fraction) -> tuple[int, int]:
    """``(s, t)`` of ``discrete_laplace`` for a scale given as a float (its exact value) or a fraction."""
    exact = Fraction(scale)
    if exact <= 0:
        raise ValueError(f"the scale must be above 0, not {scale!r}")
    return exact.denominator, exact.numerator


def gaussian_parameters(sigma: float | Fraction) -> tuple[int, int]:
    """``(p, q)`` of ``discrete_gaussian`` for a standard deviation given as a float or a fraction."""
    variance = Fraction(sigma) ** 2
    if variance <= 0:
        raise ValueError(f"sigma must be above 0, not {sigma!r}")
    return variance.numerator, variance.denominator
