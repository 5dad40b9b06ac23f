"""Helpers for the measure tests: a release plan of any metric without a contract file."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from jobs.privacy.measures import Bounds, bound_defaults
from jobs.privacy.release import ReleasePlan

AREA = {"type": "Polygon", "coordinates": [[[12.56, 55.67], [12.59, 55.67], [12.59, 55.69], [12.56, 55.69],
                                            [12.56, 55.67]]]}


@pytest.fixture
def make_plan():
    """``make_plan(metric, days=1, sources=("telco",), segments=(), mechanism="geometric", **bounds)``."""
    def make(metric, days=1, sources=("telco",), segments=(), mechanism="geometric", **bounds):
        values = {k: v for k, v in bound_defaults().items() if v is not None}
        values.update({"max_cells_per_day": 12}, **bounds)
        start = dt.date(2026, 3, 2)
        return ReleasePlan(
            contract_id="test", contract_version="1.0.0", metric=metric, sources=tuple(sources),
            area=json.dumps(AREA, sort_keys=True), h3_resolution=9, bin_minutes=60, window_start=start,
            window_end=start + dt.timedelta(days=days), epsilon=1.0,
            delta=1e-7 if mechanism == "gaussian_discrete" or metric == "od_trips" else 0.0,
            mechanism=mechanism, bounds=Bounds.of(values), budget_epsilon_per_period=10.0,
            segments=tuple(segments))
    return make
