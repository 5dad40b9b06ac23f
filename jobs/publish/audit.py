"""Audit reports for privacy officers: one JSON and one self-contained HTML file per delivery.

``lake/audit/<contract_id>/<delivery_id>.json`` and ``.html``. The HTML needs nothing from the network:
inline CSS and an inline SVG map of the released cells (suppressed cells grey).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from markupsafe import Markup

from jobs.common import lake, paths, settings, tables
from jobs.common.h3cells import cell_polygon
from jobs.common.objectstore import lake_path
from jobs.common.storage import restrict, write_atomic
from jobs.contracts import legal_basis_words, zone_cells
from jobs.privacy import PrivacyCost, composed, ledger_entries, ledger_summary, verified_draw
from jobs.publish.package import thresholds_text
from jobs.publish.pages import render_page
from jobs.publish.recipients import reads_summary, refusals_summary
from jobs.publish.shared_releases import K_NOTE, derived_cut, shared_text

if TYPE_CHECKING:
    from jobs.contracts import Contract
    from jobs.privacy import ReleasePlan
    from jobs.publish.delivery import Delivery


UNIT_NOTES = {"person": "one pseudonymous person per source over the accounting period",
              "device-network": "one wifi device on one network (one person may hold several)",
              "event": "one camera passage (event-level DP)"}


def _ingest_runs(sources: tuple[str, ...], start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """The latest succeeded ingest run per source and date of the window (the data the release read)."""
    out = []
    for r in tables.latest_succeeded_runs(sources, start, end).to_dict("records"):
        out.append({
            "feed": r["feed"], "event_date": r["event_date"].isoformat(), "run_id": r["run_id"],
            "records_in": int(r["records_in"]), "accepted": int(r["accepted"]),
            "quarantined": int(r["quarantined"]), "quarantined_by_reason": json.loads(r["quarantined_by_reason"]),
            "bronze_version": int(r["bronze_version"]),
        })
    return out


def _previous_audit_at(contract_id: str) -> str | None:
    folder = paths.audit_dir(contract_id)
    previous = [json.loads(p.read_text()).get("generated_at") for p in folder.glob("*.json")] if folder.exists() else []
    return max(filter(None, previous), default=None)


def _sharing_reads(contract_id: str) -> dict[str, Any] | None:
    """Delta Sharing reads of the contract's product since its previous audit (``jobs/sharing``)."""
    return reads_summary(contract_id, since=_previous_audit_at(contract_id))


def _sharing_refusals(contract_id: str) -> dict[str, Any] | None:
    """Refused Delta Sharing requests (401, 403, 404) since the previous audit: those naming this product, and
    those naming none."""
    return refusals_summary(contract_id, since=_previous_audit_at(contract_id))


def _posterior(prior: float, epsilon: float) -> float:
    """The most an observer's belief ``prior`` can grow after a release of ``epsilon``: odds times e^epsilon."""
    odds = prior / (1 - prior) * math.exp(min(epsilon, 700))
    return odds / (1 + odds)


def _belief(share: float) -> str:
    return "over 99.9%" if share > 0.999 else f"{share:.1%}"  # never round a bound up to certainty


def _odds(epsilon: float) -> str:
    factor = math.exp(min(epsilon, 700))
    return f"{factor:.3g}" if factor < 1e4 else f"about 10^{math.log10(factor):.0f}"


GROUP_SIZE = 4  # a household or a group of friends moving together: the group-privacy example of the audit


