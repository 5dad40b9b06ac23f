"""A delivery window the schedule does not make is refused at publish unless one of the contract's suppliers'
privacy officers allowed it (with the identity of an approver token, never a typed name), and that approval is
recorded with who, when and why."""

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
    from jobs.common import paths

    monkeypatch.setenv("CDE_LAKE", str(tmp_path / "lake"))
    paths.simulation(paths.SIMULATION_MARKER).parent.mkdir(parents=True)
    paths.simulation(paths.SIMULATION_MARKER).write_text("{}")  # the simulated suppliers approve here
    contract = find_contract("kk-inner-city-presence")
    approve_all(contract)
    return contract


def test_a_window_of_the_schedule_compiles_and_another_is_refused(approved):
    assert compile_delivery(approved, DAY).backfill is None  # "0 6 * * *": one local day
    with pytest.raises(WindowRefused, match=r"the window 2026-03-02 to 2026-03-04 is not one its schedule"):
        compile_delivery(approved, DAY, DAY + dt.timedelta(days=2))


def test_an_officers_backfill_lets_that_window_through_and_is_recorded(approved, tmp_path, monkeypatch, capsys):
    from jobs.portal import accounts, db

    monkeypatch.setenv("CDE_PORTAL_DB", f"sqlite:///{tmp_path / 'portal.sqlite3'}")
    db.forget_engines()
    invitation = accounts.invite_officer("nordic-telco", "dpo@nordic-telco.example", "admin", "test")
    officer = accounts.accept_invitation(invitation, "telco-dpo", "correct horse battery staple", "test")
    end = DAY + dt.timedelta(days=2)
    command = ["contracts", "backfill", approved.id, "--date", str(DAY), "--end", str(end), "--supplier",
               "nordic-telco", "--reason", "the 3 March run failed"]
    registered = load_registry().get("nordic-telco").approvers[0]["name"]
    assert main([*command, "--approver", registered]) == 2  # a typed name, even a registered one
    assert "a typed name is not an identity" in capsys.readouterr().err
    monkeypatch.delenv("CDE_APPROVER_TOKEN", raising=False)
    assert main(command) == 1 and "CDE_APPROVER_TOKEN is not set" in capsys.readouterr().err
    assert backfill_approvals() == {}
    monkeypatch.setenv("CDE_APPROVER_TOKEN", accounts.issue_approver_token(officer, "test", 1, "test"))
    assert main(command) == 0
    db.forget_engines()
    delivery = compile_delivery(approved, DAY, end)
    assert delivery.backfill["approver"] == "telco-dpo <dpo@nordic-telco.example>"
    assert delivery.backfill["approved_as"] == "officer" and delivery.backfill["reason"] == "the 3 March run failed"
    with pytest.raises(WindowRefused):  # only the approved window
        compile_delivery(approved, DAY, DAY + dt.timedelta(days=3))
