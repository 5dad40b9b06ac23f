"""A shared release on the simulated day: the derived contract (metro-od-market) publishes first and makes
its parent's (movia-od-market) release; the parent then reuses it. One spend and one draw, a use row for
the derived contract, identical values, and audits that say which release served whom."""

from __future__ import annotations

import datetime as dt
import shutil

import pandas as pd
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def shared_lake(simulated_day, tmp_path, monkeypatch):
    root = tmp_path / "lake"
    shutil.copytree(simulated_day.root, root)
    monkeypatch.setenv("CDE_LAKE", str(root))
    return simulated_day


def test_a_derived_contract_and_its_parent_share_one_spend_and_one_draw(spark, shared_lake):
    from jobs.common import lake, tables
    from jobs.privacy import ledger
    from jobs.privacy.release import plan_for, stored_release
    from jobs.publish.audit import read_audit
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract

    metro, movia = find_contract("metro-od-market"), find_contract("movia-od-market")
    plan = plan_for(movia, "od_trips", shared_lake.day, shared_lake.day + dt.timedelta(days=1))
    # The shared simulated day may hold the parent's release already (another module published it).
    made_before = stored_release(plan.release_id) is not None
    used_before = ledger.find_use(ledger.read_entries(), "metro-od-market", plan.release_id) is not None
    derived = publish(spark, metro, shared_lake.day)
    first = read_audit(derived["audit"]["json"])  # the rerun below rewrites this delivery's audit
    parent = publish(spark, movia, shared_lake.day)
    again = publish(spark, metro, shared_lake.day)  # a rerun: no new use, no new spend

    release_id = derived["manifest"]["release_ids"][0]
    assert parent["manifest"]["release_ids"] == [release_id] == again["manifest"]["release_ids"]
    assert derived["epsilon_spent"] == (0 if made_before else 0.25)
    assert parent["epsilon_spent"] == 0 == again["epsilon_spent"]
    entries = ledger.read_entries()
    mine = entries[entries["release_id"] == release_id]
    assert mine["kind"].tolist() == ["spend", "draw", "use"]
    assert mine["contract_id"].tolist() == ["movia-od-market", "movia-od-market", "metro-od-market"]
    log = lake.read_arrow(tables.RELEASE_LOG.path()).to_pandas()
    assert (log["release_id"] == release_id).sum() == 1  # noise drawn and stored once

    keys = ["origin_h3", "destination_h3", "bin_start"]
    a = pd.read_parquet(f"{derived['outbox']}/data.parquet").set_index(keys).sort_index()
    b = pd.read_parquet(f"{parent['outbox']}/data.parquet").set_index(keys).sort_index()
    assert len(a) == len(b) > 0
    assert a["value"].equals(b["value"]) and a["suppressed"].equals(b["suppressed"])  # same k, same values
    assert derived["manifest"]["derived_from"] == "movia-od-market"

    audit = read_audit(again["audit"]["json"])
    (entry,) = audit["releases"]
    assert entry["made_for_contract"] == "movia-od-market" and entry["use_recorded_before"] is True
    assert release_id in entry["shared"] and "charged to the global caps once" in entry["shared"]
    assert audit["privacy"]["epsilon_this_delivery"] == 0  # the use was recorded by the first delivery
    assert audit["privacy"]["budget"]["contract_epsilon_spent"] == 0.25
    assert "protected by differential privacy" in audit["privacy"]["k_protects"]
    assert first["privacy"]["epsilon_this_delivery"] == (0 if used_before else 0.25)
    parent_audit = read_audit(parent["audit"]["json"])
    assert parent_audit["privacy"]["releases_also_serve"] == ["metro-od-market"]
    page = open(again["audit"]["html"], encoding="utf-8").read()
    assert "shared release" in page and release_id in page
