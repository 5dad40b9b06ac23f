"""Budget planning: a year of each schedule against its budget and, all approved contracts together, the
global caps (look-back windows included); approval refuses a contract that would break a cap."""

from __future__ import annotations

import datetime as dt
import re
import shutil

import pytest
import yaml

from jobs.common import settings
from jobs.contracts import ContractError
from jobs.privacy.planning import (
    HEADROOM,
    budget_plan,
    contract_plan,
    contract_year,
    deliveries_per_window,
    global_year,
    plan_lines,
)
from jobs.publish.portfolio import load_contracts, parse_contract

EXAMPLE = settings.REPO_ROOT / "contracts" / "kk-inner-city-presence.yaml"


def _contract(cid: str = "plan-c", **terms):
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["id"] = cid
    terms.setdefault("max_cells_per_day", 8)  # the k figures below are the phantom rule's at 8 pairs a day
    for item in doc["customProperties"]:
        if item["property"] in terms:
            item["value"] = terms.pop(item["property"])
    doc["customProperties"] += [{"property": p, "value": v} for p, v in terms.items()]
    return parse_contract(doc, f"{cid}.yaml", EXAMPLE.parent)


@pytest.mark.parametrize(("cron", "expected"), [
    ("0 6 * * *", 30), ("0 6 * * 1", 5), ("0 6 1 * *", 2), ("0 6 * * 1-5", 22)])
def test_deliveries_per_30_day_window(cron, expected):
    assert deliveries_per_window(cron) == expected


def test_a_daily_contract_puts_30_deliveries_into_a_window():
    plan = contract_plan(_contract(epsilon=0.4, budget_epsilon_per_period=13))
    assert (plan["deliveries"], plan["affordable_deliveries"]) == (30, 32)
    assert plan["epsilon_per_window"] == pytest.approx(12) and plan["epsilon_by_class"] == {"person": pytest.approx(12)}


def test_a_schedule_its_budget_cannot_pay_for_a_year_is_refused_naming_the_window_and_what_passes():
    with pytest.raises(ContractError) as err:
        _contract(epsilon=0.5, budget_epsilon_per_period=13)
    line = next(e for e in err.value.errors if "budget_epsilon_per_period" in e)
    # one figure: the fullest 30 days hold 15 (30 daily deliveries at 0.5), and a budget of 15 would pass
    assert "puts epsilon 15 into its fullest 30 days" in line, line
    assert "a budget of at least 15," in line
    start = dt.date.fromisoformat(line.split("e.g. ")[1][:10])
    assert start >= dt.date.today() - dt.timedelta(days=1)  # a window of the year ahead, not of a past sample year


def test_look_back_widens_the_windows_a_release_counts_in():
    plain = contract_year(_contract("plan-p", epsilon=0.25, budget_epsilon_per_period=12, k=146))
    assert plain["max_epsilon_per_window"] == pytest.approx(7.5)
    # A segment release reads 13 days before its window: 30 + 13 daily releases overlap some 30-day window.
    doc_terms = dict(epsilon=0.25, budget_epsilon_per_period=12, segments=["segment"], k=380)
    segmented = contract_year(_contract("plan-s", **doc_terms))
    assert segmented["max_epsilon_per_window"] == pytest.approx(0.25 * 43)


def test_warnings_name_the_contract_and_the_global_cap_only_when_exceeded(monkeypatch):
    fits = budget_plan([_contract("plan-a", epsilon=0.3, budget_epsilon_per_period=9.5, k=122),
                        _contract("plan-b", schedule="0 6 * * 1", epsilon=1, budget_epsilon_per_period=6.5, k=362)])
    assert fits["warnings"] == []
    # A weekly release spans 7 days: a 30-day window overlaps 6 of them (the ledger counts each it touches).
    assert fits["global"]["person"]["epsilon"] == pytest.approx(9 + 6)
    monkeypatch.setattr(settings, "GLOBAL_EPSILON_CAP", 12.0)
    over = budget_plan([_contract("plan-a", epsilon=0.3, budget_epsilon_per_period=9.5, k=122),
                        _contract("plan-b", epsilon=0.2, budget_epsilon_per_period=6.5, k=183)])
    assert len(over["warnings"]) == 1
    assert "global epsilon cap 12 per person per 30 days would be exceeded in the window" in over["warnings"][0]


def test_the_examples_are_affordable_for_a_year_and_leave_a_fifth_of_each_cap():
    contracts, invalid = load_contracts()
    assert not invalid
    for contract in contracts.values():
        assert contract_year(contract)["first_over"] is None, contract.id
    for cls, figures in global_year(contracts.values()).items():
        assert figures["epsilon"] <= (1 - HEADROOM) * figures["epsilon_cap"], cls
        assert figures["delta"] <= (1 - HEADROOM) * figures["delta_cap"], cls
    lines = plan_lines(contracts.values())
    assert not any(line.startswith("REFUSED") for line in lines)


def test_approving_a_sixth_contract_that_breaks_the_global_cap_is_refused(simulated_lake, tmp_path, monkeypatch):
    from jobs.cli import main
    from jobs.publish.approvals import approve_all, missing_approvals
    from jobs.publish.portfolio import load_contract

    folder = tmp_path / "contracts"
    shutil.copytree(settings.REPO_ROOT / "contracts", folder)
    monkeypatch.setenv("CDE_CONTRACTS", str(folder))
    for path in sorted(folder.glob("*.yaml")):
        approve_all(load_contract(path))
    # A sixth daily product at epsilon 0.6: 18 more per 30 days on top of the examples' 46.5: 2.15 a day, so the
    # first window holding 28 daily releases (60.2) breaks the cap of 60.
    sixth = folder / "kk-sixth.yaml"
    text = EXAMPLE.read_text().replace("id: kk-inner-city-presence", "id: kk-sixth")
    assert "{property: epsilon, value: 0.5}" in text and "{property: budget_epsilon_per_period, value: 16.0}" in text
    text = text.replace("{property: epsilon, value: 0.5}", "{property: epsilon, value: 0.6}")
    text = text.replace("{property: budget_epsilon_per_period, value: 16.0}",
                        "{property: budget_epsilon_per_period, value: 19.0}")
    sixth.write_text(text)
    contract = load_contract(sixth)
    with pytest.raises(ContractError) as err:
        approve_all(contract)
    line = err.value.errors[0]
    assert "customProperties.epsilon" in line and "global epsilon cap 60 per person per 30 days" in line, line
    window = re.search(r"in the window (\d{4}-\d\d-\d\d) to (\d{4}-\d\d-\d\d) \(60.2 planned\)", line)
    assert window, line  # a window of the year ahead, its 30 days and the spend planned in it
    start, end = (dt.date.fromisoformat(day) for day in window.groups())
    assert (end - start).days == 30 and start >= dt.date.today() - dt.timedelta(days=30)
    assert missing_approvals(contract) == ["nordic-telco"]  # nothing was recorded
    assert main(["contracts", "plan"]) == 1  # the folder's contracts together exceed the cap
    assert main(["contracts", "plan", "--approved"]) == 0  # the five approved ones fit
    # The refusal advises retiring another contract: ending one makes room (it plans no more releases).
    from jobs.publish.ending import end_contract

    end_contract(load_contract(folder / "retail-stroget-footfall.yaml"), by="test", reason="makes room")
    approve_all(contract)
    assert missing_approvals(contract) == []
