"""Server-drawn SVG for the buyer's delivery page: a map of one time bin's values and a chart of one place's
values over time. Pure functions of a delivery's rows (pandas), no script and nothing from the network; every
value is shown with its 95% interval, every suppressed value marked as such."""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

from jobs.common.h3cells import cell_polygon

PALETTE = ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c")  # light to dark: low to high
SUPPRESSED = "#d0d0d0"


def place_column(rows: pd.DataFrame) -> str:
    """The column a delivery is mapped by: cells, zones, or (origin-destination products) the origin."""
    return next(c for c in ("h3_cell", "zone", "origin_h3", "origin_zone") if c in rows)


def bins(rows: pd.DataFrame) -> list[str]:
    """The delivery's time bins, in order."""
    return sorted(rows["bin_start"].astype(str).unique()) if len(rows) else []


def busiest_bin(rows: pd.DataFrame) -> str | None:
    """The bin with the most released values (the map's default)."""
    if rows.empty:
        return None
    released = rows[~rows["suppressed"]]
    source = released if len(released) else rows
    return str(source.groupby(source["bin_start"].astype(str)).size().idxmax())


def per_place(rows: pd.DataFrame, bin_start: str) -> pd.DataFrame:
    """One row per place in one bin: the released value (summed where a place has several rows: segments or
    destinations), how many of its rows are suppressed, and the interval where the place has one row."""
    place = place_column(rows)
    at = rows[rows["bin_start"].astype(str) == bin_start]
    grouped = at.groupby(place)
    out = pd.DataFrame({
        "value": grouped["value"].sum(min_count=1),
        "rows": grouped.size(),
        "suppressed": grouped["suppressed"].sum(),
    })
    for column in ("ci95_low", "ci95_high", "ci95_half_width"):
        if column in at:
            out[column] = grouped[column].first().where(out["rows"] == 1)
    return out


def _colour(value: float, edges: list[float]) -> str:
    for colour, edge in zip(PALETTE, edges[1:], strict=False):
        if value <= edge:
            return colour
    return PALETTE[-1]


def _describe(place: str, row: pd.Series) -> str:
    if pd.isna(row["value"]):
        return f"{place}: suppressed (below k after noise)"
    text = f"{place}: {int(row['value'])}"
    if "ci95_low" in row and pd.notna(row.get("ci95_low")):
        text += f" (95% interval {int(row['ci95_low'])} to {int(row['ci95_high'])})"
    elif "ci95_half_width" in row and pd.notna(row.get("ci95_half_width")):
        text += f" (±{row['ci95_half_width']:g}, 95%)"
    if row["suppressed"]:
        text += f"; {int(row['suppressed'])} of its {int(row['rows'])} values suppressed"
    return text


def delivery_map(rows: pd.DataFrame, bin_start: str, link: str = "?place={place}", zones: Any = None,
                 width: int = 640, height: int = 480) -> str:
    """An SVG map of one bin: each place coloured by its released value (five equal steps up to the largest,
    in the legend), suppressed places grey; hovering a place shows its value and interval; a click opens its
    chart (``link`` with ``{place}``)."""
    if rows.empty:
        return "<p>No rows in this delivery.</p>"
    table = per_place(rows, bin_start)
    shapes_of = dict(zones) if zones and place_column(rows).endswith("zone") else None

    def rings(place: str) -> list:
        if shapes_of:
            geometry = shapes_of[place]
            polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
            return [polygon[0] for polygon in polygons]
        return [cell_polygon(place)]

    outlines = {place: rings(place) for place in table.index}
    lons = [p[0] for parts in outlines.values() for ring in parts for p in ring]
    lats = [p[1] for parts in outlines.values() for ring in parts for p in ring]
    min_lon, max_lon, min_lat, max_lat = min(lons), max(lons), min(lats), max(lats)
    kx = math.cos(math.radians((min_lat + max_lat) / 2))
    map_height = height - 50
    scale = min((width - 20) / ((max_lon - min_lon) * kx or 1), (map_height - 20) / ((max_lat - min_lat) or 1))
    top = float(table["value"].max()) if table["value"].notna().any() else 1.0
    edges = [top * i / len(PALETTE) for i in range(len(PALETTE) + 1)]
    shapes = []
    for place, row in table.iterrows():
        fill = SUPPRESSED if pd.isna(row["value"]) else _colour(float(row["value"]), edges)
        for ring in outlines[place]:
            points = " ".join(f"{10 + (lon - min_lon) * kx * scale:.1f},{map_height - 10 - (lat - min_lat) * scale:.1f}"
                              for lon, lat in ring)
            shapes.append(f'<a href="{html.escape(link.format(place=place))}"><polygon points="{points}" '
                          f'fill="{fill}" stroke="#666" stroke-width="0.5" data-place="{html.escape(str(place))}">'
                          f"<title>{html.escape(_describe(str(place), row))}</title></polygon></a>")
    legend = []
    for i, colour in enumerate(PALETTE):
        x = 10 + i * 90
        legend.append(f'<rect x="{x}" y="{height - 32}" width="18" height="14" fill="{colour}" stroke="#666"/>'
                      f'<text x="{x + 22}" y="{height - 21}" font-size="11">{edges[i]:.0f}–{edges[i + 1]:.0f}</text>')
    legend.append(f'<rect x="{10 + 5 * 90}" y="{height - 32}" width="18" height="14" fill="{SUPPRESSED}" '
                  f'stroke="#666"/><text x="{10 + 5 * 90 + 22}" y="{height - 21}" font-size="11">suppressed</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="map of values at {html.escape(bin_start)}" class="delivery-map">{"".join(shapes)}'
            f'<g class="legend">{"".join(legend)}</g></svg>')