def what_could_go_wrong(epsilon_delivery: float, window_epsilon: float, global_cap: float, period_days: int,
                        threshold: str) -> list[dict[str, str]]:
    """What the privacy guarantees do not cover, each risk with what does cover part of it, in words and with
    this delivery's figures (the audit's "what could go wrong"; the DPIA starts from the same list).

    Parameters
    ----------
    epsilon_delivery, window_epsilon : float
        This delivery's epsilon, and the most this contract spends in any ``period_days`` days.
    global_cap : float
        The global epsilon cap per privacy unit class in any ``period_days`` days.
    threshold : str
        The suppression threshold in its unit (``219 people``).
    """
    group = GROUP_SIZE
    retention = settings.RETENTION_DAYS
    return [
        {"risk": "Group privacy",
         "not_covered": f"the guarantee is per person: a group of {group} who always move together (a household) "
                        f"is protected as one person with {group} times the epsilon: odds multiplied by at most "
                        f"{_odds(group * epsilon_delivery)} for this delivery and {_odds(group * window_epsilon)} in "
                        f"{period_days} days of this contract.",
         "covered_by": f"the per-person bounds and the threshold ({threshold}) make a value of a few people never "
                       "released; nothing bounds what a released value says about a group as a whole."},
        {"risk": "Repeated products and other buyers",
         "not_covered": "releases made outside this exchange (the supplier's own products, other marketplaces) "
                        "are not in this ledger, and their losses add to these.",
         "covered_by": f"every release of every buyer's contract is a ledger row before its noise is drawn; the "
                       f"global cap ({global_cap:g} per person in any {period_days} days for each privacy unit "
                       "class) bounds them together, and an audit of each delivery states what remains."},
        {"risk": "Linkage with other data",
         "not_covered": "someone who already knows a person's routine (an employer, a neighbour) combines it with "
                        "the releases; differential privacy bounds how much the releases add to what they knew, "
                        "not what they knew. Above an epsilon of a few per period the bound no longer rules out a "
                        "confident guess about a person whose movements stand out.",
         "covered_by": "the epsilon bound holds whatever the observer knows (the lines above give it per delivery "
                       f"and per {period_days} days); suppression below {threshold} is a second, weaker layer, not "
                       "the guarantee."},
        {"risk": "Inference about places and groups",
         "not_covered": "a released value says how many people were at a place and time: that many people visit "
                        "a clinic, a shelter or a place of worship is what the product reports, and a buyer may "
                        "draw conclusions about the people of an area as a whole.",
         "covered_by": "the contract's purpose, legal basis and licence limit the use; the supplier's rules refuse "
                       "purposes it will not serve."},
        {"risk": "A breach at the supplier or in the lake",
         "not_covered": "the raw records exist before any noise: at the supplier, and in the lake (landing files "
                        f"{retention['landing']} days, quarantine {retention['quarantine']}, bronze "
                        f"{retention['bronze']}, silver {retention['silver']} days); pseudonyms link one person's "
                        f"records for {settings.KEY_ROTATION_DAYS} days. A breach there exposes personal data, and "
                        "differential privacy does nothing about it.",
         "covered_by": "pseudonymisation at ingest with a key kept out of the lake, retention that deletes each "
                       "layer on time, and access controls on the lake (the operator's, outside this audit)."},
    ]


