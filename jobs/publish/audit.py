"""Audit reports for privacy officers: one JSON and one self-contained HTML file per delivery.

``lake/audit/<contract_id>/<delivery_id>.json`` and ``.html``. The HTML needs nothing from the network:
inline CSS and an inline SVG map of the released cells (suppressed cells grey).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from jobs.common import lake, settings
from jobs.common.h3cells import cell_polygon
from jobs.privacy import ledger

if TYPE_CHECKING:
    from jobs.privacy.release import ReleasePlan
    from jobs.publish.contracts import Contract


def _ingest_runs(sources: tuple[str, ...], start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """The latest succeeded ingest run per source and date of the window (the data the release read)."""
    path = settings.table_path("ops", "ingest_runs")
    if not lake.exists(path):
        return []
    runs = lake.read_arrow(path).to_pandas()
    runs = runs[(runs["status"] == "succeeded") & runs["feed"].isin(sources)]
    runs = runs[(runs["event_date"] >= start) & (runs["event_date"] < end)]
    latest = runs.sort_values("finished_at").groupby(["feed", "event_date"]).tail(1)
    out = []
    for r in latest.sort_values(["feed", "event_date"]).to_dict("records"):
        out.append({
            "feed": r["feed"], "event_date": r["event_date"].isoformat(), "run_id": r["run_id"],
            "records_in": int(r["records_in"]), "accepted": int(r["accepted"]),
            "quarantined": int(r["quarantined"]), "quarantined_by_reason": json.loads(r["quarantined_by_reason"]),
            "bronze_version": int(r["bronze_version"]),
        })
    return out


def build_audit(contract: Contract, manifest: dict, product: pd.DataFrame,
                releases: list[tuple[ReleasePlan, dict]], gold_version: int) -> dict[str, Any]:
    """Assemble the audit record of one delivery (the content of DESIGN.md section 6, "Audit")."""
    plan = releases[0][0]
    start, end = plan.window_start, plan.window_end
    budget = ledger.summary(contract.id, contract.budget_epsilon_per_period, start, end, unit=plan.unit)
    entries = ledger.read_entries()
    release_entries = []
    for p, rel in releases:
        row = entries[entries["entry_id"] == rel["ledger_entry_id"]]
        release_entries.append({
            "release_id": p.release_id, "metric": p.metric, "ledger_entry_id": rel["ledger_entry_id"],
            "ledger_seq": int(row["seq"].iloc[0]) if len(row) else None,
            "reused_stored_release": bool(rel["reused"]), "epsilon": p.epsilon, "delta": p.delta,
            "rho": p.rho, "inputs": json.loads(rel["inputs"]), "gold_releases_version": int(rel["gold_version"]),
            "stages": json.loads(rel["stages"]),
        })
    windows_per_year = math.ceil(365 / budget["period_days"])
    runs = _ingest_runs(contract.sources, start, end)
    return {
        "report": "CDE delivery audit",
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "contract": {
            "id": contract.id, "version": contract.version, "name": contract.name, "status": contract.status,
            "buyer": contract.buyer, "purpose": contract.purpose, "legal_basis": contract.legal_basis,
            "suppliers": list(contract.suppliers), "sources": list(contract.sources), "file": contract.path,
        },
        "delivery": {
            "delivery_id": manifest["delivery_id"], "window_start": manifest["window_start"],
            "window_end": manifest["window_end"], "files": manifest["files"],
            "gold_table": f"gold/{contract.id}", "gold_version": gold_version,
        },
        "inputs": {
            "ingest_runs": runs,
            "records_quarantined": sum(r["quarantined"] for r in runs),
            "data_quality": "row-level checks of the ingest runs above (quarantine counts per reason)",
        },
        "privacy": {
            "unit": plan.unit,
            "unit_note": {"person": "one pseudonymous person per source over the accounting period",
                          "device-network": "one wifi device on one network (one person may hold several)",
                          "event": "one camera passage (event-level DP)"}[plan.unit],
            "bounds": {"max_cells_per_day": contract.max_cells_per_day, "once_per_pair": True},
            "sensitivity_l1": plan.sensitivity,
            "mechanism": plan.mechanism,
            "noise_scale": manifest["privacy"]["noise_scale"],
            "ci95_half_width": manifest["privacy"]["ci95_half_width"],
            "k": contract.k,
            "guarantee": "No released value is below k after noise. The threshold acts on noisy values, so this "
                         "is not a statement that no true count is below k.",
            "epsilon_this_delivery": sum(r["epsilon"] for r in release_entries if not r["reused_stored_release"]),
            "delta_this_delivery": sum(r["delta"] for r in release_entries if not r["reused_stored_release"]),
            "budget": budget,
            "composition": "basic composition: sums of epsilon and of delta over every window of "
                           f"{budget['period_days']} days",
            "yearly_epsilon_ceiling_contract": contract.budget_epsilon_per_period * windows_per_year,
            "yearly_epsilon_ceiling_global": budget["global_epsilon_cap"] * windows_per_year,
        },
        "releases": release_entries,
        "result": {
            "rows": int(len(product)),
            "released": int((~product["suppressed"]).sum()),
            "suppressed": int(product["suppressed"].sum()),
            "cells": int(product["h3_cell" if "h3_cell" in product else "origin_h3"].nunique()),
            "bins": int(product["bin_start"].nunique()),
        },
    }


def _svg_map(product: pd.DataFrame, width: int = 640, height: int = 520) -> str:
    """An inline SVG of the area's cells: colour by the largest released value, grey when all suppressed."""
    if product.empty:
        return "<p>No rows in this delivery.</p>"
    place = "h3_cell" if "h3_cell" in product else "origin_h3"  # OD products: mapped by origin
    per_cell = product.groupby(place).agg(top=("value", "max"), released=("suppressed", lambda s: (~s).sum()))
    rings = {cell: cell_polygon(cell) for cell in per_cell.index}
    lons = [p[0] for ring in rings.values() for p in ring]
    lats = [p[1] for ring in rings.values() for p in ring]
    min_lon, max_lon, min_lat, max_lat = min(lons), max(lons), min(lats), max(lats)
    kx = math.cos(math.radians((min_lat + max_lat) / 2))
    scale = min((width - 20) / ((max_lon - min_lon) * kx or 1), (height - 20) / ((max_lat - min_lat) or 1))
    top = float(per_cell["top"].max()) if per_cell["top"].notna().any() else 1.0
    shapes = []
    for cell, row in per_cell.iterrows():
        points = " ".join(f"{10 + (lon - min_lon) * kx * scale:.1f},{height - 10 - (lat - min_lat) * scale:.1f}"
                          for lon, lat in rings[cell])
        if row["released"] == 0 or pd.isna(row["top"]):
            fill, label = "#c8c8c8", "suppressed in every bin"
        else:
            share = max(float(row["top"]), 0.0) / top if top > 0 else 0.0
            fill = f"rgb({int(255 - 200 * share)},{int(240 - 120 * share)},{int(255 - 60 * share)})"
            label = f"max released value {int(row['top'])}; released in {int(row['released'])} bins"
        shapes.append(f'<polygon points="{points}" fill="{fill}" stroke="#555" stroke-width="0.6">'
                      f"<title>{html.escape(cell)}: {html.escape(label)}</title></polygon>")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="map of released cells">{"".join(shapes)}</svg>')


