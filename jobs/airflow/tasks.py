"""What Airflow tasks call: one function per stage, returning a small JSON-able summary.

DAG files stay thin and import nothing heavy at module level; each task imports this module when it runs.
Every function logs one summary line (rows in / out / quarantined, cells released / suppressed, epsilon).
Refusals that a retry cannot fix (a refused ingest, an exhausted budget, an invalid or unapproved contract)
fail the task at once instead of being retried (``final_errors``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from jobs.airflow.orchestration import AGGREGATED_FEEDS, SUPPLIED_AGGREGATED_FEEDS
from jobs.common import settings
from jobs.common.settings import LOCAL_TZ
from jobs.common.spark import get_spark
from jobs.contracts import ended_contracts
from jobs.errors import Refusal
from jobs.ingest import FEEDS
from jobs.privacy import budget_plan
from jobs.publish import sla
from jobs.publish.ending import end_past_agreement
from jobs.publish.portfolio import find_contract, load_contracts

log = logging.getLogger("cde.tasks")


@contextlib.contextmanager
def final_errors() -> Iterator[None]:
    """Turn refusals that retrying cannot fix into ``AirflowFailException`` (failed, no retries left).

    Infrastructure errors (a lost Spark executor, a commit conflict) still raise as they are and are retried.
    """
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except Refusal as exc:
        log.error("refused, not retried: %s: %s", type(exc).__name__, exc)
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


def _local_date(moment: Any) -> dt.date:
    return moment.astimezone(LOCAL_TZ).date()


def data_date(params: dict[str, Any], data_interval_start: Any) -> str:
    """Return the run's data date: the ``date`` param when given, else the local date (the region's time zone) of the
    data interval's start (daily DAGs use data-interval semantics in that zone)."""
    if params.get("date"):
        date = dt.date.fromisoformat(str(params["date"])).isoformat()
        how = "from the 'date' param"
    elif data_interval_start is None:
        raise ValueError("this run has no data interval and no 'date' param: pass date=YYYY-MM-DD")
    else:
        date = _local_date(data_interval_start).isoformat()
        how = f"local date of the data interval start {data_interval_start.isoformat()}"
    log.info("data date %s (%s)", date, how)
    return date


def landing_ready(feed: str, date: str) -> bool:
    """True when the supplier's landing folder of the date holds at least one file (sensor check)."""
    from jobs.ingest.runner import landing_files  # loads deltalake, numpy, pandas, pyarrow: only when called

    files = landing_files(feed, dt.date.fromisoformat(date))
    log.info("landing %s %s: %d files in %s", feed, date, len(files), settings.landing_path(feed, date))
    return bool(files)


def stage_feed(feed: str, date: str) -> dict[str, Any]:
    """Read, type-check, pseudonymise, locate and classify a feed's landing files; stage the batch."""
    from jobs.ingest.runner import stage_batch  # loads deltalake, numpy, pandas, pyarrow: only when called

    with final_errors():
        record = stage_batch(get_spark(f"cde-ingest-{feed}"), FEEDS[feed], dt.date.fromisoformat(date))
    log.info("stage %s %s: rows in %d, out %d, quarantined %d %s", feed, date, record["records_in"],
             record["accepted"], record["quarantined"], record["quarantined_by_reason"])
    return {k: record[k] for k in ("run_id", "staging", "records_in", "accepted", "quarantined",
                                   "quarantined_by_reason")}


def validate_feed(feed: str, staged: dict[str, Any]) -> dict[str, Any]:
    """Validate a staged batch with the feed's Great Expectations suite (refused on a critical failure)."""
    import json

    from jobs.ingest.runner import validate_batch  # loads deltalake, numpy, pandas, pyarrow: only when called

    with final_errors():
        record = validate_batch(get_spark(f"cde-ingest-{feed}"), FEEDS[feed], staged["staging"])
    results = json.loads(record["expectations"])
    failed = [e for e in results if not e["success"]]
    log.info("validate %s %s: rows %d, expectations %d, failed %d (none critical); Data Docs %s", feed,
             record["event_date"], record["accepted"], len(results), len(failed), record["data_docs"])
    return {**staged, "expectations": len(results), "expectations_failed": len(failed),
            "data_docs": record["data_docs"]}


def commit_feed(feed: str, staged: dict[str, Any]) -> dict[str, Any]:
    """Commit a staged, validated batch to the date's bronze and quarantine partitions."""
    from jobs.ingest.runner import commit_batch  # loads deltalake, numpy, pandas, pyarrow: only when called

    with final_errors():
        record = commit_batch(get_spark(f"cde-ingest-{feed}"), FEEDS[feed], staged["staging"])
    return _ingest_summary(feed, record)


