"""Ending a contract: no further release, its sharing access revoked, its deliveries deleted after retention.

``cde contracts end <id>`` (or ``status: retired`` in the contract file) ends a contract. From then on:

- ``publish`` refuses it (``ContractEnded``) before anything is planned or spent, and no publish DAG is
  generated for it (the DAG processor drops ``publish_<id>``, so the scheduler stops it);
- its product leaves the Delta Sharing catalog, and the buyer's sharing token is revoked when no other
  live contract of that buyer remains (a token is per buyer);
- ``purge_ended`` (run by ``cde retention``) deletes its outbox deliveries and its ``gold/<id>`` product
  table once ``retention_days`` have passed since the end. Audit reports and the ledger stay: they are the
  evidence of what was released.

Endings are recorded in ``lake/ops/contract_endings.json``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from jobs.common import paths, tables
from jobs.common.locks import exclusive
from jobs.common.storage import remove_tree, write_atomic
from jobs.contracts.endings import agreement_over, ended_contracts, endings_path, is_ended
from jobs.publish.portfolio import load_contracts
from jobs.publish.recipients import revoke


def _write(endings: dict[str, dict[str, Any]]) -> None:
    write_atomic(endings_path(), json.dumps(endings, indent=2, sort_keys=True))


def end_contract(contract, by: str, reason: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """End a contract: record it, revoke the buyer's sharing token if it has no other live contract.

    Parameters
    ----------
    contract : Contract
        The contract to end (its newest valid version).
    by : str
        Who ends it (recorded).
    reason : str
        Why (recorded).
    now : datetime, optional
        The instant of the ending (UTC); now by default.

    Returns
    -------
    dict
        The ending record, with ``tokens_revoked``.
    """
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    with exclusive("contract-endings"):
        endings = ended_contracts()
        if contract.id in endings:
            return endings[contract.id]
        record = {"ended_at": now.isoformat(), "by": by, "reason": reason, "buyer": contract.buyer,
                  "retention_days": contract.retention_days,
                  "delete_after": (now + dt.timedelta(days=contract.retention_days)).isoformat(), "purged_at": None}
        endings[contract.id] = record
        _write(endings)
    contracts, _ = load_contracts()
    others = [c for c in contracts.values() if c.buyer == contract.buyer and c.id != contract.id
              and not is_ended(c)]
    record["tokens_revoked"] = 0 if others else revoke(contract.buyer, because=f"contract {contract.id} ended")
    return record


def end_past_agreement(contract) -> dict[str, Any] | None:
    """Record the ending of a contract whose agreement is over (as ``cde contracts end`` would: sharing
    revoked, files deleted after its retention); None when its agreement still runs. Publishing and the daily
    contracts check call it, so access stops when the agreement ends."""
    if not agreement_over(contract):
        return None
    return end_contract(contract, by="agreement end", reason=f"its agreement ended on {contract.agreement_end}")


def purge_ended(now: dt.datetime | None = None) -> dict[str, dict[str, Any]]:
    """Delete the deliveries and product table of every ended contract past its retention; keep audits.

    Returns
    -------
    dict
        Contract id to what was deleted (folders and the table), for contracts purged by this call.
    """
    now = now or dt.datetime.now(dt.UTC)
    purged = {}
    with exclusive("contract-endings"):
        endings = ended_contracts()
        for contract_id, record in endings.items():
            if record.get("purged_at") or dt.datetime.fromisoformat(record["delete_after"]) > now:
                continue
            outbox = paths.outbox(record["buyer"], contract_id)
            gold = tables.product(contract_id).path()
            deliveries = sorted(p.name for p in outbox.iterdir()) if outbox.exists() else []
            remove_tree(outbox)
            remove_tree(gold)
            record["purged_at"] = now.replace(microsecond=0).isoformat()
            record["deleted_deliveries"] = deliveries
            purged[contract_id] = {"deliveries": deliveries, "gold_table": str(gold)}
        if purged:
            _write(endings)
    return purged