def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def render_html(audit: dict[str, Any], product: pd.DataFrame) -> str:
    """Render the audit record as one self-contained HTML page."""
    c, d, p, r = audit["contract"], audit["delivery"], audit["privacy"], audit["result"]
    b = p["budget"]
    stages = "".join(
        f"<li>{html.escape(s)}</li>" for rel in audit["releases"] for s in rel["stages"])
    runs = "".join(
        f"<tr><td>{html.escape(x['feed'])}</td><td>{x['event_date']}</td><td>{x['records_in']}</td>"
        f"<td>{x['accepted']}</td><td>{x['quarantined']}</td>"
        f"<td>{html.escape(json.dumps(x['quarantined_by_reason']))}</td><td>{x['bronze_version']}</td></tr>"
        for x in audit["inputs"]["ingest_runs"])
    releases = "".join(
        f"<tr><td>{html.escape(x['release_id'])}</td><td>{html.escape(x['metric'])}</td>"
        f"<td>{html.escape(x['ledger_entry_id'])}</td><td>{x['ledger_seq']}</td>"
        f"<td>{'yes (nothing spent)' if x['reused_stored_release'] else 'no'}</td>"
        f"<td>{html.escape(json.dumps(x['inputs']))}</td></tr>" for x in audit["releases"])
    files = "".join(f"<tr><td>{html.escape(f['name'])}</td><td>{f['rows']}</td><td><code>{f['sha256']}</code></td></tr>"
                    for f in d["files"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Audit {html.escape(d['delivery_id'])} - {html.escape(c['id'])}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1100px; }}
