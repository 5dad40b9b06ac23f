"""Budget accounting: the rules by which spends add up, pure functions over ledger rows (no storage).

In the manner of PipelineDP's budget accountant: this module knows windows, classes, caps and sums; the
ledger (``jobs/privacy/ledger.py``) stores rows and makes check-and-spend atomic; the hash chain
(``jobs/privacy/ledger_chain.py``) makes rows tamper-evident.

- A release covers local dates ``[window_start, window_end)`` widened by its look-back; it counts in every
  window of ``ACCOUNTING_PERIOD_DAYS`` days it overlaps.
- A contract's ``spend`` and ``use`` rows count against its ``budget_epsilon_per_period``; ``spend`` rows
  count against the global caps of every privacy unit class of their unit (a ``use`` of a shared release
  is held there once already, under the spend).
- Composition: caps and budgets are checked on basic composition (sums of epsilon and of delta); the
  audited figures state a Rényi accountant's figure beside the sum where it is tighter
  (``jobs/privacy/composition.py``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import pandas as pd

from jobs.common import settings
from jobs.privacy.composition import Cost, composed

# Row kinds that count against a contract's own budget (refusals, draws and losses spend nothing).
CONTRACT_KINDS = ("spend", "use")
# A spend's outcome, recorded after it (zero cost): the hash of the draw it paid for, or that it drew nothing.
DRAW, LOST = "draw", "lost"
_OUTCOME = re.compile(r"^(?:draw of|lost:) spend ([0-9a-f]{32})\b")
_DRAW = re.compile(r"^draw of spend ([0-9a-f]{32}): (\d+) rows, sha256 ([0-9a-f]{64})$")


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


def draw_message(entry_id: str, rows: int, sha256: str) -> str:
    """The message of a ``draw`` row: the spend it settles, the stored rows' count and their hash."""
    return f"draw of spend {entry_id}: {rows} rows, sha256 {sha256}"


def lost_message(entry_id: str, why: str) -> str:
    """The message of a ``lost`` row: the spend it settles and why nothing of its draw is stored."""
    return f"lost: spend {entry_id} stored no draw; {why}"


def settled_by(entries: pd.DataFrame) -> dict[str, str]:
    """The entry id of every spend settled by a ``draw`` or ``lost`` row, with that row's kind."""
    if entries.empty:
        return {}
    outcomes = entries[entries["kind"].isin((DRAW, LOST))]
    return {m.group(1): kind for kind, message in zip(outcomes["kind"], outcomes["message"], strict=True)
            if (m := _OUTCOME.match(str(message or "")))}


def spends_not_lost(entries: pd.DataFrame, release_id: str) -> pd.DataFrame:
    """Spends of a release not recorded ``lost``: at most one may exist (one spend per release id)."""
    if entries.empty:
        return entries
    lost = [entry_id for entry_id, kind in settled_by(entries).items() if kind == LOST]
    spends = entries[(entries["kind"] == "spend") & (entries["release_id"] == release_id)]
    return spends[~spends["entry_id"].isin(lost)]


def draw_of(entries: pd.DataFrame, entry_id: str) -> dict[str, Any] | None:
    """The recorded draw of a spend (``seq``, ``rows``, ``sha256``), or None when none was recorded."""
    if entries.empty:
        return None
    for row in entries[entries["kind"] == DRAW].to_dict("records"):
        match = _DRAW.match(str(row["message"] or ""))
        if match and match.group(1) == entry_id:
            return {"seq": int(row["seq"]), "rows": int(match.group(2)), "sha256": match.group(3)}
    return None


def spend_of_row(row: dict[str, Any]) -> Spend:
    """The ``Spend`` a stored ledger row records (to write a zero-cost row about it)."""
    return Spend(contract_id=row["contract_id"], contract_version=row["contract_version"],
                 release_id=row["release_id"], sources=tuple(str(row["sources"]).split(",")), unit=row["unit"],
                 window_start=pd.Timestamp(row["window_start"]).date(),
                 window_end=pd.Timestamp(row["window_end"]).date(), epsilon=float(row["epsilon"]),
                 delta=float(row["delta"]), rho=float(row["rho"]), mechanism=row["mechanism"],
                 sensitivity=int(row["sensitivity"]), budget_epsilon_per_period=0.0,
                 lookback_days=int(row["lookback_days"] or 0))


def windows_touching(start: dt.date, end: dt.date, period_days: int) -> list[tuple[dt.date, dt.date]]:
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


def spent_in(entries: pd.DataFrame, window: tuple[dt.date, dt.date]) -> tuple[float, float]:
    if entries.empty:
        return 0.0, 0.0
    overlap = _overlapping(entries, window)
    return float(entries.loc[overlap, "epsilon"].sum()), float(entries.loc[overlap, "delta"].sum())


