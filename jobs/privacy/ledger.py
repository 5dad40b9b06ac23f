"""The privacy budget ledger: one append-only Delta table, ``ledger/privacy_budget``.

Every release records its spend (epsilon, delta, rho) before any noise is drawn, and a spend is never
given back. A spend is checked against

- the contract's ``budget_epsilon_per_period`` over every window of the accounting period's length, and
- the global caps on epsilon and on delta per person over every such window, summed over all releases of
  all contracts and sources (one person may be in every source); camera releases (event-level, no person)
  have their own cap.

A release covers local dates ``[window_start, window_end)``; it counts in every window it overlaps. The rules
are ``jobs/privacy/accounting.py`` (pure); the keyed hash chain is ``jobs/privacy/ledger_chain.py``; this
module is the Delta store and its atomic check-and-spend.

A shared release (one release serving several contracts, ``derived_from``) is charged to the global caps
once, by its ``spend`` row under the contract whose plan it is. Every other contract served by it records
a ``use`` row: the same epsilon and delta, counted against that contract's own budget (its buyer learns
that much) and never again against the global caps.
Check-and-spend is atomic under concurrent writers: the spend is committed against the ledger version the
check read, with no automatic retry, and a lost race redoes the read-check-write. A refusal is recorded as
a row too (spending nothing), so privacy officers see it. Each row carries the hash of the previous row;
``verify_chain`` detects an edited or deleted row.

Composition: the audited figures use basic composition (sums of epsilon and of delta); rho (zCDP) is
recorded beside them.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from typing import Any

import pandas as pd
import pyarrow as pa
from deltalake.exceptions import CommitFailedError

from jobs.common import lake, settings, tables
from jobs.errors import BudgetExceeded, LedgerTampered
from jobs.privacy.accounting import (
    CONTRACT_KINDS,
    Spend,
    budget_summary,
    check,
    contract_rows,
    find_use,
    in_class,
    spent_in,
    unit_classes,
    windows_touching,
    zcdp_epsilon,
)
from jobs.privacy.ledger_chain import GENESIS, new_row
from jobs.privacy.ledger_chain import verify_chain as verify_rows

__all__ = ["CONTRACT_KINDS", "GENESIS", "SCHEMA", "Spend", "check", "contract_rows", "find_use", "head", "in_class",
           "ledger_path", "precheck", "read_entries", "record_spend", "record_use", "spent_in", "summary",
           "unit_classes", "verify_chain", "verify_ledger", "windows_touching", "zcdp_epsilon"]

log = logging.getLogger(__name__)

SCHEMA = tables.LEDGER.schema
MAX_ATTEMPTS = 200


def ledger_path():
    """Folder of the ledger table (``tables.LEDGER``)."""
    return tables.LEDGER.path()


def read_entries(version: int | None = None) -> pd.DataFrame:
    """Return every ledger row (spends and refusals) ordered by ``seq``; empty when there is no ledger."""
    path = ledger_path()
    if not lake.exists(path):
        return SCHEMA.empty_table().to_pandas()
    return lake.read_arrow(path, version=version).to_pandas().sort_values("seq").reset_index(drop=True)


def verify_chain(entries: pd.DataFrame | None = None) -> int:
    """Check the stored ledger's hash chain (or these rows'); return the number of rows verified.

    Raises
    ------
    LedgerTampered
        A row's hash does not match its content, or a row does not point at its predecessor.
    """
    return verify_rows(read_entries() if entries is None else entries)


def head() -> dict[str, Any] | None:
    """The newest ledger row's ``seq`` and ``row_hash`` (the head that releases and manifests anchor)."""
    entries = read_entries()
    if entries.empty:
        return None
    last = entries.iloc[-1]
    return {"seq": int(last["seq"]), "hash": str(last["row_hash"])}


def _history_problems() -> list[str]:
    """The ledger's Delta history must hold only appends (after the empty table's creation)."""
    from deltalake import DeltaTable

    problems = []
    for commit in DeltaTable(str(ledger_path())).history():
        mode = (commit.get("operationParameters") or {}).get("mode")
        version = commit.get("version")
        if version == 0 and commit.get("operation") in ("WRITE", "CREATE TABLE"):
            continue
        if commit.get("operation") != "WRITE" or mode != "Append":
            problems.append(f"ledger version {version}: {commit.get('operation')} {mode or ''}".strip()
                            + " (the ledger only ever appends)")
    return problems