h1 {{ font-size: 1.5rem; }} h2 {{ font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }}
table {{ border-collapse: collapse; margin: .5rem 0; }} th, td {{ border: 1px solid #ddd; padding: 4px 8px;
text-align: left; vertical-align: top; }} th {{ background: #f4f4f4; }}
.figures {{ display: flex; gap: 1rem; flex-wrap: wrap; }}
.figure {{ border: 1px solid #bbb; border-radius: 6px; padding: .6rem 1rem; min-width: 150px; }}
.figure b {{ display: block; font-size: 1.6rem; }} code {{ font-size: .75rem; }}
.legend span {{ display: inline-block; width: 14px; height: 14px; margin: 0 4px 0 12px; vertical-align: middle; }}
</style></head><body>
<h1>Delivery audit: {html.escape(c['name'])}</h1>
<p>Contract <b>{html.escape(c['id'])}</b> version {html.escape(c['version'])} for buyer
<b>{html.escape(c['buyer'])}</b>; delivery <code>{html.escape(d['delivery_id'])}</code>, window
{html.escape(d['window_start'])} to {html.escape(d['window_end'])} (end exclusive).</p>
<div class="figures">
<div class="figure" id="fig-released">cells released<b>{r['released']}</b></div>
<div class="figure" id="fig-suppressed">cells suppressed<b>{r['suppressed']}</b></div>
<div class="figure" id="fig-epsilon">epsilon spent (this delivery)<b>{p['epsilon_this_delivery']:g}</b></div>
<div class="figure" id="fig-contract-left">contract epsilon left
<b>{b['contract_epsilon_left']:g} of {b['contract_epsilon_budget']:g}</b></div>
<div class="figure" id="fig-global-left">global epsilon left
<b>{b['global_epsilon_left']:g} of {b['global_epsilon_cap']:g}</b></div>
<div class="figure">k<b>{p['k']}</b></div>
</div>
<h2>Purpose and legal basis</h2>
{_table([("purpose", c['purpose']), ("legal basis (GDPR Art. 6)", c['legal_basis']),
         ("suppliers", ", ".join(c['suppliers'])), ("sources", ", ".join(c['sources'])),
         ("contract file", c['file'])])}
<h2>Privacy terms applied</h2>
{_table([("privacy unit", f"{p['unit']}: {p['unit_note']}"),
         ("contribution bound", f"at most {p['bounds']['max_cells_per_day']} (cell, bin) pairs per person and day, "
                                "once per pair"),
         ("L1 sensitivity", p['sensitivity_l1']), ("mechanism", p['mechanism']),
         ("noise scale", f"{p['noise_scale']:g}"), ("95% interval of a released value", f"+/- {p['ci95_half_width']}"),
         ("epsilon / delta this delivery", f"{p['epsilon_this_delivery']:g} / {p['delta_this_delivery']:g}"
                                           " (0 when the stored release was reused)"),
         ("epsilon / delta of the release(s) delivered",
          "; ".join(f"{x['release_id']}: {x['epsilon']:g} / {x['delta']:g}, spent once at ledger seq "
                    f"{x['ledger_seq']}" for x in audit["releases"])),
         ("contract budget per window", f"spent {b['contract_epsilon_spent']:g}, left {b['contract_epsilon_left']:g} "
                                        f"of {b['contract_epsilon_budget']:g} per {b['period_days']} days"),
         ("global epsilon cap", f"spent {b['global_epsilon_spent']:g}, left {b['global_epsilon_left']:g} of "
                                f"{b['global_epsilon_cap']:g}"),
         ("global delta cap", f"spent {b['global_delta_spent']:g}, left {b['global_delta_left']:g} of "
                              f"{b['global_delta_cap']:g}"),
         ("global epsilon, tighter zCDP figure",
          f"{b['global_epsilon_zcdp']:.3g} (rho {b['global_rho_spent']:.3g} at delta {b['global_delta_cap']:g}); "
          "the cap is checked on the basic sum"),
         ("yearly ceiling (contract / global)", f"{p['yearly_epsilon_ceiling_contract']:g} / "
                                                f"{p['yearly_epsilon_ceiling_global']:g}"),
         ("composition", p['composition']), ("guarantee", p['guarantee'])])}
<h2>Releases and ledger entries</h2>
<table><tr><th>release</th><th>metric</th><th>ledger entry</th><th>ledger seq</th><th>stored release reused</th>
<th>input table versions</th></tr>{releases}</table>
<h2>Computation stages, in order</h2><ol>{stages}</ol>
<h2>Inputs: ingest runs</h2>
<table><tr><th>feed</th><th>date</th><th>records in</th><th>accepted</th><th>quarantined</th><th>by reason</th>
<th>bronze version</th></tr>{runs}</table>
<h2>Map of the delivery</h2>
<p class="legend"><span style="background:rgb(55,120,195)"></span>released (darker = larger value)
<span style="background:#c8c8c8"></span>suppressed in every bin</p>
{_svg_map(product)}
<h2>Files delivered</h2>
<table><tr><th>file</th><th>rows</th><th>sha256</th></tr>{files}</table>
<p>Generated {html.escape(audit['generated_at'])}; gold/{html.escape(c['id'])} version {d['gold_version']}.</p>
</body></html>
"""


def write_audit(contract: Contract, manifest: dict, product: pd.DataFrame,
                releases: list[tuple[ReleasePlan, dict]], gold_version: int) -> dict[str, str]:
    """Write ``lake/audit/<contract_id>/<delivery_id>.json`` and ``.html``; return their paths."""
    audit = build_audit(contract, manifest, product, releases, gold_version)
    folder = settings.lake_root() / "audit" / contract.id
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / f"{manifest['delivery_id']}.json"
    html_path = folder / f"{manifest['delivery_id']}.html"
    json_path.write_text(json.dumps(audit, indent=2, default=str))
    html_path.write_text(render_html(audit, product), encoding="utf-8")
    return {"json": str(json_path), "html": str(html_path)}


def read_audit(path: Path) -> dict[str, Any]:
    """Read an audit JSON back."""
    return json.loads(Path(path).read_text())