def privacy_in_words(epsilon_delivery: float, delta_delivery: float, window: dict[str, Any],
                     year: dict[str, Any], global_cap: float, period_days: int) -> list[str]:
    """What the privacy loss means for one person, in plain sentences (the audit prints them first).

    Epsilon bounds how much anything computed from a release can change an observer's odds that one
    person is in the data (present in a cell and hour, made a trip): by at most a factor ``e^epsilon``,
    whatever the observer knew before. The sentences give that factor and what it does to a 50% and a 10%
    belief, per delivery, per ``period_days`` days of this contract, over every buyer under the global cap,
    and for a year of this contract's schedule. ``window`` and ``year`` are ``composed`` figures: the Rényi
    accountant's where it is tighter than the basic sum, with both stated.
    """
    def grows(epsilon: float) -> str:
        return (f"odds multiplied by at most {_odds(epsilon)}: a 50% belief can become at most "
                f"{_belief(_posterior(0.5, epsilon))}, a 10% belief at most {_belief(_posterior(0.1, epsilon))}")

    lines = [
        f"This delivery (epsilon {epsilon_delivery:g}): whatever an observer knew before, seeing it changes their "
        f"belief that one given person is in the data by a bounded amount: {grows(epsilon_delivery)}"
        + (f"; with delta {delta_delivery:.2g} the bound is (epsilon, delta): for every set of outcomes, its "
           f"chance with the person is at most e^epsilon times its chance without, plus {delta_delivery:.2g} (an "
           "additive slack on probabilities, not a chance that the guarantee fails; for the discrete Gaussian the "
           "loss can exceed epsilon with a larger chance than delta)." if delta_delivery else "."),
        f"All of this contract's deliveries in any {period_days} days (epsilon up to {window['epsilon']:.3g}"
        + (f" at delta {window['delta']:.2g}" if window["delta"] else "") + f"; {window['text']}): "
        f"{grows(window['epsilon'])}.",
        f"Every buyer together, under the global cap (epsilon up to {global_cap:g} in any {period_days} days for "
        f"each privacy unit class): {grows(global_cap)}. The caps hold per class: releases whose unit is a person "
        "(telco, ticket) share one cap; wifi releases count per device on a network under a cap of their own, so "
        "a person also seen by wifi can lose up to the person cap plus that cap for each of their devices; camera "
        "releases are event-level. At this level the bound no longer rules out a confident guess about one "
        "person whose movements stand out; it is the worst case over everyone the releases contain, and "
        "contribution bounds and k are what keep single people from standing out in a value.",
        f"A year of this contract's schedule composes to epsilon {year['epsilon']:.3g}"
        + (f" at delta {year['delta']:.2g}" if year["delta"] else "") + f" ({year['text']}; "
        f"{grows(year['epsilon'])}): over a year, what protects a person is the per-window budget above, not one "
        "yearly figure. The yearly ceilings below are larger: they are what the ledger would let through if every "
        f"one of a year's disjoint {period_days}-day windows were spent to its budget or cap.",
    ]
    return lines


def composed_deliveries(costs: list, count: int) -> dict[str, Any]:
    """The composed loss of ``count`` deliveries of these releases, the Rényi figure stated at the global
    delta cap plus the deltas the releases spend themselves."""
    return composed(costs * count, settings.GLOBAL_DELTA_CAP + count * sum(c.added_delta for c in costs))


def gold_files(contract_id: str, delivery_id: str, gold_version: int) -> list[str]:
    """The data files of one delivery in ``gold/<contract_id>`` at the version its delivery wrote, relative to
    the table, sorted: what the audit describes and the sharing server may serve."""
    snap = lake.snapshot(tables.product(contract_id).path(), gold_version)
    return sorted(f["path"] for f in snap["files"] if f["partitionValues"].get("delivery_id") == delivery_id)


