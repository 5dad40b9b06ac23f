"""``unique_people``: L0 pairs per person-day, once per pair; zero-filled; not additive."""

from __future__ import annotations

import math

from jobs.privacy.measures import ZERO_FILL, get_measure


def test_sensitivity_scales_with_days_sources_and_moving_segments(make_plan):
    assert make_plan("unique_people").sensitivity == 12
    assert make_plan("unique_people", days=3, sources=("telco", "ticket")).sensitivity == 12 * 3 * 2
    # resident / commuter can move with the look-back data: x2 and a 13-day look-back
    moving = make_plan("unique_people", segments=("segment",))
    assert (moving.sensitivity, moving.lookback_days) == (24, 13)
    # the home country is fixed per pseudonym: neither
    fixed = make_plan("unique_people", segments=("country",))
    assert (fixed.sensitivity, fixed.lookback_days) == (12, 0)


def test_l2_is_the_square_root_of_the_pairs_and_drives_the_gaussian(make_plan):
    plan = make_plan("unique_people", days=4, mechanism="gaussian_discrete", max_cells_per_day=16)
    assert plan.l2_sensitivity == math.ceil(math.sqrt(16) * math.sqrt(4))
    assert plan.noise_sensitivity == plan.l2_sensitivity < plan.sensitivity
    assert make_plan("unique_people").noise_sensitivity == 12  # geometric noise uses L1


def test_bound_text_domain_and_k(make_plan):
    plan = make_plan("unique_people", max_cells_per_day=7)
    measure = get_measure("unique_people")
    assert plan.bounder.text() == "per person and day at most 7 (cell, bin) pairs, once per pair"
    assert measure.domain == ZERO_FILL and not measure.additive and not measure.needs_delta
    assert plan.k_threshold(10) == 10  # one person adds at most 1 to a key: k people = k
    assert plan.describe()["bounds"] == {"max_cells_per_day": 7}


def test_a_release_mixing_wifi_with_people_states_both_units(make_plan):
    assert make_plan("unique_people", sources=("telco",)).unit == "person"
    assert make_plan("unique_people", sources=("wifi",)).unit == "device-network"
    assert make_plan("unique_people", sources=("telco", "wifi")).unit == "device-network+person"
