"""The Rényi accountant: sound against an exact privacy-loss computation, never looser than the basic sum."""

from __future__ import annotations

import math

import pytest

from jobs.privacy.composition import Cost, composed, renyi_epsilon


def _exact_delta_discrete_laplace(epsilon: float, releases: int, target: float) -> float:
    """The exact hockey-stick delta at ``target`` of ``releases`` discrete Laplace releases of ``epsilon`` on
    neighbouring counts (sensitivity 1). One release's privacy loss is +epsilon with chance 1 / (1 + e^-eps)
    and -epsilon otherwise, so the total loss is epsilon (2B - n) with B binomial:
    delta = E[(1 - e^(target - L))+] over the first dataset's outputs."""
    p = 1 / (1 + math.exp(-epsilon))
    total = 0.0
    for b in range(releases + 1):
        loss = epsilon * (2 * b - releases)
        if loss > target:
            log_mass = (math.lgamma(releases + 1) - math.lgamma(b + 1) - math.lgamma(releases - b + 1)
                        + b * math.log(p) + (releases - b) * math.log1p(-p))
            total += math.exp(log_mass) * (1 - math.exp(target - loss))
    return total


@pytest.mark.parametrize("epsilon,releases", [(1.0, 1), (0.5, 4), (0.1, 30), (0.1, 365), (0.02, 1000)])
@pytest.mark.parametrize("delta", [1e-6, 1e-9])
def test_the_renyi_figure_is_sound_for_discrete_laplace_releases(epsilon, releases, delta):
    stated = renyi_epsilon([Cost(epsilon, 0.0, epsilon ** 2 / 2, "geometric")] * releases, delta)
    assert _exact_delta_discrete_laplace(epsilon, releases, stated) <= delta * (1 + 1e-9)
    # and not absurdly loose: within a factor 2 of the exact epsilon at that delta (found by bisection)
    lo, hi = 0.0, epsilon * releases
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _exact_delta_discrete_laplace(epsilon, releases, mid) > delta else (lo, mid)
    assert stated <= max(2 * hi, hi + 0.1)


def test_the_stated_figure_is_never_looser_than_the_basic_sum():
    for epsilon, releases in [(1.0, 1), (1.0, 3), (0.3, 10), (0.1, 365)]:
        figure = composed([Cost(epsilon, 0.0, epsilon ** 2 / 2, "geometric")] * releases, 1e-6)
        assert figure["epsilon"] <= figure["basic_epsilon"] + 1e-12
        assert figure["method"] == ("Rényi accountant" if figure["renyi_epsilon"] < figure["basic_epsilon"]
                                    else "basic composition")
    one = composed([Cost(1.0, 0.0, 0.5, "geometric")], 1e-6)  # one release: the sum is exact, pure DP stays pure
    assert (one["epsilon"], one["delta"], one["method"]) == (1.0, 0.0, "basic composition")
    year = composed([Cost(0.1, 0.0, 0.005, "geometric")] * 365, 1e-6)
    assert year["basic_epsilon"] == pytest.approx(36.5) and year["epsilon"] < 12.0  # a year of daily 0.1


def test_gaussian_releases_compose_by_rho_and_partition_selection_adds_its_delta():
    rho = 0.5 / 2  # L2 1, sigma 1.41...
    gaussian = renyi_epsilon([Cost(1.0, 1e-7, rho, "gaussian_discrete")] * 4, 1e-6)
    classic = 4 * rho + 2 * math.sqrt(4 * rho * math.log(1 / 1e-6))  # Bun and Steinke's conversion
    assert 0 < gaussian <= classic
    selection = [Cost(0.5, 2e-7, 0.125, "geometric")] * 5
    assert renyi_epsilon(selection, 1e-6) == math.inf  # its own deltas (5 x 2e-7) use up the whole delta
    assert math.isfinite(renyi_epsilon(selection, 2e-6))
    assert composed(selection, 2e-6)["delta"] in (2e-6, pytest.approx(1e-6))
