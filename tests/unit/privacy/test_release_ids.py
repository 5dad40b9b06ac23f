"""Release ids hash the plan, and only the plan: the same plan names the same stored release (a rerun
reuses it and spends nothing), and fields added later join the id only when set, so plans made before them
keep their ids (``tests/fixtures/release_ids_before_measures.json``, computed by the code of commit
9b9e01e for the 1.0.0 examples)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from jobs.common import settings
from jobs.privacy.release import plan_for
from jobs.publish.portfolio import load_contracts

BEFORE = settings.REPO_ROOT / "tests" / "fixtures" / "release_ids_before_measures.json"


def _inner_city_1_0_0(window_start: dt.date, window_end: dt.date):
    """The plan kk-inner-city-presence 1.0.0 made (epsilon 1, budget 10, 12 pairs a day), rebuilt from the current
    version."""
    contracts, _ = load_contracts()
    plan = plan_for(contracts["kk-inner-city-presence"], "unique_people", window_start, window_end)
    bounds = type(plan.bounds).of(dict(plan.bounds.as_dict(), max_cells_per_day=12))
    return dataclasses.replace(plan, contract_version="1.0.0", epsilon=1.0, budget_epsilon_per_period=10.0,
                               bounds=bounds)


def test_a_plan_made_before_later_fields_existed_keeps_its_id():
    expected = json.loads(BEFORE.read_text())
    for key, release_id in expected.items():
        contract_id, _, start, end = key.split("|")
        if contract_id == "kk-inner-city-presence":
            plan = _inner_city_1_0_0(dt.date.fromisoformat(start), dt.date.fromisoformat(end))
            assert plan.release_id == release_id, key


def test_the_same_plan_gives_the_same_id_and_every_field_changes_it():
    contracts, _ = load_contracts()
    day = dt.date(2026, 3, 2)
    plan = plan_for(contracts["kk-inner-city-presence"], "unique_people", day, day + dt.timedelta(days=1))
    assert plan_for(contracts["kk-inner-city-presence"], "unique_people", day,
                    day + dt.timedelta(days=1)).release_id == plan.release_id
    bounds = dict(plan.bounds.as_dict(), max_cells_per_day=13)
    others = [dataclasses.replace(plan, epsilon=plan.epsilon + 0.2), dataclasses.replace(plan, h3_resolution=8),
              dataclasses.replace(plan, bounds=type(plan.bounds).of(bounds)),
              dataclasses.replace(plan, countries=("DE",)), dataclasses.replace(plan, domain_choice="zero_fill")]
    assert len({plan.release_id, *(p.release_id for p in others)}) == 6
