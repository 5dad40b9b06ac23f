"""``cde audit record <contract>``: the GDPR Art. 30 record of processing of one contract.

Written to ``lake/audit/<contract_id>/record_of_processing.json`` and ``.html`` (self-contained).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from jobs.common import paths, settings
from jobs.contracts import Contract, legal_basis_words, load_registry
from jobs.ingest.feeds import get_feed
from jobs.ingest.retention import DEFAULT_DAYS
from jobs.privacy import get_measure, plan_for
from jobs.publish.pages import render_page


def _bound_texts(contract: Contract) -> dict[str, str]:
    """Each metric's contribution bound in words."""
    return {m: get_measure(m).bounder.from_bounds(contract.bounds).text() for m in contract.metrics}


def _units(contract: Contract) -> dict[str, str]:
    """Each metric's privacy unit (``device-network`` for wifi; several units count against each cap)."""
    import datetime as dt

    day = dt.date(2026, 3, 2)
    return {m: plan_for(contract, m, day, day + dt.timedelta(days=1)).unit for m in contract.metrics}


def record_of_processing(contract: Contract) -> dict[str, Any]:
    """The Art. 30(1) record of a contract: who, why, what, to whom, how long, and which safeguards."""
    registry = load_registry()
    return {
        "record": "GDPR Art. 30 record of processing",
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "contract": {"id": contract.id, "version": contract.version, "name": contract.name},
        "controllers": [{"supplier": s, "name": registry.get(s).name,
                         "sources": [x for x in contract.sources if x in registry.get(s).sources],
                         "contact": registry.get(s).contact, "dpo": registry.get(s).dpo,
                         "approvers": [dict(a) for a in registry.get(s).approvers]}
                        for s in contract.suppliers],
        "processor": "City Data Exchange pipeline operator (processes the suppliers' data on their behalf)",
        "purpose": contract.purpose,
        "legal_basis": contract.legal_basis,
        "legal_basis_text": legal_basis_words(contract.legal_basis),
        "categories_of_data_subjects": {s: get_feed(s).data_subjects for s in contract.sources},
        "categories_of_personal_data": {s: get_feed(s).personal_data for s in contract.sources},
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
            *(f"contribution bounding for {metric}: {text}" for metric, text in _bound_texts(contract).items()),
            *(f"privacy unit of the {metric} release: {unit}" for metric, unit in _units(contract).items()),
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
    """The record as one self-contained HTML page (template ``record.html.j2``)."""
    return render_page("record.html.j2", record=record)


def write_record(contract: Contract) -> dict[str, str]:
    """Write ``record_of_processing.json`` and ``.html`` for a contract; return their paths."""
    record = record_of_processing(contract)
    folder = paths.audit_dir(contract.id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "record_of_processing.json").write_text(json.dumps(record, indent=2))
    (folder / "record_of_processing.html").write_text(render_record_html(record), encoding="utf-8")
    return {"json": str(folder / "record_of_processing.json"), "html": str(folder / "record_of_processing.html")}