def build_audit(delivery: Delivery, manifest: dict, product: pd.DataFrame,
                releases: list[tuple[ReleasePlan, dict]], gold_version: int) -> dict[str, Any]:
    """Assemble the audit record of one delivery (docs/architecture.md, "The audit"): from the compiled
    delivery (approvals, year plan, parent and served contracts, checked and planned once) and what the
    release and the files made."""
    contract = delivery.contract
    plan = releases[0][0]
    start, end = plan.window_start, plan.window_end
    # the windows the ledger checked: widened by the longest look-back of the delivery's releases
    budget = ledger_summary(contract.id, contract.budget_epsilon_per_period, start, end, unit=plan.unit,
                            lookback_days=max(p.lookback_days for p, _ in releases))
    entries = ledger_entries()
    release_entries = []
    for p, rel in releases:
        row = entries[entries["entry_id"] == rel["ledger_entry_id"]]
        shared = {}
        if rel.get("made_for"):  # a derived contract: served by another contract's release
            use = entries[entries["entry_id"] == rel["use_entry_id"]]
            cut = derived_cut(contract, delivery.parent, p.metric)
            shared = {"made_for_contract": rel["made_for"], "use_entry_id": rel["use_entry_id"],
                      "use_ledger_seq": int(use["seq"].iloc[0]) if len(use) else None,
                      "use_recorded_before": bool(rel["use_reused"]), "shared": shared_text(contract, p, cut)}
        release_entries.append({**shared,
            "release_id": p.release_id, "metric": p.metric, "ledger_entry_id": rel["ledger_entry_id"],
            "ledger_seq": int(row["seq"].iloc[0]) if len(row) else None,
            "reused_stored_release": bool(rel["reused"]), "epsilon": p.epsilon, "delta": p.delta,
            "rho": p.rho, "bound": p.bounder.text(),
            # checked now against the stored rows (raises when they differ): the draw the spend paid for
            "draw": _draw_text(verified_draw(p.release_id)),
            "inputs": json.loads(rel["inputs"]), "gold_releases_version": int(rel["gold_version"]),
            "stages": json.loads(rel["stages"]) + (
                [f"at delivery, the estimate column, post-processing of the stored noisy values (no privacy cost): "
                 f"{rel['post_processing']}; k acts on the noisy values"] if rel.get("post_processing") else []),
        })
    windows_per_year = math.ceil(365 / budget["period_days"])
    served = list(delivery.served)
    if contract.derived_from:  # this contract's cost is its use of each release, once per release
        own = [r for r in release_entries if not r["use_recorded_before"]]
    else:
        own = [r for r in release_entries if not r["reused_stored_release"]]
    runs = _ingest_runs(contract.sources, start, end)
    year = delivery.year
    per_delivery = sum(p.epsilon for p, _ in releases)
    costs = [PrivacyCost(p.epsilon, p.delta, p.rho, p.mechanism) for p, _ in releases]
    # deliveries in the fullest window (never more than the budget lets through) and in a year of the schedule
    in_window = max(1, math.floor(min(year["max_epsilon_per_window"], contract.budget_epsilon_per_period)
                                  / per_delivery + 1e-9)) if per_delivery else 1
    words = privacy_in_words(per_delivery, sum(p.delta for p, _ in releases), composed_deliveries(costs, in_window),
                             composed_deliveries(costs, max(1, round(year["releases"] / max(len(releases), 1)))),
                             budget["global_epsilon_cap"], budget["period_days"])
    return {
        "report": "CDE delivery audit",
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "contract": {
            "id": contract.id, "version": contract.version, "name": contract.name, "status": contract.status,
            "buyer": contract.buyer, "purpose": contract.purpose, "legal_basis": contract.legal_basis,
            "legal_basis_text": legal_basis_words(contract.legal_basis),
            "suppliers": list(contract.suppliers), "sources": list(contract.sources), "file": contract.path,
            "file_sha256": contract.sha256, "approvals": list(delivery.approvals),
            "area_population": contract.area_population,
            "zones": None if not contract.zones else [
                {"id": zone_id, "cells": len(cells)} for zone_id, cells in _zone_cells(contract)],
        },
        "delivery": {
            "delivery_id": manifest["delivery_id"], "window_start": manifest["window_start"],
            "window_end": manifest["window_end"], "files": manifest["files"],
            "gold_table": f"gold/{contract.id}", "gold_version": gold_version,
            # the sharing server serves exactly these files of the delivery, once this audit is published
            "gold_files": gold_files(contract.id, manifest["delivery_id"], gold_version),
            "backfill": delivery.backfill,
        },
        "inputs": {
            "ingest_runs": runs,
            "records_quarantined": sum(r["quarantined"] for r in runs),
            "data_quality": "row-level checks of the ingest runs above (quarantine counts per reason)",
        },
        # how each source places people, the footprint sizes where computed, and the warning when the network's
        # cells are much larger than the product's (manifests made before placement was stated have none)
        "placement": manifest.get("placement"),
        "privacy": {
            "in_words": words,
            "what_could_go_wrong": what_could_go_wrong(
                per_delivery, composed_deliveries(costs, in_window)["epsilon"], budget["global_epsilon_cap"],
                budget["period_days"], manifest["privacy"].get("thresholds", {}).get(plan.metric)
                or f"k = {contract.k} people"),
            **{key: manifest["privacy"][key] for key in ("mechanism", "bounds", "noise_scale", "ci95_half_width")},
            "unit": plan.unit,
            # inside the lake one pseudonym links a person's records for a key period (nothing leaves with one)
            "pseudonym_key_period_days": settings.KEY_ROTATION_DAYS,
            "unit_note": "; ".join(UNIT_NOTES[u] for u in plan.unit.split("+"))
                         + ("; the release counts against the cap of each" if "+" in plan.unit else ""),
            "k": contract.k,
            "k_unit": "people",
            "thresholds": manifest["privacy"].get("thresholds", {}),
            "threshold_text": thresholds_text(manifest["privacy"]),
            "guarantee": "No released value is below k after noise (k people, in each metric's units). The "
                         "threshold acts on noisy values, so this is not a statement that no true count is below k.",
            "epsilon_this_delivery": sum(r["epsilon"] for r in own),
            "delta_this_delivery": sum(r["delta"] for r in own),
            "k_protects": K_NOTE,
            "derived_from": contract.derived_from or None,
            "releases_also_serve": served,
            "budget": budget,
            "composition": "budgets and caps are checked on basic composition (sums of epsilon and of delta over "
                           f"every window of {budget['period_days']} days); the 30-day and yearly figures state a "
                           "Rényi accountant's figure beside the sum where it is tighter (never looser)",
            "yearly_epsilon_ceiling_contract": contract.budget_epsilon_per_period * windows_per_year,
            "yearly_epsilon_ceiling_global": budget["global_epsilon_cap"] * windows_per_year,
            "key_rotation_days": settings.KEY_ROTATION_DAYS,
            "metrics": manifest["privacy"]["metrics"],
        },
        "releases": release_entries,
        "sharing_reads": _sharing_reads(contract.id),
        "sharing_refusals": _sharing_refusals(contract.id),
        "population_estimate": None if not contract.market_share else {
            **contract.market_share,
            "label": "population_estimate is an estimate, not a count: each released row's estimate (its "
                     "value where no estimate was made) divided by the supplier's stated market share; null "
                     "wherever the value is suppressed (post-processing of released values, no privacy cost)"},
        "result": {
            "rows": int(len(product)),
            "released": int((~product["suppressed"]).sum()),
            "suppressed": int(product["suppressed"].sum()),
            "cells": int(product[_map_place(product)].nunique()),
            "bins": int(product["bin_start"].nunique()),
        },
    }


