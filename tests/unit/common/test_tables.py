"""A damaged operations table is one line naming it and what to do, never a Delta kernel trace."""

from __future__ import annotations

import datetime as dt

import pytest

from jobs.common import tables
from jobs.errors import StorageFault


@pytest.mark.parametrize("table", [tables.INGEST_RUNS, tables.CONTRACT_APPROVALS, tables.RELEASE_LOG])
def test_a_damaged_log_is_a_storage_fault_naming_the_table(lake_root, table):
    row = {name: None for name in table.schema.names}
    row.update({k: v for k, v in {"run_id": "r1", "feed": "telco", "event_date": dt.date(2026, 3, 2),
                                  "status": "succeeded", "release_id": "x", "contract_id": "c"}.items()
                if k in row})
    table.append([row])
    (commit,) = sorted((table.path() / "_delta_log").glob("*.json"))[-1:]
    commit.write_text('{"add": {"path": "part-0.parquet", trun')  # cut off mid-write
    with pytest.raises(StorageFault) as refused:
        table.read_arrow()
    message = str(refused.value)
    assert message.startswith(f"{table.qualified}: the Delta table at ") and "restore its _delta_log" in message
    assert len(message.splitlines()) == 1
    with pytest.raises(StorageFault, match=table.qualified):
        table.append([row])


def test_a_damaged_ledger_log_is_named_by_cde_audit_ledger(lake_root, capsys):
    from jobs.cli import main
    from jobs.privacy import ledger

    ledger.record_spend(ledger.Spend(
        contract_id="c1", contract_version="1.0.0", release_id="r", sources=("telco",), unit="person",
        window_start=dt.date(2026, 3, 2), window_end=dt.date(2026, 3, 3), epsilon=1.0, delta=0.0, rho=0.5,
        mechanism="geometric", sensitivity=1, budget_epsilon_per_period=3.0))
    commit = sorted((ledger.ledger_path() / "_delta_log").glob("*.json"))[-1]
    commit.write_text("{not json")
    code = main(["audit", "ledger"])
    err = capsys.readouterr().err
    assert code != 0 and "ledger/privacy_budget: the Delta table at" in err and "Traceback" not in err
