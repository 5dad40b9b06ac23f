"""A month under the schedule: every DAG for every simulated day, in one process, with ``dag.test()``.

Airflow's scheduler and ``airflow backfill`` would run the same DAGs, but here (2 cores, SQLite) each run
would wait on the scheduler loop; ``dag.test()`` runs a DAG's tasks in this process, in order, recording
the run in the metadata database like a scheduled run. For each local day D of the lead-in and the month:

1. ``ingest_<feed>`` for every feed (logical date D + 1 at local midnight: its interval is D);
2. ``aggregate_silver`` for D;
3. after the lead-in, ``publish_<contract>`` for every contract (logical date D + 1 at noon: the cron's
   latest complete interval is D), then retention counted from D + 1.

The report says, per day, the wall time and which deliveries were due, made or refused (and why), and at the
end the ledger's largest spend in any 30-day window per contract and per privacy-unit class against its cap,
and what retention removed. Used by ``bench/month_run.py`` (the month) and a slow test (lead-in + 3 days).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from jobs.common import paths, settings
from jobs.common.settings import LOCAL_TZ
from jobs.errors import ReleaseRefused
from jobs.ingest.feeds import supplied_feeds
from jobs.ingest.retention import apply_retention
from jobs.privacy import CONTRACT_KINDS, in_class, ledger_entries, plan_for, require_history, spent_in, unit_classes
from jobs.publish.delivery import delivery_id
from jobs.publish.portfolio import load_contracts

log = logging.getLogger(__name__)


def _refusals_since(seq: int) -> list[dict[str, Any]]:

    entries = ledger_entries()
    rows = entries[(entries["seq"] > seq) & (entries["kind"] == "refusal")]
    return [{"contract_id": r["contract_id"], "message": r["message"]} for r in rows.to_dict("records")]


def _last_seq() -> int:

    entries = ledger_entries()
    return int(entries["seq"].max()) if len(entries) else -1


def _why_not(contract, day: dt.date, following: dt.date) -> str:
    """Why a due delivery was not made: a history refusal (segment look-back, key rotation) when that is it."""
    try:
        for metric in contract.metrics:
            require_history(plan_for(contract, metric, day, following))
    except ReleaseRefused as exc:
        return str(exc)
    return "the publish run failed (see its Airflow task log)"


def window_maxima(period_days: int = settings.ACCOUNTING_PERIOD_DAYS) -> dict[str, Any]:
    """The ledger's largest epsilon and delta in any window of ``period_days`` days: per contract (against
    its budget, uses of shared releases included) and per privacy-unit class (against the global caps)."""

    entries = ledger_entries()
    counted = entries[entries["kind"].isin(CONTRACT_KINDS)]
    if counted.empty:
        return {"contracts": {}, "classes": {}}
    first = min(counted["window_start"]) - dt.timedelta(days=period_days + 14)
    last = max(counted["window_end"])
    windows = [(first + dt.timedelta(days=i), first + dt.timedelta(days=i + period_days))
               for i in range((last - first).days)]
    contracts = {}
    for cid in sorted(counted["contract_id"].unique()):
        mine = counted[counted["contract_id"] == cid]
        contracts[cid] = max(spent_in(mine, w)[0] for w in windows)
    spends = counted[counted["kind"] == "spend"]
    classes = {}
    for cls in sorted({c for u in spends["unit"] for c in unit_classes(u)}):
        same = in_class(spends, cls)
        eps = max(spent_in(same, w)[0] for w in windows)
        delta = max(spent_in(same, w)[1] for w in windows)
        classes[cls] = {"epsilon": eps, "epsilon_cap": settings.epsilon_cap(cls), "delta": delta,
                        "delta_cap": settings.GLOBAL_DELTA_CAP}
    return {"contracts": contracts, "classes": classes}


def run_month(start: dt.date, lead_in: int, days: int, dagbag, on_day: Callable[[dict], None] | None = None,
              retention_days: dict[str, int] | None = None) -> dict[str, Any]:
    """Run every DAG for local days ``start .. start + lead_in + days - 1`` (see the module docstring).

    Parameters
    ----------
    start : datetime.date
        First simulated day (already simulated into the landing folders).
    lead_in : int
        Days ingested and aggregated before the first delivery (the segment look-back).
    days : int
        Days with deliveries after the lead-in.
    dagbag : airflow DagBag
        The project's DAGs.
    on_day : callable, optional
        Called with each day's report as it finishes (progress for long runs).
    retention_days : dict, optional
        Days kept per layer (``jobs.ingest.retention.DEFAULT_DAYS`` by default).

    Returns
    -------
    dict
        ``days`` (one report per day), ``window_maxima`` and ``retention`` (the last day's).
    """
    first_day = min(d.start_date for d in dagbag.dags.values()).date()
    if start < first_day:  # a DAG run before its start date has no tasks: it would "succeed" doing nothing
        raise ValueError(f"the month starts {start}, before the DAGs' start date {first_day}")
    publish_dags = sorted(d for d in dagbag.dags if d.startswith("publish_"))
    contracts, _ = load_contracts()
    reports, retention = [], {}
    for offset in range(lead_in + days):
        day = start + dt.timedelta(days=offset)
        following = day + dt.timedelta(days=1)
        started, seq = time.monotonic(), _last_seq()
        states = {}
        for feed in supplied_feeds():  # the feeds with an ingest DAG
            run = dagbag.dags[f"ingest_{feed}"].test(logical_date=dt.datetime.combine(following, dt.time(),
                                                                                      tzinfo=LOCAL_TZ))
            states[f"ingest_{feed}"] = run.state
        states["aggregate_silver"] = dagbag.dags["aggregate_silver"].test(run_conf={"date": day.isoformat()}).state
        due, made = [], []
        if offset >= lead_in:
            for dag_id in publish_dags:
                contract = contracts[dag_id.removeprefix("publish_")]
                due.append(contract.id)
                run = dagbag.dags[dag_id].test(logical_date=dt.datetime.combine(following, dt.time(12),
                                                                                tzinfo=LOCAL_TZ))
                states[dag_id] = run.state
                folder = (paths.outbox(contract.buyer, contract.id)
                          / delivery_id(contract, day, following))
                if run.state == "success" and (folder / "manifest.json").exists():
                    made.append(contract.id)
            retention = apply_retention(following, retention_days)
        not_made = {cid: _why_not(contracts[cid], day, following) for cid in due if cid not in made}
        report = {"day": day.isoformat(), "lead_in": offset < lead_in, "seconds": time.monotonic() - started,
                  "states": states, "due": due, "made": made, "not_made": not_made,
                  "refusals": _refusals_since(seq)}
        reports.append(report)
        if on_day:
            on_day(report)
    return {"days": reports, "window_maxima": window_maxima(), "retention": retention}


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The month's figures, for the bench's output and RESULTS.md."""
    month = [d for d in result["days"] if not d["lead_in"]]
    lead = [d for d in result["days"] if d["lead_in"]]
    due = sum(len(d["due"]) for d in month)
    made = sum(len(d["made"]) for d in month)
    refused = [(d["day"], r) for d in month for r in d["refusals"]]
    dark = [(d["day"], cid, why) for d in month for cid, why in d["not_made"].items()]
    lines = [
        f"days: {len(lead)} lead-in + {len(month)} with deliveries; deliveries due {due}, made {made}",
        f"time per day: lead-in {sum(d['seconds'] for d in lead) / max(len(lead), 1):.0f} s, with deliveries "
        f"{sum(d['seconds'] for d in month) / max(len(month), 1):.0f} s, total "
        f"{sum(d['seconds'] for d in result['days']) / 60:.1f} min",
        f"ledger refusals after the lead-in: {len(refused)}"
        + "".join(f"\n  {day} {r['contract_id']}: {r['message']}" for day, r in refused[:10]),
        f"deliveries not made: {len(dark)}"
        + (f" ({', '.join(sorted({cid for _, cid, _ in dark}))}, {dark[0][0]} to {dark[-1][0]}); first reason: "
           f"{dark[0][2]}" if dark else ""),
    ]
    for cls, figures in result["window_maxima"]["classes"].items():
        lines.append(f"ledger, most in any {settings.ACCOUNTING_PERIOD_DAYS} days ({cls}): epsilon "
                     f"{figures['epsilon']:.4g} of {figures['epsilon_cap']:g}, delta {figures['delta']:.3g} of "
                     f"{figures['delta_cap']:g}")
    for cid, eps in result["window_maxima"]["contracts"].items():
        lines.append(f"  {cid}: epsilon {eps:.4g} in its fullest window")
    removed = {name: figures.get("rows_deleted", figures.get("removed")) for name, figures in
               result["retention"].items()}
    lines.append("retention on the last day: " + json.dumps(removed, default=str)[:600])
    return lines
