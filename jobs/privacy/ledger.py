"""The privacy budget ledger: one append-only Delta table, ``ledger/privacy_budget``.

Every release records its spend (epsilon, delta, rho) before any noise is drawn, and a spend is never
given back. A spend is checked against

- the contract's ``budget_epsilon_per_period`` over every window of the accounting period's length, and
- the global caps on epsilon and on delta per person over every such window, summed over all releases of
  all contracts and sources (one person may be in every source); camera releases (event-level, no person)
  have their own cap.

A release covers local dates ``[window_start, window_end)``; it counts in every window it overlaps.

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

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import math
import random
import time
import uuid
from typing import Any

import pandas as pd
import pyarrow as pa
from deltalake.exceptions import CommitFailedError

from jobs.common import lake, settings
from jobs.errors import BudgetExceeded, LedgerTampered

log = logging.getLogger(__name__)

SCHEMA = pa.schema([
    ("seq", pa.int64()), ("entry_id", pa.string()), ("kind", pa.string()),
    ("recorded_at", pa.timestamp("us", tz="UTC")),
    ("contract_id", pa.string()), ("contract_version", pa.string()), ("release_id", pa.string()),
    ("sources", pa.string()), ("unit", pa.string()),
    ("window_start", pa.date32()), ("window_end", pa.date32()),
    ("epsilon", pa.float64()), ("delta", pa.float64()), ("rho", pa.float64()),
    ("mechanism", pa.string()), ("sensitivity", pa.int64()), ("lookback_days", pa.int64()),
    ("message", pa.string()), ("prev_hash", pa.string()), ("row_hash", pa.string()),
])
GENESIS = "0" * 64
# Row kinds that count against a contract's own budget (refusals spend nothing).
CONTRACT_KINDS = ("spend", "use")
MAX_ATTEMPTS = 200


@dataclasses.dataclass(frozen=True)
class Spend:
    """One release's privacy cost.

    Attributes
    ----------
    contract_id, contract_version, release_id : str
        What is released, under which contract.
    sources : tuple of str
        Feeds whose people are in the release.
    unit : str
        ``person``, ``device-network`` (wifi) or ``event`` (cameras: event-level, own cap).
    window_start, window_end : datetime.date
        Local dates covered, ``[start, end)``.
    epsilon, delta, rho : float
        Cost per privacy unit over the whole release.
    mechanism : str
        Noise mechanism.
    sensitivity : int
        The L1 (geometric) or L2 (discrete Gaussian) bound the noise was scaled to.
    budget_epsilon_per_period : float
        The contract's budget per accounting window.
    lookback_days : int
        Days before ``window_start`` whose data reaches the release (anchors, segments): the release counts in
        every window that overlaps ``[window_start - lookback_days, window_end)``.
    """

    contract_id: str
    contract_version: str
    release_id: str
    sources: tuple[str, ...]
    unit: str
    window_start: dt.date
    window_end: dt.date
    epsilon: float
    delta: float
    rho: float
    mechanism: str
    sensitivity: int
    budget_epsilon_per_period: float
    lookback_days: int = 0


def ledger_path():
    """Folder of the ledger table."""
    return settings.table_path("ledger", "privacy_budget")


def read_entries(version: int | None = None) -> pd.DataFrame:
    """Return every ledger row (spends and refusals) ordered by ``seq``; empty when there is no ledger."""
    path = ledger_path()
    if not lake.exists(path):
        return SCHEMA.empty_table().to_pandas()
    return lake.read_arrow(path, version=version).to_pandas().sort_values("seq").reset_index(drop=True)


def _plain(value: Any) -> Any:
    """Make a value read back from Delta hash like the value written (numpy scalars, dates)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    return value.isoformat() if hasattr(value, "isoformat") else value


def _chain_key() -> bytes:
    """The secret key of the hash chain, derived from the master key: without it no row can be rewritten
    with a hash that verifies."""
    from jobs.ingest.pseudonym import derived_key

    return derived_key("cde-ledger-chain")


def _row_hash(row: dict[str, Any]) -> str:
    body = {k: _plain(v) for k, v in row.items() if k != "row_hash"}
    return hmac.new(_chain_key(), json.dumps(body, sort_keys=True, default=str).encode(), hashlib.sha256).hexdigest()