def _draw_text(draw: dict[str, Any] | None) -> dict[str, Any]:
    """What the audit states of a release's draw: its ledger row and hash, checked against the stored rows."""
    if draw is None:
        return {"checked": False, "text": "no draw row in the ledger (a release stored before draws were "
                                          "recorded): its rows are fenced by their spend only"}
    return {"checked": True, "ledger_seq": draw["seq"], "rows": draw["rows"], "sha256": draw["sha256"],
            "text": f"the stored rows ({draw['rows']}) match the draw the spend {draw['spend']} paid for (ledger "
                    f"seq {draw['seq']}, sha256 {draw['sha256']})"}


def _zone_cells(contract: Contract) -> list:
    return zone_cells(contract.zones, contract.h3_resolution)


def _map_place(product: pd.DataFrame) -> str:
    """The place column a delivery is mapped by: its cells or zones (OD products: by origin)."""
    return next(c for c in ("h3_cell", "zone", "origin_h3", "origin_zone") if c in product)


def _outer_rings(geometry: dict) -> list[list]:
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return [polygon[0] for polygon in polygons]


def _fill(share: float) -> str:
    return f"rgb({int(255 - 200 * share)},{int(240 - 120 * share)},{int(255 - 60 * share)})"


def _scale_bar(metres_per_pixel: float, width: int, height: int) -> str:
    """A scale bar of a round length (100 m to 20 km) about a sixth of the map's width, bottom left."""
    target = metres_per_pixel * width / 6
    length = max((m for m in (100, 200, 500, 1000, 2000, 5000, 10000, 20000) if m <= target), default=100)
    pixels = length / metres_per_pixel
    label = f"{length // 1000} km" if length >= 1000 else f"{length} m"
    y = height - 14
    return (f'<g class="scale-bar"><line x1="12" y1="{y}" x2="{12 + pixels:.1f}" y2="{y}" stroke="#222" '
            f'stroke-width="2"/><text x="12" y="{y - 5}" font-size="11">{label}</text></g>')


