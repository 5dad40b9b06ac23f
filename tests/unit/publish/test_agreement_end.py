"""A contract's agreement ends it (issue 33, item 3): after ``agreement_end`` nothing more is published, and
the contract is recorded as ended as ``cde contracts end`` would record it."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from jobs.common import settings
from jobs.contracts import ContractError, ended_contracts, is_ended
from jobs.errors import ContractEnded
from jobs.publish.delivery import compile_delivery, require_within_agreement
from jobs.publish.portfolio import load_contract

DAY = dt.date(2026, 3, 3)


def _with_end(tmp_path, monkeypatch, end: str):
    folder = tmp_path / "contracts"
    shutil.copytree(settings.REPO_ROOT / "contracts", folder)
    monkeypatch.setenv("CDE_CONTRACTS", str(folder))
    path = folder / "kk-inner-city-presence.yaml"
    path.write_text(path.read_text().replace("  - {property: channel, value: outbox}",
                                             f"  - {{property: agreement_end, value: '{end}'}}\n"
                                             "  - {property: channel, value: outbox}"))
    return path


def test_a_contract_past_its_agreements_end_is_not_published_and_is_ended(lake_root, tmp_path, monkeypatch):
    yesterday = dt.datetime.now(settings.LOCAL_TZ).date() - dt.timedelta(days=1)
    contract = load_contract(_with_end(tmp_path, monkeypatch, yesterday.isoformat()))
    assert contract.agreement_end == yesterday
    with pytest.raises(ContractEnded, match=f"its agreement ended on {yesterday}"):
        compile_delivery(contract, DAY)  # the first step of every publish, before approvals or any spend
    ending = ended_contracts()[contract.id]
    assert ending["by"] == "agreement end" and str(yesterday) in ending["reason"]
    with pytest.raises(ContractEnded, match="ended"):  # and it stays ended
        compile_delivery(contract, DAY)
    assert is_ended(contract)


def test_the_daily_contracts_check_ends_a_contract_whose_agreement_is_over(lake_root, tmp_path, monkeypatch):
    """The policy monitor: access stops when the agreement ends, not at the contract's next publish."""
    from jobs.airflow.tasks import contracts_health

    yesterday = dt.datetime.now(settings.LOCAL_TZ).date() - dt.timedelta(days=1)
    contract = load_contract(_with_end(tmp_path, monkeypatch, yesterday.isoformat()))
    assert contract.id not in ended_contracts()
    checked = contracts_health()
    assert checked["agreements_ended"] == [contract.id]
    assert ended_contracts()[contract.id]["by"] == "agreement end"
    assert contracts_health()["agreements_ended"] == []  # recorded once


def test_a_window_after_the_end_is_refused_while_the_agreement_runs(lake_root, tmp_path, monkeypatch):
    contract = load_contract(_with_end(tmp_path, monkeypatch, "2026-03-02"))
    with pytest.raises(ContractEnded, match="agreement ended on 2026-03-02"):
        require_within_agreement(contract, DAY, today=dt.date(2026, 3, 2))
    require_within_agreement(contract, dt.date(2026, 3, 2), today=dt.date(2026, 3, 2))  # its last day is delivered
    assert contract.id not in ended_contracts()  # not past the end yet: nothing recorded


def test_an_agreement_end_that_is_not_a_date_is_named(tmp_path, monkeypatch):
    with pytest.raises(ContractError, match="customProperties.agreement_end"):
        load_contract(_with_end(tmp_path, monkeypatch, "2026-02-30"))
