"""The ledger's keyed hash chain: each row carries the HMAC of its content and of the previous row's hash.

An edited, deleted or reordered row breaks the chain; the key is derived from the master key, so a row
cannot be rewritten with a hash that verifies. Pure over rows; the ledger (``jobs/privacy/ledger.py``)
stores them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import uuid
from typing import Any

import pandas as pd

from jobs.errors import LedgerTampered
from jobs.privacy.accounting import CONTRACT_KINDS, Spend

GENESIS = "0" * 64


def plain(value: Any) -> Any:
    """Make a value read back from Delta hash like the value written (numpy scalars, dates)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    return value.isoformat() if hasattr(value, "isoformat") else value


def chain_key() -> bytes:
    """The secret key of the hash chain, derived from the master key: without it no row can be rewritten
    with a hash that verifies."""
    from jobs.ingest.pseudonym import derived_key  # the key module reads the secrets folder: only on use

    return derived_key("cde-ledger-chain")


def _row_hash(row: dict[str, Any]) -> str:
    body = {k: plain(v) for k, v in row.items() if k != "row_hash"}
    return hmac.new(chain_key(), json.dumps(body, sort_keys=True, default=str).encode(), hashlib.sha256).hexdigest()


def verify_chain(entries: pd.DataFrame) -> int:
    """Check the hash chain; return the number of rows verified.

    Raises
    ------
    LedgerTampered
        A row's hash does not match its content, or a row does not point at its predecessor.
    """
    previous = GENESIS
    for expected_seq, row in enumerate(entries.to_dict("records")):
        row = {k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in row.items()}
        row["window_start"] = pd.Timestamp(row["window_start"]).date()
        row["window_end"] = pd.Timestamp(row["window_end"]).date()
        row["recorded_at"] = pd.Timestamp(row["recorded_at"]).to_pydatetime()
        if row["seq"] != expected_seq or row["prev_hash"] != previous or _row_hash(row) != row["row_hash"]:
            raise LedgerTampered(f"ledger row seq {row['seq']} (entry {row['entry_id']}) fails the keyed hash chain "
                                 "(edited, deleted or reordered rows, or a ledger written under another key)")
        previous = row["row_hash"]
    return len(entries)


def new_row(entries: pd.DataFrame, spend: Spend, kind: str, message: str | None) -> dict[str, Any]:
    seq = int(entries["seq"].max()) + 1 if not entries.empty else 0
    prev = entries["row_hash"].iloc[-1] if not entries.empty else GENESIS
    cost = spend if kind in CONTRACT_KINDS else dataclasses.replace(spend, epsilon=0.0, delta=0.0, rho=0.0)
    row = {
        "seq": seq, "entry_id": uuid.uuid4().hex, "kind": kind,
        "recorded_at": dt.datetime.now(dt.UTC).replace(microsecond=0),
        "contract_id": spend.contract_id, "contract_version": spend.contract_version,
        "release_id": spend.release_id, "sources": ",".join(spend.sources), "unit": spend.unit,
        "window_start": spend.window_start, "window_end": spend.window_end,
        "epsilon": float(cost.epsilon), "delta": float(cost.delta), "rho": float(cost.rho),
        "mechanism": spend.mechanism, "sensitivity": int(spend.sensitivity),
        "lookback_days": int(spend.lookback_days), "message": message,
        "prev_hash": prev,
    }
    row["row_hash"] = _row_hash(row)
    return row