def _legend(top: float, unit: str, width: int) -> str:
    """The value legend: five steps up to the largest released value, and the grey of suppressed places."""
    steps = [top * i / 4 for i in range(5)]
    boxes = "".join(f'<rect x="{width - 170 + i * 28}" y="8" width="26" height="12" fill="{_fill(i / 4)}" '
                    f'stroke="#555" stroke-width="0.4"/><text x="{width - 170 + i * 28}" y="32" '
                    f'font-size="9">{value:,.0f}</text>' for i, value in enumerate(steps))
    return (f'<g class="legend">{boxes}<text x="{width - 170}" y="46" font-size="10">largest released value '
            f'({html.escape(unit)})</text><rect x="{width - 170}" y="52" width="26" height="12" fill="#c8c8c8" '
            f'stroke="#555" stroke-width="0.4"/><text x="{width - 140}" y="62" font-size="10">suppressed in every '
            "bin</text></g>")


def _svg_map(product: pd.DataFrame, width: int = 640, height: int = 520, zones=None, area: dict | None = None,
             unit: str = "people") -> str:
    """An inline SVG of the area's cells (or the contract's zones), each coloured by its largest released value
    over the delivery's bins (grey when suppressed in every bin), with the area's outline, a value legend and a
    scale bar."""
    if product.empty:
        return "<p>No rows in this delivery.</p>"
    place = _map_place(product)
    per_cell = product.groupby(place).agg(top=("value", "max"), released=("suppressed", lambda s: (~s).sum()))
    shapes_of = dict(zones) if zones and place.endswith("zone") else None
    rings = {cell: (_outer_rings(shapes_of[cell]) if shapes_of else [cell_polygon(cell)]) for cell in per_cell.index}
    outline = _outer_rings(area) if area and area.get("type") in ("Polygon", "MultiPolygon") else []
    points_all = [p for parts in rings.values() for ring in parts for p in ring] + [p for ring in outline for p in ring]
    lons, lats = [p[0] for p in points_all], [p[1] for p in points_all]
    min_lon, max_lon, min_lat, max_lat = min(lons), max(lons), min(lats), max(lats)
    kx = math.cos(math.radians((min_lat + max_lat) / 2))
    scale = min((width - 20) / ((max_lon - min_lon) * kx or 1), (height - 90) / ((max_lat - min_lat) or 1))
    top = float(per_cell["top"].max()) if per_cell["top"].notna().any() else 1.0

    def xy(lon: float, lat: float) -> str:
        return f"{10 + (lon - min_lon) * kx * scale:.1f},{height - 30 - (lat - min_lat) * scale:.1f}"

    shapes = []
    for cell, row in per_cell.iterrows():
        if row["released"] == 0 or pd.isna(row["top"]):
            fill, label = "#c8c8c8", "suppressed in every bin"
        else:
            fill = _fill(max(float(row["top"]), 0.0) / top if top > 0 else 0.0)
            label = f"largest released value {int(row['top'])}; released in {int(row['released'])} bins"
        for ring in rings[cell]:
            points = " ".join(xy(lon, lat) for lon, lat in ring)
            shapes.append(f'<polygon points="{points}" fill="{fill}" stroke="#555" stroke-width="0.6">'
                          f"<title>{html.escape(cell)}: {html.escape(label)}</title></polygon>")
    for ring in outline:  # the contract's area, drawn over the cells
        shapes.append(f'<path class="area-outline" d="M {" L ".join(xy(lon, lat) for lon, lat in ring)} Z" '
                      'fill="none" stroke="#b00020" stroke-width="1.6"/>')
    metres_per_pixel = 111_320 / scale  # a degree of latitude is about 111.32 km
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="map of released cells">{"".join(shapes)}{_legend(top, unit, width)}'
            f"{_scale_bar(metres_per_pixel, width, height)}</svg>")


