"""Tamper evidence: ``cde audit ledger`` fails (exit 1) on a deleted tail, a truncated log and an edited row.

The chain is keyed with a secret derived from the master key, the ledger's Delta history must hold only
appends, and every release log row and manifest anchors the ledger head it saw.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json

import pyarrow as pa
import pytest

from jobs.cli import main
from jobs.common import lake, tables
from jobs.privacy import ledger, ledger_chain

BASE = ledger.Spend(
    contract_id="c1", contract_version="1.0.0", release_id="r", sources=("telco",), unit="person",
    window_start=dt.date(2026, 3, 2), window_end=dt.date(2026, 3, 3), epsilon=1.0, delta=0.0, rho=0.5,
    mechanism="geometric", sensitivity=12, budget_epsilon_per_period=10.0,
)


@pytest.fixture
def ledger_with_anchors(lake_root):
    """Three spends, each anchored by a release log row, as the release engine writes them."""
    for day in (2, 3, 4):
        start = dt.date(2026, 3, day)
        row = ledger.record_spend(dataclasses.replace(BASE, release_id=f"r{day}", window_start=start,
                                                      window_end=start + dt.timedelta(days=1)))
        tables.RELEASE_LOG.append([{"release_id": f"r{day}", "ledger_entry_id": row["entry_id"],
                                    "contract_id": "c1", "contract_version": "1.0.0", "plan": "{}",
                                    "inputs": "{}", "stages": "[]", "rows": 1, "gold_version": 0,
                                    "created_at": dt.datetime.now(dt.UTC), "ledger_seq": row["seq"],
                                    "ledger_head": row["row_hash"]}])
    return ledger.ledger_path()


def _audit(capsys) -> tuple[int, str]:
    code = main(["audit", "ledger"])
    return code, capsys.readouterr().out


def test_an_intact_ledger_verifies(ledger_with_anchors, capsys):
    code, out = _audit(capsys)
    assert code == 0 and "3 anchors" in out and "FAIL" not in out


def test_a_deleted_tail_fails(ledger_with_anchors, capsys):
    kept = ledger.read_entries().iloc[:-1]
    lake.overwrite_arrow(ledger_with_anchors, pa.Table.from_pandas(kept, schema=ledger.SCHEMA, preserve_index=False))
    assert ledger.verify_chain() == 2  # the chain alone still verifies: only the anchors and history notice
    code, out = _audit(capsys)
    assert code == 1
    assert "ops/releases r4: anchors ledger seq 2, which the ledger no longer holds" in out
    assert "the ledger only ever appends" in out


def test_a_truncated_log_fails(ledger_with_anchors, capsys):
    log = sorted((ledger_with_anchors / "_delta_log").glob("*.json"))
    log[-1].unlink()  # the last commit is gone: the table reads as one version older
    assert len(ledger.read_entries()) == 2
    code, out = _audit(capsys)
    assert code == 1 and "seq 2, which the ledger no longer holds" in out


def test_an_edited_row_fails_even_with_its_hash_recomputed_without_the_key(ledger_with_anchors, capsys):
    entries = ledger.read_entries()
    edited = entries.copy()
    edited.loc[1, "epsilon"] = 0.1  # give budget back
    row = {k: ledger_chain.plain(v) for k, v in edited.iloc[1].to_dict().items() if k != "row_hash"}
    edited.loc[1, "row_hash"] = hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()
    lake.overwrite_arrow(ledger_with_anchors, pa.Table.from_pandas(edited, schema=ledger.SCHEMA,
                                                                   preserve_index=False))
    code, out = _audit(capsys)
    assert code == 1 and "fails the keyed hash chain" in out


def test_a_ledger_made_under_another_key_fails(ledger_with_anchors, capsys, monkeypatch):
    from jobs.common import settings

    monkeypatch.setenv("CDE_PSEUDONYM_KEY", "another-master-key-of-at-least-32-bytes")
    code = main(["audit", "ledger"])
    assert code == 1 and "not the key this lake was built with" in capsys.readouterr().err
    # With the lake's key fingerprint removed, a key is never accepted unproven: the ledger shows the lake
    # was built under one (and the chain would say this key is not the ledger's).
    (settings.lake_root() / "ops" / "pseudonym_key_fingerprint.json").unlink()
    code = main(["audit", "ledger"])
    err = capsys.readouterr().err
    assert code == 1 and "no key fingerprint" in err and "ledger/privacy_budget" in err, (code, err)
