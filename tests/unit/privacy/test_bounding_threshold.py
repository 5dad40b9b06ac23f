"""Contribution bounding and the k-threshold."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from jobs.privacy.bounding import bound_distinct_pairs
from jobs.privacy.threshold import apply_k_threshold


@pytest.mark.spark
def test_each_person_day_keeps_at_most_l0_distinct_pairs(spark):
    day = dt.date(2026, 3, 2)
    rows = []
    for person in range(30):
        for cell in range(person % 7 + 1):          # 1 to 7 cells
            for bin_ in range(person % 5 + 1):      # 1 to 5 bins
                rows += [(person, "telco", day, cell, bin_)] * 2   # every pair twice
    df = spark.createDataFrame(rows, "pseudo_id long, source string, event_date date, h3_cell long, bin_start long")
    bounded = bound_distinct_pairs(df, 6).toPandas()
    per_person = bounded.groupby("pseudo_id").size()
    assert per_person.max() <= 6
    assert not bounded.duplicated().any()
    # A person with fewer pairs than the bound keeps all of them.
    assert per_person[0] == 1 and per_person[6] == 6  # person 6: 7 cells x 2 bins -> 6


@pytest.mark.spark
def test_dropping_is_by_keyed_hash_not_by_order(spark):
    day = dt.date(2026, 3, 2)
    rows = [(1, "telco", day, cell, 0) for cell in range(50)]
    df = spark.createDataFrame(rows, "pseudo_id long, source string, event_date date, h3_cell long, bin_start long")
    kept = [set(bound_distinct_pairs(df, 5).toPandas()["h3_cell"]) for _ in range(4)]
    # A fresh key per release: the kept pairs are not always the first five.
    assert any(k != {0, 1, 2, 3, 4} for k in kept)
    assert len({frozenset(k) for k in kept}) > 1


def test_threshold_suppresses_below_k_on_the_noisy_value_with_null():
    released = pd.DataFrame({"value": [-3, 0, 9, 10, 250]})
    out = apply_k_threshold(released, 10)
    assert out["suppressed"].tolist() == [True, True, True, False, False]
    assert out["value"].isna().tolist() == [True, True, True, False, False]
    assert out["value"].dropna().tolist() == [10, 250]
    with pytest.raises(ValueError):
        apply_k_threshold(released, 0)
