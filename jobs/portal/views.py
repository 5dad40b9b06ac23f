"""What each role may see, as plain data for the pages and the API: every function takes the user and returns
only that user's share (a buyer's organisation, an officer's supplier). Reading never spends budget."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

from jobs.common import paths, settings, tables
from jobs.contracts import Contract, ended_contracts
from jobs.contracts.schedule import delivery_days
from jobs.ingest.event_quality import summary_lines
from jobs.portal.accounts import suppliers
from jobs.portal.db import User
from jobs.portal.offers import offer_rows, seed_offers
from jobs.publish.approvals import approval_identity, approvals_of, missing_approvals
from jobs.publish.portfolio import load_contracts

# the files of a delivery folder a buyer may download, beside the data files its manifest lists
PACKAGE_FILES = ("manifest.json", "datapackage.json", "README.md")


_LOADED: dict[str, Any] = {"key": None, "contracts": {}}
_LOADING = threading.Lock()


def _files_key() -> tuple:
    """What the valid contracts depend on: every file of the contracts folder (areas too) and the registries,
    by name, size and modification time (a few stat calls)."""
    folder = settings.contracts_dir()
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    files += [settings.supplier_registry_path(), settings.buyer_registry_path()]
    return tuple((str(p), st.st_size, st.st_mtime_ns) for p in files if (st := p.stat()))


def valid_contracts() -> dict[str, Contract]:
    """The valid contracts by id, loaded again only when a contract, area or registry file changed: loading
    and checking them all takes a tenth of a second, far more than a page."""
    key = _files_key()
    with _LOADING:
        if _LOADED["key"] != key:
            _LOADED.update(key=key, contracts=load_contracts()[0])
        return _LOADED["contracts"]


def contracts_of(user: User) -> list[Contract]:
    """The valid contracts a user may read: a buyer's organisation's, those reading an officer's supplier's
    data, every contract for operators and administrators."""
    contracts = sorted(valid_contracts().values(), key=lambda c: c.id)
    if user.role == "buyer":
        return [c for c in contracts if c.buyer == user.buyer_id]
    if user.role == "privacy_officer":
        return [c for c in contracts if user.supplier_id in c.suppliers]
    return contracts


def contract_of(user: User, contract_id: str) -> Contract | None:
    """One contract the user may read, or None (unknown and not theirs look the same)."""
    return next((c for c in contracts_of(user) if c.id == contract_id), None)


def deliveries(contract: Contract) -> list[dict[str, Any]]:
    """Every delivery of a contract in its buyer's outbox, newest window first, with its manifest's summary."""
    folder = paths.outbox(contract.buyer, contract.id)
    found = []
    if not folder.is_dir():
        return found
    for entry in folder.iterdir():
        manifest_path = entry / "manifest.json"
        if entry.name.startswith(".") or not manifest_path.is_file():
            continue
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            continue
        found.append({"delivery_id": entry.name, "contract_id": contract.id,
                      "window_start": manifest.get("window_start", ""), "window_end": manifest.get("window_end", ""),
                      "created_at": manifest.get("created_at", ""), "files": manifest.get("files", []),
                      "audit": (paths.audit_dir(contract.id) / f"{entry.name}.html").is_file()})
    return sorted(found, key=lambda d: (d["window_start"], d["created_at"]), reverse=True)


def delivery_file(user: User, contract_id: str, delivery_id: str, name: str) -> Path | None:
    """A file of one of the buyer's deliveries (a data file its manifest lists, or the package files), or
    None when the user may not have it or it does not exist."""
    contract = contract_of(user, contract_id)
    if contract is None or user.role != "buyer":
        return None
    folder = paths.outbox(contract.buyer, contract.id)
    listed = {d["delivery_id"]: d for d in deliveries(contract)}
    if delivery_id not in listed:
        return None
    allowed = set(PACKAGE_FILES) | {f.get("name") for f in listed[delivery_id]["files"]}
    if name not in allowed:
        return None
    path = folder / delivery_id / name
    return path if path.is_file() else None


def audit_file(user: User, contract_id: str, delivery_id: str, kind: str = "html") -> Path | None:
    """A delivery's published audit, for an officer of a supplier whose data the contract reads (and
    operators and administrators), or None."""
    if user.role not in ("privacy_officer", "operator", "administrator") or kind not in ("html", "json"):
        return None
    contract = contract_of(user, contract_id)
    if contract is not None and delivery_id == "dpia.html":  # the audit's link to the contract's DPIA draft
        path = paths.audit_dir(contract.id) / "dpia.html"
        return path if path.is_file() else None
    if contract is None or delivery_id not in {d["delivery_id"] for d in deliveries(contract)}:
        return None
    path = paths.audit_dir(contract.id) / f"{delivery_id}.{kind}"
    return path if path.is_file() else None


def ledger_rows(user: User) -> list[dict[str, Any]]:
    """The ledger rows of the contracts an officer's supplier's data serves (every row for an administrator),
    newest first; never another supplier's."""
    from jobs.privacy import ledger_entries  # only on this page: loads deltalake and pandas

    entries = ledger_entries()
    if entries.empty:
        return []
    if user.role != "administrator":
        allowed = {c.id for c in contracts_of(user)}
        entries = entries[entries["contract_id"].isin(allowed)]
    columns = [c for c in ("seq", "recorded_at", "kind", "contract_id", "release_id", "epsilon", "delta", "message")
               if c in entries.columns]
    return entries.sort_values("seq", ascending=False)[columns].to_dict("records")


