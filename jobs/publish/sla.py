"""Missed deliveries: each contract's latency SLA (ODCS ``slaProperties``) against what reached the outbox.

A contract's schedule fires at local time F and delivers the local days since its previous fire; the
delivery is due at F plus the contract's ``latency`` (``slaProperties``: ``{property: latency, value: 8,
unit: h}``). A delivery is on time when its manifest's ``created_at`` is before that, late when after, and
missed when no manifest covers the window once it is due.

Two ways a miss is seen, both from the outbox, so a run that never started (a paused DAG, a scheduler that
was down) counts as well as one that failed or ran late:

- Airflow: the hourly ``delivery_sla`` DAG (:func:`jobs.airflow.tasks.check_delivery_sla`) records and mails
  each new miss and fails while any delivery of the last 7 days is missed. (Airflow 3.3's ``DeadlineAlert``
  on the publish DAGs was tried: ``dag.test()`` then fails with a ``StatementError`` on ``deadline_alert``,
  and it would not see runs that were never queued.)
- ``cde audit deliveries``: :func:`delivery_states` for every contract; ``--alert`` records and mails.

The clock is the lake's (:func:`lake_clock`): a lake the simulator made (its marker) has no real time, so
``cde audit deliveries`` and the portal judge it at the end of its simulated days (the day after the last one
closes, when every delivery of those days is due), each delivery counted as made at its run's logical time.
On any lake, windows starting before its first ingested day are not due: nothing could have been delivered.

Alerts are JSON lines in ``lake/ops/sla_alerts.jsonl`` (one per contract and delivery window: recording a
known miss again is a no-op). Each is e-mailed to the contract's supplier contacts (``roles``) and
``CDE_ALERT_EMAIL`` (comma-separated) through Airflow's SMTP provider (connection ``smtp_default``, e.g.
``AIRFLOW_CONN_SMTP_DEFAULT=smtp://mail.example:587``); when no mail can be sent the alert is still logged
and recorded, and its ``email`` field says why.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from jobs.common import lake, paths, settings, tables
from jobs.common.storage import append_line, read_json_lines
from jobs.contracts import Contract, latency

log = logging.getLogger("cde.sla")

@dataclasses.dataclass(frozen=True)
class LakeClock:
    """When a lake's deliveries are judged: ``now`` (aware), whether it is a simulated world's clock, and the
    sentence saying so."""

    now: dt.datetime
    simulated: bool
    note: str


def lake_clock() -> LakeClock:
    """The lake's clock: the real time, or on a simulated lake the start of the second day after its last
    simulated day (every delivery of those days is due by then: latencies are under a day)."""
    marker = paths.simulation(paths.SIMULATION_MARKER)
    if paths.is_simulated_lake():
        try:
            run = json.loads(marker.read_text())
            last = dt.date.fromisoformat(run["start"]) + dt.timedelta(days=int(run["days"]) - 1)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s: not a readable simulation marker (%s); judging by the real clock", marker, exc)
        else:
            now = dt.datetime.combine(last + dt.timedelta(days=2), dt.time(), tzinfo=settings.LOCAL_TZ)
            return LakeClock(now, True, f"the simulated world's clock: {now.isoformat(timespec='minutes')}, after "
                             f"its simulated days {run['start']} to {last} (a delivery counts as made at its "
                             "run's logical time)")
    return LakeClock(dt.datetime.now(dt.UTC), False, "")


def first_ingested_day() -> dt.date | None:
    """The first local day any feed was ingested (``ops/ingest_runs``), or None on a lake with no ingest."""
    if not tables.INGEST_RUNS.exists():
        return None
    runs = lake.read_arrow(tables.INGEST_RUNS.path()).select(["event_date", "status"]).to_pylist()
    days = [r["event_date"] for r in runs if r["status"] == "succeeded" and r["event_date"] is not None]
    return min(days) if days else None


def due_windows(contract: Contract, since: dt.datetime, until: dt.datetime) -> list[dict[str, Any]]:
    """The deliveries the schedule asked for between ``since`` and ``until`` (aware datetimes).

    Returns
    -------
    list of dict
        ``fired_at``, ``due_at`` (aware, local time; ``due_at`` is None without a latency SLA),
        ``window_start`` and ``window_end`` (local dates ``[start, end)``), oldest first.
    """
    from croniter import croniter

    sla = latency(contract.document)
    fires = croniter(contract.schedule, since.astimezone(settings.LOCAL_TZ))
    windows = []
    while (fired := fires.get_next(dt.datetime)) <= until:
        previous = croniter(contract.schedule, fired).get_prev(dt.datetime)
        windows.append({"fired_at": fired, "due_at": fired + sla if sla else None,
                        "window_start": previous.date(), "window_end": fired.date()})
    return windows


def delivered(contract: Contract) -> dict[dt.date, dict[str, Any]]:
    """The contract's deliveries in the outbox by first local day: delivery id and ``created_at``."""
    found = {}
    for path in (paths.outbox(contract.buyer, contract.id)).glob("*/manifest.json"):
        try:
            manifest = json.loads(path.read_text())
            start = dt.datetime.fromisoformat(manifest["window_start"]).date()
            found[start] = {"delivery_id": manifest["delivery_id"],
                            "created_at": dt.datetime.fromisoformat(manifest["created_at"])}
        except (OSError, ValueError, KeyError) as exc:  # a damaged manifest is not a delivery
            log.warning("%s: not a readable manifest (%s)", path, exc)
    return found