def verify_chain(entries: pd.DataFrame | None = None) -> int:
    """Check the hash chain; return the number of rows verified.

    Raises
    ------
    LedgerTampered
        A row's hash does not match its content, or a row does not point at its predecessor.
    """
    entries = read_entries() if entries is None else entries
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


def _windows_touching(start: dt.date, end: dt.date, period_days: int) -> list[tuple[dt.date, dt.date]]:
    """Every window of ``period_days`` local days that overlaps ``[start, end)``."""
    first = start - dt.timedelta(days=period_days - 1)
    count = (end - first).days
    return [(first + dt.timedelta(days=i), first + dt.timedelta(days=i + period_days)) for i in range(count)]


def _overlapping(entries: pd.DataFrame, window: tuple[dt.date, dt.date]) -> pd.Series:
    """Rows whose data (their dates widened by their look-back) overlaps the window."""
    lookback = pd.to_timedelta(entries["lookback_days"].fillna(0).astype(int), unit="D")
    starts = (pd.to_datetime(entries["window_start"]) - lookback).dt.date
    ends = pd.to_datetime(entries["window_end"]).dt.date
    return (starts < window[1]) & (ends > window[0])


def _spent_in(entries: pd.DataFrame, window: tuple[dt.date, dt.date]) -> tuple[float, float]:
    if entries.empty:
        return 0.0, 0.0
    overlap = _overlapping(entries, window)
    return float(entries.loc[overlap, "epsilon"].sum()), float(entries.loc[overlap, "delta"].sum())


def _contract_rows(entries: pd.DataFrame, contract_id: str) -> pd.DataFrame:
    """What counts against a contract's own budget: its spends and its uses of shared releases."""
    if entries.empty:
        return entries
    return entries[entries["kind"].isin(CONTRACT_KINDS) & (entries["contract_id"] == contract_id)]


def check(entries: pd.DataFrame, spend: Spend, period_days: int = settings.ACCOUNTING_PERIOD_DAYS,
          kind: str = "spend") -> str | None:
    """Return why ``spend`` must be refused given the ledger ``entries``, or None when it fits.

    Checks the contract budget over every window of ``period_days`` days the release overlaps and, for a
    ``spend`` (not a ``use`` of a shared release, which the global caps hold already), the global epsilon
    and delta caps.
    """
    spends = entries[entries["kind"] == "spend"] if not entries.empty else entries
    windows = _windows_touching(spend.window_start - dt.timedelta(days=spend.lookback_days), spend.window_end,
                                period_days)
    contract_spends = _contract_rows(entries, spend.contract_id)
    classes = ([(unit, in_class(spends, unit), settings.epsilon_cap(unit)) for unit in unit_classes(spend.unit)]
               if kind == "spend" else [])
    for window in windows:
        label = f"{window[0].isoformat()} to {window[1].isoformat()}"
        used, _ = _spent_in(contract_spends, window)
        if used + spend.epsilon > spend.budget_epsilon_per_period + 1e-12:
            return (f"contract {spend.contract_id}: budget_epsilon_per_period {spend.budget_epsilon_per_period:g} "
                    f"for the window {label}: spent {used:g}, left "
                    f"{max(spend.budget_epsilon_per_period - used, 0):g}, asked {spend.epsilon:g}")
        for unit, same_class, eps_cap in classes:
            g_eps, g_delta = _spent_in(same_class, window)
            if g_eps + spend.epsilon > eps_cap + 1e-12:
                return (f"contract {spend.contract_id}: global epsilon cap {eps_cap:g} per {unit} per {period_days} "
                        f"days for the window {label}: spent {g_eps:g}, left {max(eps_cap - g_eps, 0):g}, "
                        f"asked {spend.epsilon:g}")
            if g_delta + spend.delta > settings.GLOBAL_DELTA_CAP * (1 + 1e-9):
                return (f"contract {spend.contract_id}: global delta cap {settings.GLOBAL_DELTA_CAP:g} per {unit} "
                        f"per {period_days} days for the window {label}: spent {g_delta:g}, left "
                        f"{max(settings.GLOBAL_DELTA_CAP - g_delta, 0):g}, asked {spend.delta:g}")
    return None


def unit_classes(unit: str) -> list[str]:
    """The ledger classes of a release's unit (``device-network+person`` counts in both)."""
    return sorted(unit.split("+"))


