"""Budget planning: deliveries per accounting window from the cron, and warnings before the ledger refuses."""

from __future__ import annotations

import pytest
import yaml

from jobs.common import settings
from jobs.privacy.planning import budget_plan, contract_plan, deliveries_per_window
from jobs.publish.contracts import parse_contract

EXAMPLE = settings.REPO_ROOT / "contracts" / "kk-inner-city-presence.yaml"


def _contract(cid: str = "plan-c", **terms):
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["id"] = cid
    terms.setdefault("k", 30)  # small epsilons need a larger k, or validation refuses noise that swamps k
    for item in doc["customProperties"]:
        if item["property"] in terms:
            item["value"] = terms[item["property"]]
    return parse_contract(doc, f"{cid}.yaml", EXAMPLE.parent)


@pytest.mark.parametrize(("cron", "expected"), [
    ("0 6 * * *", 30), ("0 6 * * 1", 5), ("0 6 1 * *", 2), ("0 6 * * 1-5", 22)])
def test_deliveries_per_30_day_window(cron, expected):
    assert deliveries_per_window(cron) == expected


def test_a_daily_contract_at_epsilon_1_affords_10_of_30_deliveries():
    plan = contract_plan(_contract(epsilon=1, budget_epsilon_per_period=10))
    assert (plan["deliveries"], plan["epsilon_per_window"], plan["affordable_deliveries"]) == (30, 30, 10)
    assert plan["epsilon_by_class"] == {"person": 30}


def test_warnings_name_the_contract_and_the_global_cap_only_when_exceeded():
    fits = budget_plan([_contract("plan-a", epsilon=0.3, budget_epsilon_per_period=9),
                        _contract("plan-b", schedule="0 6 * * 1", epsilon=1, budget_epsilon_per_period=5, k=50)])
    assert fits["warnings"] == []
    assert fits["global"]["person"]["epsilon"] == pytest.approx(9 + 5)
    over = budget_plan([_contract("plan-a", epsilon=0.5, budget_epsilon_per_period=10),
                        _contract("plan-b", epsilon=0.3, budget_epsilon_per_period=9)])
    assert len(over["warnings"]) == 2
    assert over["warnings"][0].startswith("plan-a: ") and "only 20 of them" in over["warnings"][0]
    assert "global cap 20" in over["warnings"][1] and "epsilon 24" in over["warnings"][1]