def _ingest_summary(feed: str, record: dict[str, Any]) -> dict[str, Any]:
    log.info("ingest %s %s: rows in %d, out %d, quarantined %d %s; bronze v%d", feed, record["event_date"],
             record["records_in"], record["accepted"], record["quarantined"], record["quarantined_by_reason"],
             record["bronze_version"])
    summary = {k: record[k] for k in ("run_id", "records_in", "accepted", "quarantined", "quarantined_by_reason",
                                      "bronze_version", "late_records")}
    return {"feed": feed, "date": str(record["event_date"]), **summary}


def ingest_feed(feed: str, date: str) -> dict[str, Any]:
    """Ingest one feed for one local date, all stages in one task (the one-shot ``cde_daily`` DAG)."""
    from jobs.ingest.runner import ingest  # loads deltalake, numpy, pandas, pyarrow: only when called

    with final_errors():
        record = ingest(get_spark(f"cde-ingest-{feed}"), FEEDS[feed], dt.date.fromisoformat(date))
    return _ingest_summary(feed, record)


def aggregation_work(events: Iterable[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Which (date, sources) an aggregation run rebuilds: from the triggering asset events, else the params.

    Parameters
    ----------
    events : iterable of dict
        The ``extra`` of each triggering bronze asset event (``feed`` and ``date``, set by ingest).
    params : dict
        Manual runs: ``date`` (required without events) and ``sources`` (default: every aggregated feed).

    Returns
    -------
    list of dict
        One ``{"date": ..., "sources": [...]}`` per local date, sorted by date.
    """
    by_date: dict[str, set[str]] = {}
    for extra in events:
        if extra.get("feed") in AGGREGATED_FEEDS and extra.get("date"):
            by_date.setdefault(dt.date.fromisoformat(extra["date"]).isoformat(), set()).add(extra["feed"])
    if not by_date:
        if not params.get("date"):
            raise ValueError("no triggering bronze asset events and no 'date' param: nothing to aggregate")
        sources = params.get("sources") or list(SUPPLIED_AGGREGATED_FEEDS)
        unknown = set(sources) - set(AGGREGATED_FEEDS)
        if unknown:
            raise ValueError(f"sources: {sorted(unknown)} are not aggregated (choose from {AGGREGATED_FEEDS})")
        by_date[dt.date.fromisoformat(str(params["date"])).isoformat()] = set(sources)
    work = [{"date": d, "sources": sorted(s)} for d, s in sorted(by_date.items())]
    log.info("aggregation work: %s", "; ".join(f"{w['date']} {','.join(w['sources'])}" for w in work))
    return work


def aggregate_date(date: str, sources: list[str] | None) -> dict[str, Any]:
    """Rebuild the silver tables of one local date (every ingested source when ``sources`` is None)."""
    from jobs.aggregate.silver import build_silver  # loads deltalake, numpy, pandas, pyarrow: only when called

    out = build_silver(get_spark("cde-aggregate"), dt.date.fromisoformat(date), tuple(sources) if sources else None)
    log.info("aggregate %s: rows in %s, out %s presence rows (sources %s)", date,
             {s: f"bronze v{i['bronze_version']}" for s, i in out.items()},
             sum(i["presence_rows"] for i in out.values()), ",".join(out))
    return {"date": date, "sources": sorted(out),
            "presence_rows": {s: i["presence_rows"] for s, i in out.items()},
            "bronze_versions": {s: i["bronze_version"] for s, i in out.items()}}


def _contracts_summary(valid: dict, invalid: dict[str, list[str]]) -> dict[str, Any]:
    for name, errors in invalid.items():
        log.error("contract %s is invalid:\n%s", name, "\n".join(errors))
    log.info("contracts: %d valid (%s), %d invalid files", len(valid), ", ".join(sorted(valid)), len(invalid))
    return {"valid": sorted(valid), "invalid": [e for errors in invalid.values() for e in errors]}


def check_contracts() -> dict[str, Any]:
    """Validate every contract file; return ``{"valid": [ids], "invalid": [error lines]}`` (logged)."""
    return _contracts_summary(*load_contracts())


def contracts_health() -> dict[str, Any]:
    """Fail (without retries) when any contract file is invalid, naming every error; log budget warnings.

    The budget plan (``jobs.privacy.planning``) warns when a contract's schedule holds more deliveries per
    accounting window than its budget pays for, or all contracts together exceed a global cap: the ledger
    will refuse those releases when they fall due.
    """
    from airflow.sdk.exceptions import AirflowFailException

    valid, invalid = load_contracts()
    checked = _contracts_summary(valid, invalid)
    # the policy monitor: a contract whose agreement has ended is ended now, not at its next publish
    checked["agreements_ended"] = [c.id for c in valid.values() if c.id not in ended_contracts()
                                   and end_past_agreement(c) is not None]
    for contract_id in checked["agreements_ended"]:
        log.warning("contract %s: its agreement has ended; recorded as ended (sharing revoked)", contract_id)
    checked["budget_warnings"] = budget_plan(valid.values())["warnings"] if valid else []
    for line in checked["budget_warnings"]:
        log.warning("budget plan: %s", line)
    if checked["invalid"]:
        raise AirflowFailException("invalid contracts (the last valid version of each stays in force; files "
                                   "without one get no publish DAG):\n" + "\n".join(checked["invalid"]))
    return checked


def check_delivery_sla(now: Any = None, days: int = 7) -> dict[str, Any]:
    """Record and mail an alert for each delivery that missed its latency SLA; fail while any is missed.

    ``now`` is the run's data interval end (default: now); every valid contract with a latency SLA is checked
    over the last ``days`` days (``jobs.publish.sla``).
    """
    from airflow.sdk.exceptions import AirflowFailException

    contracts = list(load_contracts()[0].values())
    now = now or dt.datetime.now(dt.UTC)
    states = sla.delivery_states(contracts, now, days)
    raised = sla.check_deadlines(contracts, now, days, source="Airflow delivery_sla")
    missed = [s for s in states if s["state"] == "missed"]
    counts = {state: sum(s["state"] == state for s in states) for state in sorted({s["state"] for s in states})}
    log.info("delivery SLA at %s: %s; %d new alert(s)", now, counts, len(raised))
    if missed:
        raise AirflowFailException("deliveries past their latency SLA (alerted once each, see ops/sla_alerts.jsonl):\n"
                                   + "\n".join(f"{s['contract_id']} {s['window_start']}..{s['window_end']} due "
                                                f"{s['due_at'].isoformat(timespec='minutes')}" for s in missed))
    return {"checked_at": str(now), "states": counts, "new_alerts": len(raised)}


def valid_contract_ids(only: str | None = None) -> list[str]:
    """Ids of the valid contracts in ``contracts/`` (or just ``only``); invalid ones are logged loudly."""
    ids = [i for i in check_contracts()["valid"] if only is None or i == only]
    if only and not ids:
        raise ValueError(f"no valid contract with id {only!r}")
    return ids


def publish_window(params: dict[str, Any], data_interval_start: Any, data_interval_end: Any) -> dict[str, str]:
    """The local dates ``[start, end)`` a publish run delivers.

    A scheduled run delivers the local days its data interval spans (a contract cron ``0 6 * * *`` gives the
    interval 06:00 D-1 -> 06:00 D, so day D-1); a manual run may name one day with the ``date`` param.
    """
    if params.get("date"):
        start = dt.date.fromisoformat(str(params["date"]))
        end = start + dt.timedelta(days=1)
    elif data_interval_start is None or data_interval_end is None:
        raise ValueError("this run has no data interval and no 'date' param: pass date=YYYY-MM-DD")
    else:
        start, end = _local_date(data_interval_start), _local_date(data_interval_end)
    if end <= start:
        raise ValueError(f"the data interval {data_interval_start} -> {data_interval_end} holds no whole local day")
    log.info("publish window: local dates %s to %s (exclusive)", start, end)
    return {"start": start.isoformat(), "end": end.isoformat()}


def _window_dates(window: dict[str, str]) -> list[dt.date]:
    start, end = dt.date.fromisoformat(window["start"]), dt.date.fromisoformat(window["end"])
    return [start + dt.timedelta(days=i) for i in range((end - start).days)]


def inputs_ready(contract_id: str, window: dict[str, str]) -> bool:
    """True when every source day a contract's release reads has been ingested and aggregated (sensor)."""
    from jobs.aggregate.silver import missing_inputs  # loads deltalake, numpy, pandas, pyarrow: only when called

    with final_errors():
        contract = find_contract(contract_id)
    missing = missing_inputs(_window_dates(window), contract.sources)
    log.info("inputs of %s for %s..%s: %s", contract_id, window["start"], window["end"],
             "ready" if not missing else f"waiting for {'; '.join(missing)}")
    return not missing


def publish_contract(contract_id: str, date: str, end: str | None = None) -> dict[str, Any]:
    """Release (or reuse) and deliver one contract's product for local dates ``[date, end)`` (one day)."""
    from jobs.publish.deliver import publish  # loads deltalake, numpy, pandas, pyarrow: only when called

    with final_errors():
        out = publish(get_spark("cde-publish"), find_contract(contract_id), dt.date.fromisoformat(date),
                      dt.date.fromisoformat(end) if end else None)
    log.info("publish %s %s: cells released %d, suppressed %d, epsilon %g; delivery %s", contract_id, date,
             out["released"], out["suppressed"], out["epsilon_spent"], out["outbox"])
    return {k: out[k] for k in ("delivery_id", "outbox", "audit", "released", "suppressed", "epsilon_spent")}
