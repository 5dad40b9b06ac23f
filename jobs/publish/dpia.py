"""A data protection impact assessment draft per contract (``cde audit dpia <contract>``, GDPR Art. 35).

Location data of a whole city's population at this scale needs a DPIA. The draft follows the structure of
the criteria the EDPB endorsed (WP248 rev.01, Annex 2): a systematic description of the processing, its
necessity and proportionality, the risks to people's rights and freedoms, the measures that address them,
and the views to seek. Its risks are those of WP29 Opinion 05/2014 on anonymisation (singling out,
linkability, inference) plus what the privacy guarantees do not cover (the audit's "what could go wrong").

Every figure is computed here from the contract, the feed specifications, the supplier registry, the release
plans, the year plan and the ledger; nothing is typed. What only the controller can know (the DPO's advice,
the people's views, the decision) is left as marked places to complete. Written to
``lake/audit/<contract>/dpia.json`` and ``dpia.html``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from jobs.common import paths, settings
from jobs.contracts import Contract, legal_basis_words
from jobs.ingest.feeds import get_feed
from jobs.privacy import PrivacyCost, contract_year, dropped_share_estimate, ledger_entries, plan_for, window_shapes
from jobs.publish.audit import composed_deliveries, privacy_in_words, what_could_go_wrong
from jobs.publish.pages import render_page
from jobs.publish.record import record_of_processing

#: what the officer must complete: the draft never pretends to know these
TO_COMPLETE = (
    "The DPO's advice (Art. 35(2)) and whether it was followed, with reasons.",
    "The views of the people concerned or their representatives (Art. 35(9)), or why they were not sought.",
    "Whether the residual risk is acceptable; if it stays high, prior consultation of the supervisory "
    "authority (Art. 36).",
    "The review date: a DPIA is reviewed when the processing changes (a new contract version, a new source).",
)


def _metric_figures(contract: Contract, window: tuple[dt.date, dt.date]) -> list[dict[str, Any]]:
    """Per metric, one delivery's figures in the schedule's largest window: bound, noise, interval, k in its
    unit, phantom figures, and the advice's dropped share where one was run."""
    found = []
    for metric in contract.metrics:
        plan = plan_for(contract, metric, *window)
        figures = plan.describe()
        domain = plan.domain_size()
        chance = plan.phantom_probability(contract.k) if domain else None
        found.append({
            "metric": metric, "unit": plan.unit, "bound": figures["bound"], "epsilon": plan.epsilon,
            "delta": plan.delta, "mechanism": plan.mechanism, "noise_scale": figures["noise_scale"],
            "ci95_half_width": figures["ci95_half_width"], "value_unit": plan.measure.value_unit,
            "k_statement": plan.k_statement(contract.k), "domain_keys": domain,
            "phantom_probability": chance, "expected_phantom_rows": chance * domain if domain else None,
            "dropped_share": dropped_share_estimate(plan, contract.id),
        })
    return found


def _ledger_figures(contract: Contract) -> dict[str, Any]:
    """What the ledger holds for the contract: releases spent, refused, and epsilon spent so far."""
    entries = ledger_entries()
    mine = entries[entries["contract_id"] == contract.id] if len(entries) else entries
    spends = mine[mine["kind"] == "spend"] if len(mine) else mine
    return {"releases_spent": int(len(spends)), "refusals": int((mine["kind"] == "refusal").sum()) if len(mine) else 0,
            "epsilon_spent": float(spends["epsilon"].sum()) if len(spends) else 0.0}


