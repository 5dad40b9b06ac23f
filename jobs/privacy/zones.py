"""Buyer zones: a contract's own polygons (districts, store catchments) as the unit of delivery.

A contract may name a GeoJSON FeatureCollection of zones (``customProperties.zones``). Zones are public:
they come from the contract, never from the data. Each zone is the set of H3 cells, at the contract's
resolution, whose centres lie inside its polygon (the rule the contract area uses), so a zone is a fixed,
public group of release cells and no cell belongs to two zones.

Two ways to a zone value, by the measure:

- additive metrics (trips, footfall, dwell, camera counts): the release is made over the area's H3 cells as
  usual and the zone value is the sum of its cells' noisy values (post-processing, no further spend). The
  sum of ``n`` cells carries ``n`` noises (``noise.sum_noise_scale``), so each zone row states its own
  interval, and validation checks that the largest zone's summed noise does not reach k by itself;
- distinct people (not additive: one person is in several cells): the release itself is made per zone. Each
  person-level row's cell is mapped to its zone before bounding, so the bound counts distinct (zone, bin)
  pairs per person and a zone value has one noise draw.

Light at import (json, h3 via ``polygon_cells``): contract validation calls it at DAG parse time.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path
from typing import Any

from jobs.common.h3cells import cell_to_int, polygon_cells

#: GeoJSON property holding each zone's id when the contract does not name one
DEFAULT_ID_PROPERTY = "id"


def load_zones(value: Any, base: Path, where: str) -> tuple[tuple[tuple[str, dict], ...] | None, list[str]]:
    """Resolve ``customProperties.zones`` into (zone id, GeoJSON geometry) pairs, in file order.

    Parameters
    ----------
    value : str or dict
        A path to a GeoJSON FeatureCollection (relative to the contract's folder), or
        ``{"file": path, "id_property": name}``, or ``{"geojson": {...}, "id_property": name}``.
    base : Path
        The contract's folder.
    where : str
        File name for error messages.

    Returns
    -------
    tuple
        The zones (None on error) and the errors, each naming the field.
    """
    field = "customProperties.zones"
    spec = {"file": value} if isinstance(value, str) else dict(value)
    id_property = spec.get("id_property", DEFAULT_ID_PROPERTY)
    if "file" in spec:
        path = (base / spec["file"]).resolve()
        if not path.exists():
            return None, [f"{where}: {field}.file: {spec['file']} not found"]
        try:
            collection = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return None, [f"{where}: {field}.file: {spec['file']} is not GeoJSON ({exc})"]
    else:
        collection = spec.get("geojson")
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        return None, [f"{where}: {field}: must be a GeoJSON FeatureCollection of zone polygons"]
    features = collection.get("features") or []
    if not features:
        return None, [f"{where}: {field}: the FeatureCollection holds no zone"]
    zones, errors, seen = [], [], set()
    for index, feature in enumerate(features):
        at = f"{where}: {field}.features[{index}]"
        properties = (feature or {}).get("properties") or {}
        zone_id = properties.get(id_property, (feature or {}).get("id"))
        if isinstance(zone_id, bool) or not isinstance(zone_id, (str, int)) or not str(zone_id).strip():
            errors.append(f"{at}: properties.{id_property}: every zone needs an id (a non-empty string or number)")
            continue
        zone_id = str(zone_id).strip()
        if zone_id in seen:
            errors.append(f"{at}: properties.{id_property}: zone id {zone_id!r} appears twice")
            continue
        seen.add(zone_id)
        geometry = (feature or {}).get("geometry") or {}
        if geometry.get("type") not in ("Polygon", "MultiPolygon"):
            errors.append(f"{at}: geometry: zone {zone_id!r} must be a Polygon or MultiPolygon, not "
                          f"{geometry.get('type')!r}")
            continue
        zones.append((zone_id, geometry))
    return (tuple(zones) if not errors else None), errors


def zone_cells(zones: tuple[tuple[str, dict], ...], resolution: int) -> list[tuple[str, list[str]]]:
    """Each zone's id with its sorted H3 cells at ``resolution`` (cell centre inside the polygon)."""
    return [(zone_id, polygon_cells(geometry, resolution)) for zone_id, geometry in zones]


def zones_text(zones: tuple[tuple[str, dict], ...], resolution: int) -> str:
    """Canonical JSON of a zone-level release's zones (``[[id, [cells]], ...]``): part of its plan and id."""
    return _zones_text(json.dumps(zones, sort_keys=True), resolution)


@cache
def _zones_text(zones_json: str, resolution: int) -> str:  # plans are made often (validation, DAG parsing)
    zones = tuple((zone_id, geometry) for zone_id, geometry in json.loads(zones_json))
    return json.dumps(zone_cells(zones, resolution), separators=(",", ":"))


@cache
def parse_zones_text(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The zones of a plan's ``zones`` text, as (id, cells) in zone-index order."""
    return tuple((zone_id, tuple(cells)) for zone_id, cells in json.loads(text))


def cell_to_zone_index(zones: list[tuple[str, list[str]]] | tuple) -> dict[int, int]:
    """Map each zone cell (as a 64-bit integer) to the index of its zone (cells are in one zone only)."""
    return {cell_to_int(cell): index for index, (_, cells) in enumerate(zones) for cell in cells}


def zone_errors(zones: tuple[tuple[str, dict], ...], area_cells: list[str], resolution: int,
                where: str) -> list[str]:
    """Why these zones cannot be delivered at ``resolution`` inside the area (empty when they can).

    A zone must hold at least one cell centre, no cell may fall in two zones (polygons that overlap, or
    share a border a cell centre sits on), and every zone cell must be inside the contract area (the
    release domain), so no zone value is summed from part of its cells.
    """
    field = "customProperties.zones"
    errors, owner = [], {}
    inside = set(area_cells)
    for zone_id, cells in zone_cells(zones, resolution):
        if not cells:
            errors.append(f"{where}: {field}: zone {zone_id!r} holds no H3 cell centre at resolution "
                          f"{resolution}: draw it larger or use a finer h3_resolution")
            continue
        outside = [c for c in cells if c not in inside]
        if outside:
            errors.append(f"{where}: {field}: zone {zone_id!r} has {len(outside)} cell(s) outside the contract "
                          f"area (first: {outside[0]}): zones must lie inside the area")
        for cell in cells:
            if cell in owner:
                errors.append(f"{where}: {field}: zones {owner[cell]!r} and {zone_id!r} overlap (cell {cell} is in "
                              "both): a person there would be counted twice")
                break
            owner[cell] = zone_id
    return errors


def zone_centres(zones: tuple[tuple[str, dict], ...]) -> dict[str, tuple[float, float]]:
    """A point inside each zone (latitude, longitude), for CSV coordinates and OD lines."""
    from shapely.geometry import shape

    out = {}
    for zone_id, geometry in zones:
        point = shape(geometry).representative_point()
        out[zone_id] = (round(point.y, 6), round(point.x, 6))
    return out


@dataclasses.dataclass(frozen=True)
class ZoneSum:
    """How an additive product is summed from its H3 release into the contract's zones.

    Attributes
    ----------
    zones : tuple of (str, tuple of str)
        Zone ids with their cells, in zone-index order.
    places : int
        Place columns of a key (1; 2 for origin-destination: a zone pair sums every pair of their cells).
    """

    zones: tuple
    places: int

    def terms(self) -> list[int]:
        """Released values summed into each zone key (per zone, or per ordered zone pair), zone-index order."""
        sizes = [len(cells) for _, cells in self.zones]
        if self.places == 1:
            return sizes
        return [a * b for a in sizes for b in sizes]

    def figures(self, plan, k: int) -> dict[str, Any]:
        """Noise and phantom figures of the zone sums at the contract's k (manifests, audits, validation).

        The interval stated is the largest zone's (each row carries its own in ``ci95_half_width``); the
        phantom chance is the largest zone's, and the expected phantom rows add up every zone key.
        """
        from jobs.privacy.noise import sum_noise_scale, sum_noise_tail

        delta = plan.delta if plan.mechanism == "gaussian_discrete" else None
        terms = self.terms()
        noise = sum_noise_scale(plan.epsilon, plan.noise_sensitivity, max(terms), plan.mechanism, delta)
        out = {"zones": len(self.zones), "summed_release_values": {"min": min(terms), "max": max(terms)},
               "noise_sd": noise["sd"], "ci95_half_width": noise["ci95_half_width"]}
        per_place_key = plan.domain_size()
        if per_place_key is not None:  # zero-filled: a zone of empty cells can still reach k by noise
            from jobs.privacy.domain import domain_cells

            cells = len(domain_cells(json.loads(plan.area), plan.h3_resolution)) ** self.places
            repeats = per_place_key // cells  # bins x segment values
            chance = {t: sum_noise_tail(plan.epsilon, plan.noise_sensitivity, plan.k_threshold(k), t,
                                        plan.mechanism, delta) for t in set(terms)}
            out.update(domain_keys=len(terms) * repeats, phantom_probability=max(chance.values()),
                       expected_phantom_rows=sum(chance[t] for t in terms) * repeats)
        return out

    def ci95_by_terms(self, plan) -> dict[int, int]:
        """The 95% half-width of a zone value summed from ``t`` release values, for each ``t`` used."""
        from jobs.privacy.noise import sum_noise_scale

        delta = plan.delta if plan.mechanism == "gaussian_discrete" else None
        return {t: int(sum_noise_scale(plan.epsilon, plan.noise_sensitivity, t, plan.mechanism,
                                       delta)["ci95_half_width"]) for t in set(self.terms())}


def sum_into_zones(release, zone_sum: ZoneSum, ci95_by_terms: dict[int, int]):
    """Sum an additive release's noisy values into zones (post-processing; see the module docstring).

    Parameters
    ----------
    release : pandas.DataFrame
        Rows of ``gold/releases`` over the area's cells (``h3_cell`` and, for OD, ``destination_h3`` as
        int64, ``bin_start``, ``bin_minutes``, segment columns where set, ``metric``, ``value``), zero-filled.
    zone_sum : ZoneSum
        The contract's zones.
    ci95_by_terms : dict
        ``ZoneSum.ci95_by_terms`` of the release's plan.

    Returns
    -------
    pandas.DataFrame
        The place columns holding zone indices, ``bin_start``, ``bin_minutes``, the segment columns,
        ``metric``, ``value`` (the sum) and ``ci95_half_width`` (the sum's own interval). Cells outside
        every zone are left out.
    """
    import pandas as pd

    from jobs.privacy.derive import SEGMENT_COLUMNS

    index = cell_to_zone_index(zone_sum.zones)
    places = ["h3_cell", "destination_h3"][: zone_sum.places]
    segments = [c for c in SEGMENT_COLUMNS if c in release and release[c].notna().any()]
    keys = [*places, "bin_start", "bin_minutes", *segments, "metric"]
    frame = release[[*keys, "value"]].copy()
    for place in places:
        frame[place] = frame[place].map(index)
    frame = frame.dropna(subset=places)
    for place in places:
        frame[place] = frame[place].astype("int64")
    out = frame.groupby(keys, as_index=False, dropna=False)["value"].sum()
    sizes = pd.Series([len(cells) for _, cells in zone_sum.zones])
    terms = sizes[out[places[0]]].to_numpy()
    if zone_sum.places == 2:
        terms = terms * sizes[out[places[1]]].to_numpy()
    out["ci95_half_width"] = [ci95_by_terms[int(t)] for t in terms]
    return out


def zones_from_release(release_id: str, zone_sum: ZoneSum, ci95_by_terms: dict[int, int]):
    """A stored additive release summed into zones (``sum_into_zones`` of what ``read_release`` returns)."""
    from jobs.privacy.release import read_release

    return sum_into_zones(read_release(release_id).to_pandas(), zone_sum, ci95_by_terms)
