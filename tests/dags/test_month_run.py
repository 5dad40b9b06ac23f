"""A short month under the schedule (13 days of lead-in and 3 days of deliveries across the pseudonym-key
rotation of 2026-06-06), every DAG per day with ``dag.test()``: every example delivery due is made, the
segment product goes dark after the rotation (its look-back may not cross it) and says why, the ledger stays
within every window's budget and cap, and retention removes the oldest days. The month itself:
``bench/month_run.py``."""

from __future__ import annotations

import datetime as dt
import shutil
import sys

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]
# After the DAGs' start date (2026-03-01): lead-in to 06-04; deliveries for 06-05, 06-06 (rotation) and 06-07.
START = dt.date(2026, 5, 23)


def test_a_short_month_delivers_everything_due_and_stays_within_the_caps(spark, airflow_db, lake_root, tmp_path,
                                                                         monkeypatch, capsys):
    from airflow.dag_processing.dagbag import DagBag

    from jobs.common import settings
    from jobs.contracts import contract_files
    from jobs.month_run import run_month, summary_lines
    from jobs.publish.approvals import approve_all
    from jobs.publish.portfolio import load_contract
    from jobs.simulate.main import run as simulate

    sys.path.insert(0, str(settings.REPO_ROOT / "bench"))
    from month_run import segment_contract

    folder = tmp_path / "contracts"
    shutil.copytree(settings.REPO_ROOT / "contracts", folder)
    segment_contract(folder)
    monkeypatch.setenv("CDE_CONTRACTS", str(folder))
    simulate(150, 16, START, seed=3, events_per_person=12)
    for path in contract_files():
        approve_all(load_contract(path))
    dagbag = DagBag(dag_folder=str(settings.REPO_ROOT / "dags"))
    result = run_month(START, 13, 3, dagbag, retention_days={"bronze": 10})
    with capsys.disabled():
        print("\n" + "\n".join(f"[month] {line}" for line in summary_lines(result)))

    month = [d for d in result["days"] if not d["lead_in"]]
    assert [d["day"] for d in month] == ["2026-06-05", "2026-06-06", "2026-06-07"]
    for day in month:
        assert not day["refusals"], day
        examples = [c for c in day["due"] if c != "kk-segments-bench"]
        assert len(examples) == 6 and set(examples) <= set(day["made"]), day
    # The segment product's 13-day look-back: delivered before the rotation, dark from it, and it says why.
    assert "kk-segments-bench" in month[0]["made"]
    for day in month[1:]:
        assert "key rotation of 2026-06-06" in day["not_made"]["kk-segments-bench"], day
    caps = result["window_maxima"]
    assert caps["classes"]["person"]["epsilon"] <= settings.GLOBAL_EPSILON_CAP
    for cid, eps in caps["contracts"].items():
        assert eps <= load_contract(folder / f"{cid}.yaml").budget_epsilon_per_period + 1e-9, cid
    bronze = result["retention"]["bronze/telco_events"]
    assert bronze["cutoff"] == "2026-05-29" and bronze["rows_deleted"] > 0
