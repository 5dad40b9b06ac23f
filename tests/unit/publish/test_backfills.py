"""A delivery window the schedule does not make is refused at publish unless one of the contract's suppliers'
approvers allowed it, and that approval is recorded with who, when and why."""

from __future__ import annotations

import datetime as dt

import pytest

from jobs.cli import main
from jobs.contracts import load_registry
from jobs.errors import WindowRefused
from jobs.publish.approvals import approve_all
from jobs.publish.backfills import backfill_approvals
from jobs.publish.delivery import compile_delivery
from jobs.publish.portfolio import find_contract

DAY = dt.date(2026, 3, 2)


@pytest.fixture
def approved(tmp_path, monkeypatch):
    monkeypatch.setenv("CDE_LAKE", str(tmp_path / "lake"))
    contract = find_contract("kk-inner-city-presence")
    approve_all(contract)
    return contract


def test_a_window_of_the_schedule_compiles_and_another_is_refused(approved):
    assert compile_delivery(approved, DAY).backfill is None  # "0 6 * * *": one local day
    with pytest.raises(WindowRefused, match=r"the window 2026-03-02 to 2026-03-04 is not one its schedule"):
        compile_delivery(approved, DAY, DAY + dt.timedelta(days=2))


def test_an_approvers_backfill_lets_that_window_through_and_is_recorded(approved, capsys):
    end = DAY + dt.timedelta(days=2)
    assert main(["contracts", "backfill", approved.id, "--date", str(DAY), "--end", str(end), "--supplier",
                 "nordic-telco", "--approver", "someone-else", "--reason", "x"]) == 1  # not a registered approver
    assert backfill_approvals() == {}
    approver = load_registry().get("nordic-telco").approvers[0]["name"]
    assert main(["contracts", "backfill", approved.id, "--date", str(DAY), "--end", str(end), "--supplier",
                 "nordic-telco", "--approver", approver, "--reason", "the 3 March run failed"]) == 0
    delivery = compile_delivery(approved, DAY, end)
    assert delivery.backfill["approver"] == approver and delivery.backfill["reason"] == "the 3 March run failed"
    with pytest.raises(WindowRefused):  # only the approved window
        compile_delivery(approved, DAY, DAY + dt.timedelta(days=3))