def delivery_states(contracts: list[Contract], now: dt.datetime | None = None,
                    days: int = 7) -> list[dict[str, Any]]:
    """Every delivery the schedules asked for in the last ``days`` days, with its state.

    Parameters
    ----------
    contracts : list of Contract
        The contracts to check (those without a latency SLA are listed with state ``no SLA`` when missing).
    now : datetime, optional
        Aware time to check at (default: the lake's clock, :func:`lake_clock`; on a simulated lake a delivery
        then counts as made at its run's logical time).
    days : int
        How far back to look.

    Returns
    -------
    list of dict
        One row per contract and window: ``contract_id``, ``window_start``, ``window_end``, ``due_at``,
        ``delivery_id``, ``created_at`` and ``state``: ``on time``, ``late``, ``missed``, ``not yet due``
        or ``not delivered`` (no SLA to miss).
    """
    simulated = now is None and lake_clock().simulated
    now = now or lake_clock().now
    first_day = first_ingested_day()
    rows = []
    for contract in contracts:
        made = delivered(contract)
        for window in due_windows(contract, now - dt.timedelta(days=days), now):
            if first_day and window["window_start"] < first_day:
                continue  # before the lake's first data: nothing could be delivered, nothing is due
            got = made.get(window["window_start"])
            due = window["due_at"]
            if got:
                on_time = due is None or simulated or got["created_at"] <= due
                state = "on time" if on_time else "late"
            elif due is None:
                state = "not delivered"
            else:
                state = "missed" if now > due else "not yet due"
            rows.append({"contract_id": contract.id, "window_start": window["window_start"],
                         "window_end": window["window_end"], "due_at": due,
                         "delivery_id": got["delivery_id"] if got else None,
                         "created_at": got["created_at"] if got else None, "state": state})
    return rows


def alerts_path() -> Path:
    """``lake/ops/sla_alerts.jsonl``."""
    return paths.ops_file("sla_alerts.jsonl")


def read_alerts() -> list[dict[str, Any]]:
    """Every recorded SLA alert, oldest first."""
    return read_json_lines(alerts_path())


def _recipients(contract: Contract) -> list[str]:
    """The supplier-side contacts of the contract plus ``CDE_ALERT_EMAIL`` (comma-separated)."""
    people = [role.get("email") for role in contract.document.get("roles") or []
              if isinstance(role, dict) and str(role.get("role", "")).startswith("supplier") and role.get("email")]
    extra = settings.setting("CDE_ALERT_EMAIL")
    return sorted(set(people + extra))


def _mail(contract: Contract, subject: str, body: str) -> str:
    """Send the alert through Airflow's SMTP provider; return what happened (for the record)."""
    return send_mail(_recipients(contract), subject, body)


def send_mail(to: list[str], subject: str, body: str) -> str:
    """Send a plain-text message through Airflow's SMTP provider (connection ``smtp_default``).

    Never raises: returns what happened, for the record (``sent to ...`` or ``not sent: <why>``).
    """
    if not to:
        return "not sent: no recipients"
    try:
        from html import escape

        from airflow.providers.smtp.hooks.smtp import SmtpHook

        with SmtpHook(smtp_conn_id="smtp_default") as hook:
            hook.send_email_smtp(to=to, subject=subject, html_content=f"<pre>{escape(body)}</pre>",
                                 from_email=settings.setting("CDE_ALERT_FROM"))
        return f"sent to {', '.join(to)}"
    except Exception as exc:  # no connection configured, or the server refused: what it reports still stands
        if "connection is not found" in str(exc) or type(exc).__name__ == "AirflowNotFoundException":
            # mail is not set up here (a demo, a laptop): a setup state, no fault
            log.warning("e-mail %r not sent: no SMTP connection smtp_default is configured", subject)
            return "not sent: no SMTP connection smtp_default is configured"
        log.error("e-mail %r not sent: %s", subject, exc)
        return f"not sent: {type(exc).__name__}: {exc}"


def record_alert(contract: Contract, window_start: dt.date, window_end: dt.date, due_at: dt.datetime | None,
                 source: str) -> dict[str, Any] | None:
    """Log, record and mail one missed delivery; return the alert, or None if it was recorded before."""
    if any(a["contract_id"] == contract.id and a["window_start"] == window_start.isoformat()
           for a in read_alerts()):
        return None
    due = due_at.isoformat() if due_at else "its deadline"
    message = (f"delivery of {contract.id} for local dates {window_start} to {window_end} (exclusive) missed its "
               f"latency SLA: due {due}, nothing in outbox/{contract.buyer}/{contract.id}")
    log.error("SLA missed: %s", message)
    alert = {"contract_id": contract.id, "buyer": contract.buyer, "window_start": window_start.isoformat(),
             "window_end": window_end.isoformat(), "due_at": due_at.isoformat() if due_at else None,
             "raised_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "source": source,
             "message": message}
    alert["email"] = _mail(contract, f"[CDE] missed delivery: {contract.id} {window_start}", message)
    append_line(alerts_path(), json.dumps(alert))
    return alert


def check_deadlines(contracts: list[Contract], now: dt.datetime | None = None, days: int = 7,
                    source: str = "cde audit deliveries") -> list[dict]:
    """Record an alert for every missed delivery of the last ``days`` days not alerted yet; return them."""
    by_id = {c.id: c for c in contracts}
    raised = []
    for row in delivery_states(contracts, now, days):
        if row["state"] == "missed":
            alert = record_alert(by_id[row["contract_id"]], row["window_start"], row["window_end"], row["due_at"],
                                 source)
            raised += [alert] if alert else []
    return raised
