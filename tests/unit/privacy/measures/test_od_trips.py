"""``od_trips``: trips per person-day; DP partition selection, so a delta; k counts trips."""

from __future__ import annotations

from jobs.privacy.measures import PARTITION_SELECTION, get_measure


def test_sensitivity_bound_and_selection(make_plan):
    plan = make_plan("od_trips", days=2, sources=("telco", "ticket"), max_trips_per_day=3)
    measure = get_measure("od_trips")
    assert plan.sensitivity == 3 * 2 * 2
    assert plan.l2_sensitivity >= 3  # all of a day's trips may fall into one pair
    assert plan.bounder.text() == "per person and day at most 3 trips"
    assert measure.domain == PARTITION_SELECTION and measure.needs_delta
    assert measure.places == ("origin_h3", "destination_h3") and measure.segments == ("mode",)
    from jobs.privacy.partition_selection import selection_threshold

    # one person can put all 3 trips of a day, in each of 2 sources, into one pair: the threshold knows it
    assert plan.max_per_key == 3 * 2
    assert plan.describe()["partition_selection_threshold"] == selection_threshold(1.0, 1e-7, 12, 6)
    assert plan.k_threshold(10) == 30