def verify_ledger(anchors: list[dict[str, Any]]) -> list[str]:
    """Every check of the ledger's integrity; return the failures (empty when it verifies).

    Parameters
    ----------
    anchors : list of dict
        Ledger heads recorded elsewhere (each with ``seq``, ``hash`` and ``where``): the release log's rows
        and the delivered manifests. A cut-off tail or a truncated log loses rows those anchors name.

    Returns
    -------
    list of str
        One line per failure: a broken keyed chain, a history that is not append-only, an anchor whose row
        is missing or different.
    """
    if not lake.exists(ledger_path()):
        return [f"{a['where']}: anchors ledger seq {a['seq']}, but there is no ledger" for a in anchors]
    entries = read_entries()
    problems = _history_problems()
    try:
        verify_chain(entries)
    except LedgerTampered as exc:
        problems.append(str(exc))
    hashes = dict(zip(entries["seq"].astype(int), entries["row_hash"], strict=True))
    for anchor in anchors:
        if anchor["seq"] not in hashes:
            problems.append(f"{anchor['where']}: anchors ledger seq {anchor['seq']}, which the ledger no longer "
                            f"holds ({len(entries)} rows): its tail was cut off or its log truncated")
        elif hashes[anchor["seq"]] != anchor["hash"]:
            problems.append(f"{anchor['where']}: anchors ledger seq {anchor['seq']} with another hash: the row "
                            "was rewritten")
    return problems


def _ensure_ledger(path) -> None:
    """Create the (empty) ledger table once, so every spend is an append checked against a read version.

    Concurrent creators may both commit an empty table version; that is harmless, unlike two first rows.
    """
    if lake.exists(path):
        return
    try:
        lake.create_arrow(path, SCHEMA.empty_table())
    except Exception:  # another process created it first
        if not lake.exists(path):
            raise


def record_spend(spend: Spend, note: str | None = None) -> dict[str, Any]:
    """Check and record a spend atomically; return the committed ledger row.

    Parameters
    ----------
    spend : Spend
        The release's cost.
    note : str, optional
        Kept in the row's ``message`` (e.g. that earlier spends of the same release stored no draw).

    Returns
    -------
    dict
        The ledger row written (``entry_id`` identifies the spend).

    Raises
    ------
    BudgetExceeded
        The spend does not fit; a ``refusal`` row was recorded and nothing was spent.
    """
    return _record(spend, "spend", note)


def record_use(use: Spend) -> dict[str, Any]:
    """Record that a contract is served by a shared release; return the ledger row (the stored one when
    this contract already used this release: a rerun counts once).

    Parameters
    ----------
    use : Spend
        The release's cost under the using contract's id and budget (``release_id`` of the shared release).

    Raises
    ------
    BudgetExceeded
        The use does not fit the contract's own budget; a ``refusal`` row was recorded.
    """
    return _record(use, "use")


def precheck(spend: Spend, kind: str = "spend") -> str | None:
    """Why ``spend`` would be refused now, or None (read-only: the atomic check is at recording)."""
    entries = read_entries()
    if kind == "use" and find_use(entries, spend.contract_id, spend.release_id) is not None:
        return None
    return check(entries, spend, kind=kind)


def _record(spend: Spend, kind: str, note: str | None = None) -> dict[str, Any]:
    path = ledger_path()
    _ensure_ledger(path)
    for attempt in range(MAX_ATTEMPTS):
        read_version = lake.version(path)
        entries = read_entries(read_version)
        verify_chain(entries)
        if kind == "use":
            existing = find_use(entries, spend.contract_id, spend.release_id)
            if existing is not None:
                return existing
        reason = check(entries, spend, kind=kind)
        row = new_row(entries, spend, "refusal" if reason else kind, reason or note)
        table = pa.Table.from_pylist([row], schema=SCHEMA)
        try:
            lake.append_arrow(path, table, max_commit_retries=0, read_version=read_version)
        except CommitFailedError:
            time.sleep(random.uniform(0.01, 0.05) * min(attempt + 1, 10))  # jitter, not privacy noise
            continue
        if reason:
            log.warning("ledger refusal: %s", reason)
            raise BudgetExceeded(reason)
        log.info("ledger %s %s: contract %s release %s epsilon %g delta %g", kind, row["entry_id"],
                 spend.contract_id, spend.release_id, spend.epsilon, spend.delta)
        return row
    raise RuntimeError(f"ledger busy: no commit after {MAX_ATTEMPTS} attempts")


def summary(contract_id: str, budget_epsilon_per_period: float, window_start: dt.date, window_end: dt.date,
            unit: str = "person", period_days: int = settings.ACCOUNTING_PERIOD_DAYS,
            lookback_days: int = 0) -> dict[str, float]:
    """Spent and left figures for an audit from the stored ledger (``accounting.budget_summary``)."""
    return budget_summary(read_entries(), contract_id, budget_epsilon_per_period, window_start, window_end, unit,
                          period_days, lookback_days)
