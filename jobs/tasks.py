"""What Airflow tasks call: one function per stage, returning a small JSON-able summary.

DAG files stay thin and import nothing heavy at module level; each task imports this module when it runs.
Every function logs one summary line (rows in / out / quarantined, cells released / suppressed, epsilon).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from jobs.common.settings import LOCAL_TZ

log = logging.getLogger("cde.tasks")


def data_date(params: dict[str, Any], data_interval_start: Any) -> str:
    """Return the run's data date: the ``date`` param when given, else the local Copenhagen date of the
    data interval's start (daily DAGs use data-interval semantics in Europe/Copenhagen)."""
    if params.get("date"):
        return dt.date.fromisoformat(str(params["date"])).isoformat()
    if data_interval_start is None:
        raise ValueError("this run has no data interval and no 'date' param: pass date=YYYY-MM-DD")
    return data_interval_start.astimezone(LOCAL_TZ).date().isoformat()


def ingest_feed(feed: str, date: str) -> dict[str, Any]:
    """Ingest one feed for one local date; raises when the run is refused."""
    from jobs.common.spark import get_spark
    from jobs.ingest import FEEDS
    from jobs.ingest.runner import ingest

    record = ingest(get_spark(f"cde-ingest-{feed}"), FEEDS[feed], dt.date.fromisoformat(date))
    summary = {k: record[k] for k in ("run_id", "records_in", "accepted", "quarantined", "bronze_version")}
    summary["quarantined_by_reason"] = record["quarantined_by_reason"]
    log.info("ingest %s %s: rows in %d, out %d, quarantined %d %s", feed, date, record["records_in"],
             record["accepted"], record["quarantined"], record["quarantined_by_reason"])
    return summary


def aggregate_date(date: str, sources: list[str] | None) -> dict[str, Any]:
    """Rebuild the silver tables of one local date (every ingested source when ``sources`` is None)."""
    from jobs.aggregate.silver import build_silver
    from jobs.common.spark import get_spark

    out = build_silver(get_spark("cde-aggregate"), dt.date.fromisoformat(date), tuple(sources) if sources else None)
    for source, info in out.items():
        log.info("aggregate %s %s: rows in (bronze v%d), out %d presence rows", source, date,
                 info["bronze_version"], info["presence_rows"])
    return out


def valid_contract_ids(only: str | None = None) -> list[str]:
    """Ids of the valid contracts in ``contracts/`` (or just ``only``); invalid ones are logged loudly."""
    from jobs.publish.contracts import ContractError, contract_files, load_contract

    ids = []
    for path in contract_files():
        try:
            contract = load_contract(path)
        except ContractError as exc:
            log.error("contract %s is invalid and is skipped:\n%s", path.name, exc)
            continue
        if only is None or contract.id == only:
            ids.append(contract.id)
    if only and not ids:
        raise ValueError(f"no valid contract with id {only!r}")
    return sorted(set(ids))


def publish_contract(contract_id: str, date: str) -> dict[str, Any]:
    """Release (or reuse) and deliver one contract's product for one local date."""
    from jobs.common.spark import get_spark
    from jobs.publish.contracts import find_contract
    from jobs.publish.deliver import publish

    out = publish(get_spark("cde-publish"), find_contract(contract_id), dt.date.fromisoformat(date))
    log.info("publish %s %s: cells released %d, suppressed %d, epsilon %g", contract_id, date,
             out["released"], out["suppressed"], out["epsilon_spent"])
    return {k: out[k] for k in ("delivery_id", "outbox", "audit", "released", "suppressed", "epsilon_spent")}
