"""Refusals: an unapproved contract version and a contract over its budget publish nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from jobs.common import lake, settings
from jobs.privacy import ledger

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]
DAY = dt.date(2026, 3, 2)


def test_unapproved_and_over_budget_contracts_publish_nothing(spark, lake_root, capsys):
    from jobs.aggregate.silver import build_silver
    from jobs.ingest.feeds.telco import SPEC
    from jobs.ingest.runner import ingest
    from jobs.publish.approvals import NotApproved, approve, missing_approvals
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract
    from jobs.simulate.main import run as simulate

    simulate(300, 2, DAY, seed=4, events_per_person=15, feeds=("telco",))
    for i in range(2):
        ingest(spark, SPEC, DAY + dt.timedelta(days=i), validate=False)
        build_silver(spark, DAY + dt.timedelta(days=i), ("telco",))
    contract = find_contract("kk-inner-city-presence")
    outbox = lake_root / "outbox" / contract.buyer / contract.id

    # Not approved: refused before anything is released, spent or delivered.
    with pytest.raises(NotApproved, match="nordic-telco"):
        publish(spark, contract, DAY)
    assert not outbox.exists() and not lake.exists(ledger.ledger_path())
    with pytest.raises(ValueError, match="not an approver"):
        approve(contract, "nordic-telco", "someone else", "simulated")
    approve(contract, "nordic-telco", "Privacy office", "simulated")
    assert missing_approvals(contract) == []
    # A new version needs new approvals.
    assert missing_approvals(dataclasses.replace(contract, version="1.1.0")) == ["nordic-telco"]

    # A budget for exactly one delivery: the second day's release is refused before noise is drawn.
    tight = dataclasses.replace(contract, budget_epsilon_per_period=contract.epsilon)
    first = publish(spark, tight, DAY)
    assert first["epsilon_spent"] == contract.epsilon
    with pytest.raises(ledger.BudgetExceeded, match=f"budget_epsilon_per_period {contract.epsilon:g} .* left 0, asked "
                                                   f"{contract.epsilon:g}"):
        publish(spark, tight, DAY + dt.timedelta(days=1))
    deliveries = sorted(p.name for p in outbox.iterdir())
    assert deliveries == [first["delivery_id"]]          # nothing in the outbox for the refused day
    entries = ledger.read_entries()
    assert entries["kind"].tolist() == ["spend", "draw", "refusal"]
    assert "left 0" in entries["message"].iloc[-1]
    releases = lake.read_arrow(settings.table_path("gold", "releases"))
    assert set(releases.column("release_id").to_pylist()) == {first["manifest"]["release_ids"][0]}

    # The privacy officer's ledger view shows the refusal and what is left.
    from jobs.cli import main

    assert main(["audit", "ledger"]) == 0
    view = capsys.readouterr().out
    assert "refusal" in view and "1 refusal(s)" in view and "left 0" in view


def test_a_new_contract_version_makes_a_new_delivery():
    from jobs.publish.delivery import delivery_id
    from jobs.publish.portfolio import find_contract

    contract = find_contract("kk-inner-city-presence")
    v1 = delivery_id(contract, DAY, DAY + dt.timedelta(days=1))
    v2 = delivery_id(dataclasses.replace(contract, version="1.1.0"), DAY, DAY + dt.timedelta(days=1))
    assert v1 != v2 and v1 == delivery_id(contract, DAY, DAY + dt.timedelta(days=1))
    assert "v1.1.0" in v2
