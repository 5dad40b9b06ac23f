"""``cde audit record <contract>``: the GDPR Art. 30 record of processing of one contract.

Written to ``lake/audit/<contract_id>/record_of_processing.json`` and ``.html`` (self-contained).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from typing import Any

from jobs.common import settings
from jobs.ingest.retention import DEFAULT_DAYS
from jobs.publish.contracts import Contract

SUBJECTS = {"telco": "mobile network subscribers and roaming visitors (phones seen by the supplier's network)",
            "wifi": "wifi devices seen by the supplier's access points (one person may hold several)",
            "ticket": "public transport card holders",
            "camera": "none: cameras deliver counts without identity"}
DATA = {"telco": "pseudonymised subscriber id, event time, serving cell placed in H3, event type, home network (MCC)",
        "wifi": "pseudonymised device address, sighting times, access point placed in H3, signal strength, kind",
        "ticket": "pseudonymised card id, check-in/out times and stops placed in H3, mode, product",
        "camera": "counts in and out per camera and interval"}


def record_of_processing(contract: Contract) -> dict[str, Any]:
    """The Art. 30(1) record of a contract: who, why, what, to whom, how long, and which safeguards."""
    roles = contract.document.get("roles") or []
    return {
        "record": "GDPR Art. 30 record of processing",
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "contract": {"id": contract.id, "version": contract.version, "name": contract.name},
        "controllers": [{"supplier": r.get("supplier"), "contact": r.get("email"), "approver": r.get("name")}
                        for r in roles if r.get("role") == "supplier_approver"],
        "processor": "City Data Exchange pipeline operator (processes the suppliers' data on their behalf)",
        "purpose": contract.purpose,
        "legal_basis": contract.legal_basis,
        "categories_of_data_subjects": {s: SUBJECTS[s] for s in contract.sources},
        "categories_of_personal_data": {s: DATA[s] for s in contract.sources},
        "recipients": {"buyer": contract.buyer, "receives": "differentially private aggregates only (no personal data)",
                       "channel": contract.channel},
        "transfers_to_third_countries": "none",
        "retention": {"landing (raw supplier files)": f"{DEFAULT_DAYS['landing']} days after a successful ingest",
                      "quarantine": f"{DEFAULT_DAYS['quarantine']} days", "bronze": f"{DEFAULT_DAYS['bronze']} days",
                      "silver": f"{DEFAULT_DAYS['silver']} days",
                      "delivered product": f"{contract.retention_days} days (contract)"},
        "technical_and_organisational_measures": [
            "raw identifiers replaced at ingest by keyed HMAC-SHA-256 pseudonyms; keys rotate every "
            f"{settings.KEY_ROTATION_DAYS} days on local-day boundaries and never enter a table or a log",
            f"contribution bounding: at most {contract.max_cells_per_day} (cell, bin) pairs per person and day, "
            f"{contract.max_events_per_pair} events per pair, {contract.max_trips_per_day} trips per day",
            f"{contract.mechanism} noise with epsilon {contract.epsilon:g} per delivery"
            + (f" and delta {contract.delta:g}" if contract.delta else "")
            + f"; budget {contract.budget_epsilon_per_period:g} per {settings.ACCOUNTING_PERIOD_DAYS} days",
            f"global caps per person over every {settings.ACCOUNTING_PERIOD_DAYS}-day window: epsilon "
            f"{settings.GLOBAL_EPSILON_CAP:g}, delta {settings.GLOBAL_DELTA_CAP:g}, checked before any noise is drawn",
            f"values below k = {contract.k} after noise are suppressed",
            "hash-chained, append-only privacy budget ledger; audit report per delivery",
            "opt-outs honoured at ingest and deleted from stored tables; retention deletes and vacuums",
            "scans of every table, Data Docs, log and delivery for the landing files' identifiers",
        ],
    }


def render_record_html(record: dict[str, Any]) -> str:
    """The record as one self-contained HTML page."""
    def cell(value: Any) -> str:
        if isinstance(value, dict):
            items = "".join(f"<li><b>{html.escape(str(k))}</b>: {cell(v)}</li>" for k, v in value.items())
            return f"<ul>{items}</ul>"
        if isinstance(value, list):
            return "<ul>" + "".join(f"<li>{cell(v)}</li>" for v in value) + "</ul>"
        return html.escape(str(value))

    rows = "".join(f"<tr><th>{html.escape(k.replace('_', ' '))}</th><td>{cell(v)}</td></tr>"
                   for k, v in record.items() if k != "record")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(record['record'])}"
            "</title><style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:1000px}"
            "th{text-align:left;vertical-align:top;padding:6px;background:#f4f4f4;width:14rem}"
            "td{padding:6px;border-bottom:1px solid #ddd}</style></head><body>"
            f"<h1>{html.escape(record['record'])}: {html.escape(record['contract']['name'])}</h1>"
            f"<table>{rows}</table></body></html>\n")


def write_record(contract: Contract) -> dict[str, str]:
    """Write ``record_of_processing.json`` and ``.html`` for a contract; return their paths."""
    record = record_of_processing(contract)
    folder = settings.lake_root() / "audit" / contract.id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "record_of_processing.json").write_text(json.dumps(record, indent=2))
    (folder / "record_of_processing.html").write_text(render_record_html(record), encoding="utf-8")
    return {"json": str(folder / "record_of_processing.json"), "html": str(folder / "record_of_processing.html")}
