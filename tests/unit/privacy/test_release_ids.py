"""Release ids hash the plan: the ids of the example contracts' releases are those made before measures
existed (``tests/fixtures/release_ids_before_measures.json``, computed by the code of commit 9b9e01e), so
a delivery rerun on a lake made before the change finds its stored release and spends nothing."""

from __future__ import annotations

import datetime as dt
import json

from jobs.common import settings
from jobs.privacy.release import plan_for
from jobs.publish.contracts import load_contracts

BEFORE = settings.REPO_ROOT / "tests" / "fixtures" / "release_ids_before_measures.json"


def test_example_release_ids_are_unchanged():
    contracts, invalid = load_contracts()
    assert not invalid
    expected = json.loads(BEFORE.read_text())
    assert len(expected) == 10
    for key, release_id in expected.items():
        contract_id, metric, start, end = key.split("|")
        plan = plan_for(contracts[contract_id], metric, dt.date.fromisoformat(start), dt.date.fromisoformat(end))
        assert plan.release_id == release_id, key


def test_any_field_of_the_plan_changes_the_id():
    import dataclasses

    contracts, _ = load_contracts()
    plan = plan_for(contracts["kk-inner-city-presence"], "unique_people", dt.date(2026, 3, 2), dt.date(2026, 3, 3))
    bounds = dict(plan.bounds.as_dict(), max_cells_per_day=13)
    others = [dataclasses.replace(plan, epsilon=0.5), dataclasses.replace(plan, h3_resolution=8),
              dataclasses.replace(plan, bounds=type(plan.bounds).of(bounds))]
    assert len({plan.release_id, *(p.release_id for p in others)}) == 4
