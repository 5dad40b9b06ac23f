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

This module is the zones' geometry: loading, cells, overlap and area checks. The sums and their noise are
privacy's (``jobs/privacy/zones.py``). Light at import (json, h3 via ``polygon_cells``): contract validation
calls it at DAG parse time.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jobs.common.h3cells import cell_to_int, polygon_cells
from jobs.contracts.files import read_named_json

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
    if not isinstance(value, (str, dict)):
        return None, [f"{where}: {field}: must be a file name or a mapping (file or geojson, id_property)"]
    spec = {"file": value} if isinstance(value, str) else dict(value)
    id_property = spec.get("id_property", DEFAULT_ID_PROPERTY)
    if "file" in spec:
        try:
            collection = read_named_json(spec["file"], base)  # inside the contracts folder only, bounded
        except ValueError as exc:
            return None, [f"{where}: {field}.file: {exc}"]
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