def value_chart(rows: pd.DataFrame, place: str, width: int = 640, height: int = 240) -> str:
    """An SVG chart of one place's value in every bin: the released value as a line, its 95% interval as a
    band, suppressed bins as hollow marks on the axis (their value is not released)."""
    column = place_column(rows)
    mine = rows[rows[column].astype(str) == place]
    if mine.empty:
        return f"<p>No rows for {html.escape(place)}.</p>"
    series = mine.groupby(mine["bin_start"].astype(str)).agg(
        value=("value", lambda v: v.sum(min_count=1)), rows=("value", "size"), suppressed=("suppressed", "sum"),
        low=("ci95_low", "first") if "ci95_low" in mine else ("value", lambda v: math.nan),
        high=("ci95_high", "first") if "ci95_high" in mine else ("value", lambda v: math.nan)).sort_index()
    series.loc[series["rows"] > 1, ["low", "high"]] = math.nan  # an interval of a sum is not the rows' intervals
    highest = series[["value", "high"]].max().max()
    top = max(float(highest) if pd.notna(highest) else 1.0, 1.0)
    left, bottom, plot_w, plot_h = 44, height - 28, width - 60, height - 44
    step = plot_w / max(len(series) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, bottom - plot_h * max(v, 0.0) / top

    band_top = [xy(i, r.high) for i, r in enumerate(series.itertuples()) if pd.notna(r.high)]
    band_low = [xy(i, r.low) for i, r in enumerate(series.itertuples()) if pd.notna(r.low)]
    parts = [f'<line x1="{left}" y1="{bottom}" x2="{left + plot_w}" y2="{bottom}" stroke="#333"/>',
             f'<line x1="{left}" y1="{bottom}" x2="{left}" y2="{bottom - plot_h}" stroke="#333"/>',
             f'<text x="4" y="{bottom - plot_h + 4}" font-size="11">{top:.0f}</text>',
             f'<text x="4" y="{bottom}" font-size="11">0</text>']
    if band_top and band_low:
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in band_top + band_low[::-1])
        parts.append(f'<polygon points="{points}" fill="#c6dbef" opacity="0.7"><title>95% interval</title></polygon>')
    line = []
    for i, r in enumerate(series.itertuples()):
        label = html.escape(str(r.Index))
        if pd.isna(r.value):
            x, y = xy(i, 0.0)
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="white" stroke="#888" class="suppressed">'
                         f"<title>{label}: suppressed (below k after noise)</title></circle>")
            continue
        x, y = xy(i, float(r.value))
        line.append(f"{x:.1f},{y:.1f}")
        interval = f" (95% interval {int(r.low)} to {int(r.high)})" if pd.notna(r.low) else ""
        if pd.notna(r.low):  # the interval as a bar too: a lone released bin has no band around it
            (_, y_low), (_, y_high) = xy(i, float(r.low)), xy(i, float(r.high))
            parts.append(f'<line x1="{x:.1f}" y1="{y_low:.1f}" x2="{x:.1f}" y2="{y_high:.1f}" stroke="#6baed6" '
                         'stroke-width="2"/>')
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#08519c" class="released">'
                     f"<title>{label}: {int(r.value)}{interval}</title></circle>")
    if len(line) > 1:
        parts.insert(4, f'<polyline points="{" ".join(line)}" fill="none" stroke="#08519c" stroke-width="1.5"/>')
    first, last = html.escape(str(series.index[0])), html.escape(str(series.index[-1]))
    parts.append(f'<text x="{left}" y="{height - 8}" font-size="11">{first}</text>'
                 f'<text x="{left + plot_w}" y="{height - 8}" font-size="11" text-anchor="end">{last}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="values of {html.escape(place)} over time" class="value-chart">{"".join(parts)}</svg>')


