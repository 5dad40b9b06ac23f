"""Segments against the simulator's ground truth over a short simulated week (the fortnight is in bench/)."""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]
START = dt.date(2026, 3, 9)   # Monday, inside one pseudonym-key period
DAYS = 5


def test_segments_match_the_simulated_truth(spark, lake_root, capsys):
    from jobs.aggregate.silver import build_silver
    from jobs.ingest.feeds.telco import SPEC
    from jobs.ingest.runner import ingest
    from jobs.simulate.main import run as simulate
    from jobs.simulate.truth import segment_accuracy

    simulate(400, DAYS, START, seed=42, events_per_person=30, feeds=("telco",))
    for i in range(DAYS):
        day = START + dt.timedelta(days=i)
        ingest(spark, SPEC, day, validate=False)
        build_silver(spark, day, ("telco",))
    result = segment_accuracy(START + dt.timedelta(days=DAYS - 1))
    with capsys.disabled():
        print(f"\n[segmentation] {DAYS}-day window, 400 people: {result['accuracy']:.1%} of "
              f"{result['person_days']} person-days")
    assert result["person_days"] > 300 and result["unmatched"] == 0
    assert result["accuracy"] >= 0.85
    confusion = result["confusion"]
    assert confusion.loc["tourist", "tourist"] == confusion.loc["tourist"].sum()
