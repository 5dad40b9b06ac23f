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

One spend per release id: after a spend the release records its outcome, a ``draw`` row holding the stored
rows' count and sha256 (readers check the stored rows against it), or a ``lost`` row when nothing of the draw
was stored. A second spend of a release whose earlier spend is not recorded lost is refused
(``SpendConflict``).

Composition: caps and budgets are checked on basic composition (sums of epsilon and of delta); rho (zCDP) is
recorded beside them, and audits state a Rényi accountant's figure where it is tighter
(``jobs/privacy/composition.py``).
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
from jobs.errors import BudgetExceeded, LedgerTampered, SpendConflict
from jobs.privacy.accounting import (
    CONTRACT_KINDS,
    DRAW,
    LOST,
    Spend,
    budget_summary,
    check,
    contract_rows,
    draw_message,
    draw_of,
    find_use,
    in_class,
    lost_message,
    spend_of_row,
    spends_not_lost,
    spent_in,
    unit_classes,
    windows_touching,
)
from jobs.privacy.ledger_chain import GENESIS, chain_key, new_row
from jobs.privacy.ledger_chain import verify_chain as verify_rows

__all__ = ["CONTRACT_KINDS", "GENESIS", "SCHEMA", "Spend", "check", "contract_rows", "draw_of", "find_use", "head",
           "in_class", "ledger_path", "precheck", "read_entries", "record_draw", "record_lost", "record_spend",
           "record_use", "spent_in", "summary", "unit_classes", "spends_not_lost", "verify_chain", "verify_ledger",
           "windows_touching"]

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
    try:
        stored = lake.read_arrow(path, version=version)
    except Exception as exc:  # a damaged log: one line naming the ledger and what to do
        raise tables.LEDGER.damaged(exc) from exc
    return stored.to_pandas().sort_values("seq").reset_index(drop=True)


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
    chain_key()  # the master key is checked (and a new lake's fingerprint recorded) before the ledger exists
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


def record_draw(spend_row: dict[str, Any], rows: int, sha256: str) -> dict[str, Any]:
    """Record the draw a spend paid for (its stored rows' count and sha256); zero cost; return the row."""
    return _record(spend_of_row(spend_row), DRAW, draw_message(spend_row["entry_id"], rows, sha256))


def record_lost(spend_row: dict[str, Any], why: str) -> dict[str, Any]:
    """Record that a spend stored no draw (checked by the caller under the release's lock); zero cost. Only
    then may the release be spent again."""
    return _record(spend_of_row(spend_row), LOST, lost_message(spend_row["entry_id"], why))


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
        reason, refusal = _refusal(entries, spend, kind)
        row = new_row(entries, spend, "refusal" if reason else kind, reason or note)
        table = pa.Table.from_pylist([row], schema=SCHEMA)
        try:
            lake.append_arrow(path, table, max_commit_retries=0, read_version=read_version)
        except CommitFailedError:
            time.sleep(random.uniform(0.01, 0.05) * min(attempt + 1, 10))  # jitter, not privacy noise
            continue
        if reason:
            log.warning("ledger refusal: %s", reason)
            raise refusal(reason)
        log.info("ledger %s %s: contract %s release %s epsilon %g delta %g", kind, row["entry_id"],
                 spend.contract_id, spend.release_id, spend.epsilon, spend.delta)
        return row
    raise RuntimeError(f"ledger busy: no commit after {MAX_ATTEMPTS} attempts")


def _refusal(entries: pd.DataFrame, spend: Spend, kind: str) -> tuple[str | None, type[Exception]]:
    """Why a row of this kind may not be recorded, and the error to raise; (None, ...) when it may."""
    if kind in (DRAW, LOST):
        return None, BudgetExceeded
    open_spends = spends_not_lost(entries, spend.release_id) if kind == "spend" else entries.iloc[0:0]
    if len(open_spends):
        return (f"release {spend.release_id}: spend {open_spends['entry_id'].iloc[-1]} is not recorded lost; one "
                "spend per release id, so a second one is refused before any noise is drawn",
                SpendConflict)
    return check(entries, spend, kind=kind), BudgetExceeded


def summary(contract_id: str, budget_epsilon_per_period: float, window_start: dt.date, window_end: dt.date,
            unit: str = "person", period_days: int = settings.ACCOUNTING_PERIOD_DAYS,
            lookback_days: int = 0) -> dict[str, float]:
    """Spent and left figures for an audit from the stored ledger (``accounting.budget_summary``)."""
    return budget_summary(read_entries(), contract_id, budget_epsilon_per_period, window_start, window_end, unit,
                          period_days, lookback_days)