def contract_rows(entries: pd.DataFrame, contract_id: str) -> pd.DataFrame:
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
    windows = windows_touching(spend.window_start - dt.timedelta(days=spend.lookback_days), spend.window_end,
                                period_days)
    contract_spends = contract_rows(entries, spend.contract_id)
    classes = ([(unit, in_class(spends, unit), settings.epsilon_cap(unit)) for unit in unit_classes(spend.unit)]
               if kind == "spend" else [])
    for window in windows:
        label = f"{window[0].isoformat()} to {window[1].isoformat()}"
        used, _ = spent_in(contract_spends, window)
        if used + spend.epsilon > spend.budget_epsilon_per_period + 1e-12:
            return (f"contract {spend.contract_id}: budget_epsilon_per_period {spend.budget_epsilon_per_period:g} "
                    f"for the window {label}: spent {used:g}, left "
                    f"{max(spend.budget_epsilon_per_period - used, 0):g}, asked {spend.epsilon:g}")
        for unit, same_class, eps_cap in classes:
            g_eps, g_delta = spent_in(same_class, window)
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


def find_use(entries: pd.DataFrame, contract_id: str, release_id: str) -> dict[str, Any] | None:
    """The ``use`` row of a contract for a shared release, or None."""
    if entries.empty:
        return None
    rows = entries[(entries["kind"] == "use") & (entries["contract_id"] == contract_id)
                   & (entries["release_id"] == release_id)]
    return rows.iloc[0].to_dict() if not rows.empty else None


def budget_summary(entries: pd.DataFrame, contract_id: str, budget_epsilon_per_period: float,
                   window_start: dt.date, window_end: dt.date, unit: str = "person",
                   period_days: int = settings.ACCOUNTING_PERIOD_DAYS, lookback_days: int = 0) -> dict[str, float]:
    """Spent and left figures for an audit: the contract's and the global, in the fullest of the windows the
    ledger checks for these dates (widened by the release's look-back, as ``check`` does), so "left" is
    never overstated. A release over several units (wifi devices and people) reports the class with the
    least epsilon left (``unit_class``).

    ``global_composed`` is the worst window's loss by the Rényi accountant beside the basic sum
    (``composition.composed`` at the global delta cap plus the deltas partition selection spent there).
    """
    spends = entries[entries["kind"] == "spend"] if not entries.empty else entries
    contract = contract_rows(entries, contract_id)
    windows = windows_touching(window_start - dt.timedelta(days=lookback_days), window_end, period_days)
    contract_spent = max((spent_in(contract, w)[0] for w in windows), default=0.0)
    figures = [class_figures(in_class(spends, cls), cls, windows) for cls in unit_classes(unit)]
    binding = min(figures, key=lambda f: f["global_epsilon_left"])
    return {
        "contract_epsilon_spent": contract_spent,
        "contract_epsilon_budget": budget_epsilon_per_period,
        "contract_epsilon_left": max(budget_epsilon_per_period - contract_spent, 0.0),
        **binding,
        "period_days": period_days,
        "lookback_days": lookback_days,
    }


def class_figures(same_class: pd.DataFrame, unit: str, windows: list[tuple[dt.date, dt.date]]) -> dict[str, Any]:
    """Worst spent figures of one ledger class over the windows, and what is left under its caps."""
    worst: dict[str, Any] = {"global_epsilon_spent": 0.0, "global_delta_spent": 0.0, "global_rho_spent": 0.0,
                             "selection_delta_spent": 0.0, "global_composed": composed([], settings.GLOBAL_DELTA_CAP)}
    for window in windows:
        g_eps, g_delta = spent_in(same_class, window)
        worst["global_epsilon_spent"] = max(worst["global_epsilon_spent"], g_eps)
        worst["global_delta_spent"] = max(worst["global_delta_spent"], g_delta)
        if not same_class.empty:
            overlap = _overlapping(same_class, window)
            rho = float(same_class.loc[overlap, "rho"].sum())
            selection = float(same_class.loc[overlap & (same_class["mechanism"] == "geometric"), "delta"].sum())
            worst["global_rho_spent"] = max(worst["global_rho_spent"], rho)
            worst["selection_delta_spent"] = max(worst["selection_delta_spent"], selection)
            figure = composed(costs_of(same_class[overlap]), settings.GLOBAL_DELTA_CAP + selection)
            if figure["epsilon"] >= worst["global_composed"]["epsilon"]:
                worst["global_composed"] = figure
    eps_cap = settings.epsilon_cap(unit)
    return {
        **worst,
        "unit_class": unit,
        "global_epsilon_cap": eps_cap,
        "global_epsilon_left": max(eps_cap - worst["global_epsilon_spent"], 0.0),
        "global_delta_cap": settings.GLOBAL_DELTA_CAP,
        "global_delta_left": max(settings.GLOBAL_DELTA_CAP - worst["global_delta_spent"], 0.0),
    }


def costs_of(rows: pd.DataFrame) -> list[Cost]:
    """The privacy costs of ledger rows, for the Rényi accountant."""
    return [Cost(float(r["epsilon"]), float(r["delta"]), float(r["rho"]), str(r["mechanism"]))
            for r in rows.to_dict("records")]