def render_html(audit: dict[str, Any], product: pd.DataFrame, zones=None, area: dict | None = None) -> str:
    """Render the audit record as one self-contained HTML page (template ``audit.html.j2``); ``zones`` and
    ``area`` are the contract's, for the map (a zone product's shapes, the area's outline)."""
    metrics = audit.get("privacy", {}).get("metrics") or [{}]
    unit = metrics[0].get("value_unit") or "people"
    return render_page("audit.html.j2", audit=audit,
                       map_svg=Markup(_svg_map(product, zones=zones, area=area, unit=unit)))


def audit_attempt(delivery_id: str) -> str:
    """The name of one delivery attempt's audit, ``attempts/<delivery_id>.<time>-<random>``: each attempt's
    audit is kept beside the others, and the attempt's manifest names it."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"attempts/{delivery_id}.{stamp}-{secrets.token_hex(3)}"


def write_audit(delivery: Delivery, manifest: dict, product: pd.DataFrame,
                releases: list[tuple[ReleasePlan, dict]], gold_version: int) -> dict[str, str]:
    """Write this attempt's audit, ``lake/audit/<contract_id>/<manifest["audit"]>.json`` and ``.html`` (kept,
    never rewritten); return their paths. ``publish_audit`` gives it the delivery's own name after the swap."""
    contract = delivery.contract
    audit = build_audit(delivery, manifest, product, releases, gold_version)
    folder = paths.audit_dir(contract.id)
    stem = manifest.get("audit") or manifest["delivery_id"]
    json_path, html_path = folder / f"{stem}.json", folder / f"{stem}.html"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(audit, indent=2, default=str))
    html_path.write_text(render_html(audit, product, contract.zones, contract.area), encoding="utf-8")
    for path in (json_path, html_path):
        restrict(path)
    for made in {folder, json_path.parent}:
        made.chmod(settings.DIR_MODE)
    return {"json": str(json_path), "html": str(html_path)}


def publish_audit(contract_id: str, manifest: dict) -> dict[str, str]:
    """After the delivery's swap: its attempt's audit under the delivery's own names,
    ``lake/audit/<contract_id>/<delivery_id>.json`` and ``.html``, each replaced whole. Until then the
    previous delivery's audit stays there, describing the files the buyer still holds."""
    folder = paths.audit_dir(contract_id)
    out = {}
    for kind in ("json", "html"):
        source, target = folder / f"{manifest['audit']}.{kind}", folder / f"{manifest['delivery_id']}.{kind}"
        write_atomic(target, source.read_text(encoding="utf-8"), settings.FILE_MODE)
        out[kind] = str(target)
    return out


def ledger_anchors() -> list[dict[str, Any]]:
    """Every ledger head recorded outside the ledger: each release log row and each delivered manifest."""
    anchors = [{"seq": int(r["ledger_seq"]), "hash": r["ledger_head"], "where": f"ops/releases {r['release_id']}"}
               for r in tables.release_log_rows() if r.get("ledger_seq") is not None]
    for manifest_path in sorted((paths.outbox()).glob("*/*/*/manifest.json")):
        head = json.loads(manifest_path.read_text()).get("ledger_head")
        if head:
            anchors.append({"seq": int(head["seq"]), "hash": head["hash"],
                            "where": str(manifest_path.relative_to(settings.lake_root()))})
    return anchors


def read_audit(path: Path) -> dict[str, Any]:
    """Read an audit JSON back."""
    return json.loads(lake_path(path).read_text())