def dpia_of(contract: Contract) -> dict[str, Any]:
    """The DPIA draft of a contract as a document (sections of WP248's Annex 2), every figure computed."""
    record = record_of_processing(contract)
    window = window_shapes(contract.schedule, contract.bin_minutes)[0]  # the largest window the schedule makes
    metrics = _metric_figures(contract, window)
    year = contract_year(contract)
    plans = [plan_for(contract, m, *window) for m in contract.metrics]
    costs = [PrivacyCost(p.epsilon, p.delta, p.rho, p.mechanism) for p in plans]
    per_delivery = sum(p.epsilon for p in plans)
    in_window = max(1, int(min(year["max_epsilon_per_window"], contract.budget_epsilon_per_period)
                           / per_delivery + 1e-9)) if per_delivery else 1
    window_loss = composed_deliveries(costs, in_window)
    period = settings.ACCOUNTING_PERIOD_DAYS
    cap = settings.epsilon_cap(plans[0].unit.split("+")[0])
    threshold = metrics[0]["k_statement"]
    feeds = {s: get_feed(s) for s in contract.sources}
    return {
        "document": "Data protection impact assessment (draft)",
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "contract": {"id": contract.id, "version": contract.version, "name": contract.name,
                     "file_sha256": contract.sha256, "buyer": contract.buyer},
        "why_a_dpia": ("Systematic monitoring of people's movements across a city from telecom, wifi, camera and "
                       "transit data, at a large scale, with data of a location nature and matched across "
                       "sources: several of WP248's criteria at once (systematic monitoring, large scale, "
                       "matching datasets, innovative use), so Art. 35(1) requires an assessment."),
        "description": {
            "purpose": contract.purpose, "legal_basis": legal_basis_words(contract.legal_basis),
            "legal_basis_code": contract.legal_basis, "controllers": record["controllers"],
            "processor": record["processor"], "recipients": record["recipients"],
            "sources": {s: {"data_subjects": f.data_subjects, "personal_data": f.personal_data}
                        for s, f in feeds.items()},
            "product": (f"{', '.join(contract.metrics)} per H3 cell of resolution {contract.h3_resolution} and "
                        f"{contract.time_bin} bin in the contract's area, delivered on the schedule "
                        f"{contract.schedule!r} ({settings.LOCAL_TZ_NAME})"
                        + (f" until {contract.agreement_end}" if contract.agreement_end else "")),
            "retention": record["retention"],
            "assets": ["the lake (landing, quarantine, bronze, silver: personal data; gold and deliveries: "
                       "aggregates)", "the pseudonym key (outside the lake)", "the privacy budget ledger",
                       "the Airflow scheduler and the Spark jobs", "the Delta Sharing server and the portal"],
        },
        "necessity_and_proportionality": [
            f"Purpose specified in the contract and approved by each supplier's officer: {contract.purpose}",
            f"Lawfulness: {legal_basis_words(contract.legal_basis)}.",
            "Data minimised at ingest: identifiers replaced by keyed pseudonyms, places reduced to H3 cells, "
            "fields the product does not need dropped; records outside the region quarantined.",
            f"Storage limited: landing {settings.RETENTION_DAYS['landing']} days, quarantine "
            f"{settings.RETENTION_DAYS['quarantine']}, bronze {settings.RETENTION_DAYS['bronze']}, silver "
            f"{settings.RETENTION_DAYS['silver']} days; the delivered product {contract.retention_days} days.",
            "Only differentially private aggregates leave the exchange; no row describes a person.",
            "People's rights: the supplier's opt-out lists are honoured at ingest and deleted from stored tables "
            "(cde optout apply); access and erasure requests go to the controller, whose contact is above.",
            "No transfer outside the EU/EEA.",
        ],
        "metrics": metrics,
        "window": {"start": window[0].isoformat(), "end": window[1].isoformat(),
                   "note": "the largest window the schedule delivers (its figures are the worst case)"},
        "year": {"releases": year["releases"], "max_epsilon_per_window": year["max_epsilon_per_window"],
                 "budget": contract.budget_epsilon_per_period, "period_days": period, "global_cap": cap},
        "ledger": _ledger_figures(contract),
        "in_words": privacy_in_words(per_delivery, sum(p.delta for p in plans), window_loss,
                                     composed_deliveries(costs, max(1, year["releases"] // max(len(plans), 1))),
                                     cap, period),
        "risks": [
            {"risk": "Singling out (WP29 05/2014)",
             "measures": f"contribution bounds per person ({metrics[0]['bound']}); discrete noise at epsilon "
                         f"{per_delivery:g} per delivery; values below {threshold} suppressed after noise.",
             "residual": "Low for one delivery: no value depends on one person by more than the bound, and a "
                         "value of a few people is never released. Phantom rows: "
                         + ("; ".join(f"{m['metric']} {m['expected_phantom_rows']:.2f} expected per delivery"
                                      for m in metrics if m["expected_phantom_rows"] is not None)
                            or "none (keys come from the data)") + "."},
            {"risk": "Linkability (WP29 05/2014)",
             "measures": f"pseudonyms never leave the lake and link a person's records for at most "
                         f"{settings.KEY_ROTATION_DAYS} days; every release of every buyer is a ledger row before "
                         f"its noise is drawn, under a cap of epsilon {cap:g} in any {period} days.",
             "residual": f"Medium over time: {period} days of this contract spend up to epsilon "
                         f"{window_loss['epsilon']:.3g} ({window_loss['text']}); products outside this exchange "
                         "are not in its ledger."},
            *[{"risk": "Inference (WP29 05/2014)" if r["risk"].startswith("Inference") else r["risk"],
               "measures": r["covered_by"], "residual": r["not_covered"]}
              for r in what_could_go_wrong(per_delivery, window_loss["epsilon"], cap, period, threshold)],
        ],
        "measures": record["technical_and_organisational_measures"],
        "to_complete": list(TO_COMPLETE),
    }


def write_dpia(contract: Contract) -> dict[str, str]:
    """Write ``dpia.json`` and ``dpia.html`` under ``lake/audit/<contract>/``; return their paths."""
    document = dpia_of(contract)
    folder = paths.audit_dir(contract.id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dpia.json").write_text(json.dumps(document, indent=2, default=str))
    (folder / "dpia.html").write_text(render_page("dpia.html.j2", d=document), encoding="utf-8")
    return {"json": str(folder / "dpia.json"), "html": str(folder / "dpia.html")}