def in_class(spends: pd.DataFrame, unit: str) -> pd.DataFrame:
    """The spends that count against one class's cap: every release whose unit includes it."""
    if spends.empty:
        return spends
    return spends[spends["unit"].map(lambda u: unit in unit_classes(u))]


def _new_row(entries: pd.DataFrame, spend: Spend, kind: str, message: str | None) -> dict[str, Any]:
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


def find_use(entries: pd.DataFrame, contract_id: str, release_id: str) -> dict[str, Any] | None:
    """The ``use`` row of a contract for a shared release, or None."""
    if entries.empty:
        return None
    rows = entries[(entries["kind"] == "use") & (entries["contract_id"] == contract_id)
                   & (entries["release_id"] == release_id)]
    return rows.iloc[0].to_dict() if not rows.empty else None


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
        row = _new_row(entries, spend, "refusal" if reason else kind, reason or note)
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
    """Spent and left figures for an audit: the contract's and the global, in the fullest of the windows the
    ledger checks for these dates (widened by the release's look-back, as ``check`` does), so "left" is
    never overstated. A release over several units (wifi devices and people) reports the class with the
    least epsilon left (``unit_class``).

    The tighter zCDP figure converts the summed rho at the global delta cap and adds the deltas spent by
    partition selection (geometric releases with a delta), stated as ``global_delta_zcdp``.
    """
    entries = read_entries()
    spends = entries[entries["kind"] == "spend"] if not entries.empty else entries
    contract = _contract_rows(entries, contract_id)
    windows = _windows_touching(window_start - dt.timedelta(days=lookback_days), window_end, period_days)
    contract_spent = max((_spent_in(contract, w)[0] for w in windows), default=0.0)
    figures = [_class_figures(in_class(spends, cls), cls, windows) for cls in unit_classes(unit)]
    binding = min(figures, key=lambda f: f["global_epsilon_left"])
    return {
        "contract_epsilon_spent": contract_spent,
        "contract_epsilon_budget": budget_epsilon_per_period,
        "contract_epsilon_left": max(budget_epsilon_per_period - contract_spent, 0.0),
        **binding,
        "period_days": period_days,
        "lookback_days": lookback_days,
    }


def _class_figures(same_class: pd.DataFrame, unit: str, windows: list[tuple[dt.date, dt.date]]) -> dict[str, Any]:
    """Worst spent figures of one ledger class over the windows, and what is left under its caps."""
    worst = {"global_epsilon_spent": 0.0, "global_delta_spent": 0.0, "global_rho_spent": 0.0,
             "selection_delta_spent": 0.0}
    for window in windows:
        g_eps, g_delta = _spent_in(same_class, window)
        worst["global_epsilon_spent"] = max(worst["global_epsilon_spent"], g_eps)
        worst["global_delta_spent"] = max(worst["global_delta_spent"], g_delta)
        if not same_class.empty:
            overlap = _overlapping(same_class, window)
            rho = float(same_class.loc[overlap, "rho"].sum())
            selection = float(same_class.loc[overlap & (same_class["mechanism"] == "geometric"), "delta"].sum())
            worst["global_rho_spent"] = max(worst["global_rho_spent"], rho)
            worst["selection_delta_spent"] = max(worst["selection_delta_spent"], selection)
    eps_cap = settings.epsilon_cap(unit)
    return {
        **worst,
        "unit_class": unit,
        "global_epsilon_cap": eps_cap,
        "global_epsilon_left": max(eps_cap - worst["global_epsilon_spent"], 0.0),
        "global_delta_cap": settings.GLOBAL_DELTA_CAP,
        "global_delta_left": max(settings.GLOBAL_DELTA_CAP - worst["global_delta_spent"], 0.0),
        # Tighter figure beside the basic one: zCDP rho converted at the global delta (DESIGN.md section 6).
        "global_epsilon_zcdp": zcdp_epsilon(worst["global_rho_spent"], settings.GLOBAL_DELTA_CAP),
        "global_delta_zcdp": settings.GLOBAL_DELTA_CAP + worst["selection_delta_spent"],
    }


def zcdp_epsilon(rho: float, delta: float) -> float:
    """(epsilon, delta) of a rho-zCDP total: ``epsilon = rho + 2 sqrt(rho ln(1/delta))``."""
    return rho + 2 * math.sqrt(rho * math.log(1 / delta)) if rho > 0 else 0.0
