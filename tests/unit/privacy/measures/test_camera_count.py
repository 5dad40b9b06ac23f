"""``camera_count``: event-level (no identity), L1 1 whatever the window, camera sources only."""

from __future__ import annotations

from jobs.privacy.measures import ZERO_FILL, get_measure


def test_event_level_sensitivity_and_unit(make_plan):
    plan = make_plan("camera_count", days=7, sources=("camera",))
    measure = get_measure("camera_count")
    assert plan.sensitivity == 1 and plan.unit == "event"
    assert measure.fixed_sources == ("camera",) and measure.domain == ZERO_FILL
    assert "event-level" in plan.bounder.text()
    assert plan.k_threshold(10) == 10