def contract_review(contract: Contract, supplier: str | None) -> dict[str, Any]:
    """A contract in plain words for its officers: what it releases, to whom, why, at what privacy cost, with
    the year plan against its own budget and the global caps, each metric's accuracy and phantom figures,
    the live contracts that overlap its area (the differencing risk) and the approvals so far."""
    from jobs.privacy import contract_year, global_year  # only on this page: loads numpy

    year = contract_year(contract)
    everyone = [c for c in valid_contracts().values() if c.id not in ended_contracts() and c.status != "retired"]
    return {
        "contract": contract,
        "year": year,
        "own_monthly": global_year([contract]),
        "global_monthly": global_year(everyone),
        "metrics": metric_figures(contract),
        "overlaps": overlaps(contract, everyone, supplier),
        "approvals": [{**row, "identity": approval_identity(row)} for row in approvals_of(contract)],
        "missing": missing_approvals(contract),
        "sentence": (f"{contract.name}: {', '.join(contract.metrics)} at H3 resolution {contract.h3_resolution} per "
                     f"{contract.time_bin}, from {', '.join(contract.sources)} data, for {contract.buyer}; values "
                     f"below k = {contract.k} people (after noise) are suppressed; each delivery costs epsilon "
                     f"{year['epsilon_per_delivery']:g} per person, at most {contract.budget_epsilon_per_period:g} "
                     f"in any {settings.ACCOUNTING_PERIOD_DAYS} days."),
    }


def ingest_runs() -> list[dict[str, Any]]:
    """Every ingest run record, newest first (the operator's page)."""
    runs = tables.ingest_runs()
    if runs.empty:
        return []
    columns = [c for c in ("feed", "event_date", "status", "records_in", "accepted", "quarantined",
                           "quarantined_by_reason", "message", "started_at") if c in runs.columns]
    sort = [c for c in ("event_date", "started_at") if c in runs.columns]
    runs = runs.sort_values(sort, ascending=False)
    records = runs[columns].to_dict("records")
    for record, (_, run) in zip(records, runs.iterrows(), strict=True):
        record["notes"] = run_notes(run.get("extra_columns"), run.get("warnings"))
    return records


def run_notes(extra_columns: str | None, warnings: str | None) -> list[str]:
    """What an operator should see beside a run's counts: the columns ignored and the quality warnings."""
    notes = []
    ignored = json.loads(extra_columns) if isinstance(extra_columns, str) and extra_columns else []
    if ignored:
        notes.append("columns ignored (not in the feed's schema): " + ", ".join(ignored))
    if isinstance(warnings, str) and warnings:
        notes += summary_lines(json.loads(warnings))
    return notes