def area_map(contract: Any, width: int = 480, height: int = 380) -> str:
    """An SVG of a contract's area: its H3 cells, or its zones when it is delivered per zone."""
    from jobs.privacy import domain_cells  # only on the review page: loads numpy

    cells = domain_cells(contract.area, contract.h3_resolution)
    if contract.zones:  # the buyer's zones are the unit of delivery: draw them, not the cells
        rows = pd.DataFrame({"zone": [z for z, _ in contract.zones], "value": 1, "suppressed": False,
                             "bin_start": "area"})
        what = f"{len(contract.zones)} zones"
    else:
        rows = pd.DataFrame({"h3_cell": cells, "value": 1, "suppressed": False, "bin_start": "area"})
        what = f"{len(cells)} cells at resolution {contract.h3_resolution}"
    svg = delivery_map(rows, "area", link="#", zones=contract.zones, width=width, height=height)
    svg = svg.replace(PALETTE[-1], PALETTE[2]).replace(
        'aria-label="map of values at area"', f'aria-label="area of {html.escape(contract.id)}: {what}"')
    return svg.split('<g class="legend">')[0] + "</svg>"  # one colour: no legend


def plan_chart(own: dict, everyone: dict, budget: float, width: int = 640, height: int = 220) -> str:
    """An SVG bar chart of epsilon in the 30 days from each 1st of the year: this contract's spend against its
    budget, and every live contract's together against the global cap of each privacy-unit class."""
    classes = [c for c in everyone if everyone[c]["epsilon"]]
    if not classes:
        return "<p>No release planned.</p>"
    cls = next((c for c in classes if own.get(c, {}).get("epsilon")), classes[0])
    months = list(everyone[cls]["monthly"])
    cap = everyone[cls]["epsilon_cap"]
    top = max([cap, budget] + list(everyone[cls]["monthly"].values())) or 1.0
    left, bottom, plot_h = 40, height - 30, height - 50
    slot = (width - left - 10) / len(months)

    def y(v: float) -> float:
        return bottom - plot_h * v / top

    parts = [f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}" stroke="#333"/>']
    for i, month in enumerate(months):
        x = left + i * slot
        total, mine = everyone[cls]["monthly"][month], own.get(cls, {}).get("monthly", {}).get(month, 0.0)
        parts.append(f'<rect x="{x + 2:.1f}" y="{y(total):.1f}" width="{slot / 2 - 3:.1f}" '
                     f'height="{bottom - y(total):.1f}" fill="#9ecae1"><title>{month}: all live contracts '
                     f'{total:.3g} of the cap {cap:g}</title></rect>')
        parts.append(f'<rect x="{x + slot / 2:.1f}" y="{y(mine):.1f}" width="{slot / 2 - 3:.1f}" '
                     f'height="{bottom - y(mine):.1f}" fill="#08519c"><title>{month}: this contract {mine:.3g} of its '
                     f'budget {budget:g}</title></rect>')
        parts.append(f'<text x="{x + slot / 2:.1f}" y="{height - 14}" font-size="10" text-anchor="middle">'
                     f'{month[5:]}</text>')
    for value, colour, label in ((cap, "#cb181d", f"global cap {cap:g} ({cls})"), (budget, "#08519c",
                                                                                  f"budget {budget:g}")):
        parts.append(f'<line x1="{left}" y1="{y(value):.1f}" x2="{width - 10}" y2="{y(value):.1f}" stroke="{colour}" '
                     f'stroke-dasharray="4 3"/><text x="{width - 12}" y="{y(value) - 3:.1f}" font-size="10" '
                     f'text-anchor="end" fill="{colour}">{html.escape(label)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" class="plan-chart" '
            f'aria-label="epsilon per 30 days from each 1st: this contract and all live contracts">{"".join(parts)}'
            f'<text x="4" y="14" font-size="10">epsilon per person, 30 days</text></svg>')
