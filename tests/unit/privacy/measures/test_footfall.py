"""``footfall``: pairs per person-day and events per pair; k counts events (k people x events per pair)."""

from __future__ import annotations

from jobs.privacy.measures import ZERO_FILL, get_measure


def test_sensitivity_is_pairs_times_events(make_plan):
    plan = make_plan("footfall", days=2, max_cells_per_day=12, max_events_per_pair=4)
    assert plan.sensitivity == 12 * 4 * 2
    assert plan.bounder.text() == "per person and day at most 12 (cell, bin) pairs, at most 4 events each"


def test_additive_zero_filled_and_k_in_events(make_plan):
    plan = make_plan("footfall", max_events_per_pair=3)
    measure = get_measure("footfall")
    assert measure.additive and measure.domain == ZERO_FILL
    assert plan.k_threshold(10) == 30
    assert "k = 10 people x at most 3 events" in measure.k_text(10, plan.bounder)