def silver_builds() -> list[dict[str, Any]]:
    """Every silver build per source and day, newest first (the operator's page)."""
    builds = tables.silver_builds()
    if builds.empty:
        return []
    columns = [c for c in ("source", "event_date", "built_at", "bronze_version", "presence_rows") if c in builds]
    return builds.sort_values(["event_date", "built_at"], ascending=False)[columns].to_dict("records")


def delivery_sla(user: User) -> list[dict[str, Any]]:
    """The deliveries due in the last 7 days and their state (the SLA view)."""
    from jobs.publish.sla import delivery_states  # only on this page

    return delivery_states(contracts_of(user))


def offers(include_withdrawn: bool = False) -> list[dict[str, Any]]:
    """The catalogue: every published offer (withdrawn ones too when asked) whose contract is valid and live,
    with its terms and the expected accuracy of one released value at those terms. Public: no buyer's data,
    no figure of a lake."""
    contracts = valid_contracts()
    ended = ended_contracts()
    seed_offers(contracts)
    names = suppliers()
    found = []
    for row in offer_rows():
        contract = contracts.get(row.contract_id)
        if contract is None or contract.id in ended or contract.status == "retired":
            continue
        if row.status != "published" and not include_withdrawn:
            continue
        found.append({
            "id": row.id, "title": row.title, "status": row.status, "version": contract.version,
            "contract_id": contract.id, "supplier_id": row.supplier_id,
            "description": (contract.document.get("description") or {}).get("purpose", contract.purpose),
            "use_cases": row.use_cases,
            "suppliers": [{"id": s, "name": names.get(s, s)} for s in contract.suppliers],
            "sources": list(contract.sources), "metrics": list(contract.metrics),
            "segments": list(contract.segments), "h3_resolution": contract.h3_resolution,
            "time_bin": contract.time_bin, "schedule": contract.schedule, "formats": list(contract.formats),
            "licence": row.licence or contract.license or "the contract's own terms", "purpose": contract.purpose,
            "retention_days": contract.retention_days, "k": contract.k,
            "price": {"amount": row.price_amount, "currency": row.price_currency, "unit": row.price_unit},
            "accuracy": _accuracy(contract),
            "advice": _advice(contract),
            "limitations": (contract.document.get("description") or {}).get("limitations", ""),
            "published_by": row.published_by, "published_at": row.published_at,
        })
    return found


def _advice(contract: Contract) -> list[dict[str, Any]]:
    """Per metric, what the newest stored advice says of the contract's bound (the share of person-days it
    drops, estimated from the advice's noisy histogram: post-processing, no spend); none where none was run."""
    from jobs.privacy import dropped_share_estimate, plan_for  # only on the catalogue: loads numpy

    day = dt.date(2026, 3, 2)
    found = []
    for metric in contract.metrics:
        estimate = dropped_share_estimate(plan_for(contract, metric, day, day + dt.timedelta(days=1)), contract.id)
        if estimate:
            found.append({"metric": metric, **estimate})
    return found


_ACCURACY: dict[tuple[str, str], list[dict[str, Any]]] = {}


def _accuracy(contract: Contract) -> list[dict[str, Any]]:
    """The expected accuracy of one released value per metric at the contract's terms (kept per file hash)."""
    from jobs.privacy import plan_for  # only on the catalogue: loads numpy

    key = (contract.id, contract.sha256)
    if key not in _ACCURACY:
        day = dt.date(2026, 3, 2)  # a plain weekday: the accuracy of one delivery does not depend on the date
        figures = []
        for metric in contract.metrics:
            plan = plan_for(contract, metric, day, day + dt.timedelta(days=1))
            figures.append({"metric": metric, "ci95_half_width": plan.noise()["ci95_half_width"],
                            "k": plan.k_threshold(contract.k), "epsilon": plan.epsilon, "unit": plan.unit,
                            "value_unit": plan.measure.value_unit})
        _ACCURACY[key] = figures
    return _ACCURACY[key]


def sample_rows(offer_id: str, limit: int = 50) -> Path | None:
    """A delivered file of the offer's contract to sample, only when the lake was made by the simulator (a
    sample never comes from real data); None otherwise."""
    if not paths.is_simulated_lake():
        return None
    contract = valid_contracts().get(offer_id)
    if contract is None:
        return None
    made = deliveries(contract)
    if not made:
        return None
    path = paths.outbox(contract.buyer, contract.id) / made[0]["delivery_id"] / "data.csv"
    return path if path.is_file() else None


def delivery_rows(user: User, contract_id: str, delivery_id: str) -> tuple[Contract, dict, Any] | None:
    """One of the buyer's deliveries: its contract, manifest and rows (from the delivered Parquet, else CSV),
    or None when the user may not see it."""
    import pandas as pd  # only on this page

    contract = contract_of(user, contract_id)
    if contract is None or user.role != "buyer":
        return None
    folder = paths.outbox(contract.buyer, contract.id) / delivery_id
    if delivery_id not in {d["delivery_id"] for d in deliveries(contract)}:
        return None
    manifest = json.loads((folder / "manifest.json").read_text())
    if (folder / "data.parquet").is_file():
        rows = pd.read_parquet(folder / "data.parquet")
    elif (folder / "data.csv").is_file():
        rows = pd.read_csv(folder / "data.csv", dtype={"value": "Int64"})
    else:
        rows = pd.DataFrame()
    if "bin_start" in rows:
        rows["bin_start"] = rows["bin_start"].astype(str)
    return contract, manifest, rows


def sharing_state(user: User) -> list[dict[str, Any]]:
    """The buyer organisation's Delta Sharing recipients, newest first (never a token)."""
    from jobs.publish.recipients import read_recipients  # only on the workspace: reads the recipients file

    mine = [r for r in read_recipients() if r["buyer"] == user.buyer_id]
    return [{k: r.get(k) for k in ("recipient_id", "created_at", "expires_at", "revoked_at", "revoked_because")}
            for r in reversed(mine)]


def metric_figures(contract: Contract) -> list[dict[str, Any]]:
    """Per metric, for one delivery window: noise scale, 95% interval, k in the measure's unit, the domain's
    keys and how many empty keys noise alone is expected to release (phantoms)."""
    from jobs.privacy import plan_for  # only on this page: loads numpy

    start = dt.date(2026, 3, 2)
    end = start + dt.timedelta(days=delivery_days(contract.schedule))
    out = []
    for metric in contract.metrics:
        plan = plan_for(contract, metric, start, end)
        noise = plan.noise()
        domain = plan.domain_size()
        chance = plan.phantom_probability(contract.k) if domain else None
        out.append({"metric": metric, "unit": plan.unit, "value_unit": plan.measure.value_unit,
                    "epsilon": plan.epsilon, "scale": noise["scale"],
                    "ci95_half_width": noise["ci95_half_width"], "k": plan.k_threshold(contract.k),
                    "k_statement": plan.k_statement(contract.k), "domain": domain,
                    "phantom_chance": chance, "phantom_rows": chance * domain if domain else None,
                    "days": (end - start).days})
    return out


def _cells(contract: Contract, resolution: int) -> set[str]:
    import h3  # only on this page

    from jobs.privacy import domain_cells  # only on this page: loads numpy

    cells = domain_cells(contract.area, contract.h3_resolution)
    if contract.h3_resolution == resolution:
        return set(cells)
    return {h3.cell_to_parent(c, resolution) for c in cells}


def overlaps(contract: Contract, live: list[Contract], supplier: str | None) -> dict[str, Any]:
    """Live contracts whose area overlaps this one's and that read a source it reads: those using the
    officer's supplier's data listed (cells shared, and whether one release serves both), others counted."""
    listed, others = [], 0
    for other in live:
        if other.id == contract.id or not set(other.sources) & set(contract.sources):
            continue
        resolution = min(other.h3_resolution, contract.h3_resolution)
        shared = _cells(contract, resolution) & _cells(other, resolution)
        if not shared:
            continue
        if supplier is None or supplier in other.suppliers:
            served = other.derived_from == contract.id or contract.derived_from == other.id
            listed.append({"id": other.id, "buyer": other.buyer, "cells": len(shared), "resolution": resolution,
                           "shared_release": served})
        else:
            others += 1
    return {"listed": listed, "other_suppliers": others}
