"""A self-describing delivery: the data files, a Frictionless Data Package and a README for the buyer.

Every delivery folder holds, beside the data files and ``manifest.json``:

- ``datapackage.json``: a Frictionless Data Package (https://specs.frictionlessdata.io/data-package/) with
  one resource per data file, a Table Schema per tabular file (every field's type, unit and description),
  the licence from the contract, the buyer's and supplier's contacts, and the method and privacy terms;
- ``README.md``: the same in words, for whoever opens the folder first.

The files (``write_files``): ``data.parquet`` (with ``bin_start_utc`` as a timestamp beside the local ISO
string ``bin_start``), ``data.csv`` (cell centre latitude and longitude added), ``data_excel.csv`` when the
contract asks for ``csv_excel`` (semicolons, decimal commas, UTF-8 with a byte-order mark: opens in columns
in a Danish or German Excel), ``data.geojson`` and ``data.geoparquet`` (cells as polygons, OD pairs as lines
between cell centres, a point where origin and destination are one cell).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h3
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.common.h3cells import cell_polygon
from jobs.contracts import zone_cells, zone_centres

if TYPE_CHECKING:
    from jobs.contracts import Contract

# Table Schema type, unit and description of every column a product file may hold.
FIELDS: dict[str, tuple[str, str | None, str]] = {
    "h3_cell": ("string", None, "H3 cell index (hex string) at the contract's resolution"),
    "origin_h3": ("string", None, "H3 cell (hex) where the trips start"),
    "destination_h3": ("string", None, "H3 cell (hex) where the trips end"),
    "zone": ("string", None, "the buyer's zone (its id in the contract's zones GeoJSON)"),
    "origin_zone": ("string", None, "the buyer's zone where the trips start"),
    "destination_zone": ("string", None, "the buyer's zone where the trips end"),
    "latitude": ("number", "degree", "latitude of the cell centre (WGS 84; for a zone, a point inside it)"),
    "longitude": ("number", "degree",
                  "longitude of the cell centre (WGS 84; for a zone, a point inside it)"),
    "origin_latitude": ("number", "degree",
                        "latitude of the origin cell centre (WGS 84; for a zone, a point inside it)"),
    "origin_longitude": ("number", "degree",
                         "longitude of the origin cell centre (WGS 84; for a zone, a point inside it)"),
    "destination_latitude": ("number", "degree",
                             "latitude of the destination cell centre (WGS 84; for a zone, a point inside it)"),
    "destination_longitude": ("number", "degree",
                              "longitude of the destination cell centre (WGS 84; for a zone, a point inside it)"),
    "bin_start": ("string", None, "start of the time bin, ISO-8601 local time in Europe/Copenhagen with its "
                                  "UTC offset (the repeated hour of a 25-hour day stays distinct)"),
    "bin_start_utc": ("datetime", None, "start of the time bin as a UTC timestamp"),
    "bin_minutes": ("integer", "minute", "width of the time bin"),
    "segment": ("string", None, "residents, commuters, visitors or tourists (the supplier's classification)"),
    "country": ("string", None, "home country of the people counted (ISO 3166-1 alpha-2)"),
    "mode": ("string", None, "transport mode of the trips"),
    "metric": ("string", None, "what the value counts: unique_people, footfall, dwell_minutes, od_trips or "
                               "camera_count"),
    "value": ("integer", "see metric", "differentially private count (noise added; 95% of values lie within "
                                       "ci95_half_width of the true bounded count); empty when suppressed"),
    "ci95_half_width": ("integer", "see metric", "half-width of the 95% interval of value; empty when suppressed"),
    "estimate": ("integer", "see metric", "post-processed value (empirical Bayes over the noisy values, no "
                                          "privacy cost): better for sums and small values; empty when suppressed"),
    "estimate_ci95_half_width": ("integer", "see metric", "half-width of the 95% interval of estimate"),
    "population_estimate": ("integer", "people", "ESTIMATE of the whole population: estimate (value where "
                                                 "estimate is empty) divided by the supplier's stated "
                                                 "market share (see the package's marketShare); empty "
                                                 "when suppressed"),
    "population_ci95_low": ("integer", "people", "lower end of the 95% interval of population_estimate"),
    "population_ci95_high": ("integer", "people", "upper end of the 95% interval of population_estimate"),
    "suppressed": ("boolean", None, "true when the noisy value was below k and is withheld (value empty)"),
}

LICENSES = {
    "CC-BY-4.0": ("https://creativecommons.org/licenses/by/4.0/", "Creative Commons Attribution 4.0"),
    "CC0-1.0": ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0 1.0 Public Domain Dedication"),
    "ODbL-1.0": ("https://opendatacommons.org/licenses/odbl/1-0/", "Open Data Commons Open Database License"),
    "NLOD-2.0": ("https://data.norge.no/nlod/en/2.0", "Norwegian Licence for Open Government Data 2.0"),
}
DEFAULT_LICENSE = {"name": "LicenseRef-CDE-contract",
                   "title": "Licensed to the buyer under the data contract named in this package; "
                            "not for redistribution beyond its usage terms"}

FILE_FORMATS = {"data.parquet": "parquet", "data.csv": "csv", "data_excel.csv": "csv",
                "data.geojson": "geojson", "data.geoparquet": "parquet"}


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _place_columns(columns) -> list[tuple[str, str]]:
    """The place columns of a product with the prefix of their coordinate columns."""
    for origin, destination in (("origin_h3", "destination_h3"), ("origin_zone", "destination_zone")):
        if origin in columns:
            return [(origin, "origin_"), (destination, "destination_")]
    return [("zone", "")] if "zone" in columns else [("h3_cell", "")]


def _point(place: str, centres: dict | None) -> tuple[float, float]:
    """(latitude, longitude) of a cell centre, or of a zone's representative point when ``centres`` is given."""
    if centres is not None:
        return centres[place]
    lat, lng = h3.cell_to_latlng(place)
    return round(lat, 6), round(lng, 6)


def _zone_lookups(zones) -> tuple[dict | None, dict | None]:
    return (None, None) if not zones else (dict(zones), zone_centres(zones))


def with_coordinates(frame: pd.DataFrame, zones=None) -> pd.DataFrame:
    """Add latitude / longitude columns after the place columns (CSV files): each cell's centre, or a point
    inside each zone for a zone product (``zones``: the contract's (id, geometry) pairs)."""
    _, centres = _zone_lookups(zones)
    out = frame.copy()
    places = _place_columns(out.columns)
    position = max(out.columns.get_loc(column) for column, _ in places) + 1
    for column, prefix in places:
        points = [_point(place, centres) for place in out[column]]
        out.insert(position, f"{prefix}latitude", [p[0] for p in points])
        out.insert(position + 1, f"{prefix}longitude", [p[1] for p in points])
        position += 2
    return out


def geometry_of(row: dict[str, Any], zones=None) -> dict[str, Any]:
    """GeoJSON geometry of a product row: a cell (or zone) polygon, an OD line between cell centres (or zone
    points), or a point for a pair that starts and ends in one place."""
    return _geometry(row, *_zone_lookups(zones))


def _geometry(row: dict[str, Any], shapes: dict | None, centres: dict | None) -> dict[str, Any]:
    (origin, _), *rest = _place_columns(row)
    if not rest:
        if shapes is not None:
            return shapes[row[origin]]
        return {"type": "Polygon", "coordinates": [cell_polygon(row[origin])]}
    destination = rest[0][0]
    a_lat, a_lng = _point(row[origin], centres)
    if row[origin] == row[destination]:  # a zero-length line draws nothing in QGIS
        return {"type": "Point", "coordinates": [a_lng, a_lat]}
    b_lat, b_lng = _point(row[destination], centres)
    return {"type": "LineString", "coordinates": [[a_lng, a_lat], [b_lng, b_lat]]}


def _json_value(column: str, value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if FIELDS.get(column, ("string",))[0] == "integer":
        return int(value)
    if column == "suppressed":
        return bool(value)
    return value


def geojson_of(product: pd.DataFrame, columns: list[str], zones=None) -> dict:
    """The product as a GeoJSON FeatureCollection; every column a property, null where suppressed."""
    shapes, centres = _zone_lookups(zones)
    features = [{"type": "Feature", "geometry": _geometry(row, shapes, centres),
                 "properties": {k: _json_value(k, v) for k, v in row.items()}}
                for row in product[columns].to_dict("records")]
    return {"type": "FeatureCollection", "features": features}


def _bin_start_utc(bin_start: pd.Series) -> pa.Array:
    instants = [dt.datetime.fromisoformat(text).astimezone(dt.UTC) for text in bin_start]
    return pa.array(instants, type=pa.timestamp("us", tz="UTC"))


def write_data_files(table: pa.Table, product: pd.DataFrame, folder: Path,
                     formats: tuple[str, ...], zones=None) -> list[tuple[str, int]]:
    """Write the data files a contract's ``formats`` ask for; return (file name, data rows) of each.

    Parameters
    ----------
    table : pyarrow.Table
        The product columns (no ``delivery_id``) with their pinned types.
    product : pandas.DataFrame
        The same rows, for the text and geographic files.
    folder : Path
        The (staging) delivery folder.
    formats : tuple of str
        ``parquet``, ``csv``, ``csv_excel``, ``geojson`` (GeoParquet is written beside GeoJSON).
    zones : tuple, optional
        The contract's zones ((id, GeoJSON geometry), ...) for a zone product's coordinates and geometries.
    """
    columns = table.column_names
    rows = len(product)
    written = []
    if "parquet" in formats:
        at = columns.index("bin_start") + 1
        pq.write_table(table.add_column(at, pa.field("bin_start_utc", pa.timestamp("us", tz="UTC")),
                                        _bin_start_utc(product["bin_start"])), folder / "data.parquet")
        written.append(("data.parquet", rows))
    if "csv" in formats or "csv_excel" in formats:
        # Suppressed values are empty fields, never 0.
        text = with_coordinates(product[columns], zones).assign(
            suppressed=product["suppressed"].map({True: "true", False: "false"}))
        if "csv" in formats:
            text.to_csv(folder / "data.csv", index=False, na_rep="", lineterminator="\n")
            written.append(("data.csv", rows))
        if "csv_excel" in formats:
            text.to_csv(folder / "data_excel.csv", index=False, na_rep="", sep=";", decimal=",",
                        encoding="utf-8-sig", lineterminator="\r\n")
            written.append(("data_excel.csv", rows))
    if "geojson" in formats:
        collection = geojson_of(product, columns, zones)
        (folder / "data.geojson").write_text(json.dumps(collection))
        written.append(("data.geojson", rows))
        _write_geoparquet(table, collection, folder / "data.geoparquet")
        written.append(("data.geoparquet", rows))
    return written


def _write_geoparquet(table: pa.Table, collection: dict, path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import shape

    frame = gpd.GeoDataFrame(table.to_pandas(types_mapper=pd.ArrowDtype),
                             geometry=[shape(f["geometry"]) for f in collection["features"]], crs="EPSG:4326")
    frame.to_parquet(path, index=False)


def data_rows(path: Path) -> int:
    """Data rows (or features) of a delivered file, counted from the file itself."""
    if path.suffix in (".parquet", ".geoparquet"):
        return pq.ParquetFile(path).metadata.num_rows
    if path.suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as f:
            return sum(1 for line in f if line.strip()) - 1
    return len(json.loads(path.read_text())["features"])


def _table_schema(columns: list[str], excel: bool = False) -> dict[str, Any]:
    fields = []
    for name in columns:
        kind, unit, description = FIELDS[name]
        field: dict[str, Any] = {"name": name, "type": kind, "description": description}
        if unit:
            field["unit"] = unit
        if kind == "boolean":
            field.update(trueValues=["true"], falseValues=["false"])
        if kind == "number" and excel:
            field["decimalChar"] = ","
        if name in ("h3_cell", "origin_h3", "destination_h3", "zone", "origin_zone", "destination_zone",
                    "bin_start", "bin_minutes", "metric", "suppressed"):
            field["constraints"] = {"required": True}
        fields.append(field)
    keys = [c for c in ("h3_cell", "origin_h3", "destination_h3", "zone", "origin_zone", "destination_zone",
                        "bin_start", "segment", "country", "mode", "metric") if c in columns]
    return {"fields": fields, "missingValues": [""], "primaryKey": keys}


def _license(contract: Contract) -> dict[str, str]:
    name = contract.license
    if not name:
        return dict(DEFAULT_LICENSE)
    if name in LICENSES:
        path, title = LICENSES[name]
        return {"name": name, "path": path, "title": title}
    return {"name": name, "title": f"{name} (as named in the contract)"}


def contributors(contract: Contract) -> list[dict[str, str]]:
    """Buyer and supplier contacts from the contract's ``roles`` (name, e-mail, organisation, role)."""
    out = []
    for role in contract.document.get("roles") or []:
        person = {"title": role.get("name") or role["role"], "role": role["role"]}
        if role.get("email"):
            person["email"] = role["email"]
        organisation = role.get("supplier") or (contract.buyer if role["role"].startswith("buyer") else None)
        if organisation:
            person["organization"] = organisation
        out.append(person)
    return out


def _method(contract: Contract, manifest: dict) -> str:
    privacy = manifest["privacy"]
    return (f"Counts from {', '.join(contract.sources)} data of {', '.join(contract.suppliers)}, pseudonymised at "
            f"ingest and bounded per person ({json.dumps(privacy['bounds'])}), released with {privacy['mechanism']} "
            f"noise (epsilon {privacy['epsilon']:g}, delta {privacy['delta']:g} for this delivery). Values whose "
            f"noisy count is below k = {privacy['k']} are suppressed (empty). The 95% interval of a value is "
            f"value +/- ci95_half_width ({privacy['ci95_half_width']} for the noisiest metric).")


def datapackage(contract: Contract, manifest: dict, columns: list[str]) -> dict[str, Any]:
    """The Frictionless Data Package descriptor of a delivery (``datapackage.json``).

    Parameters
    ----------
    contract : Contract
        The delivery's contract (licence, roles, purpose, market share).
    manifest : dict
        The delivery's manifest (files with sha256 and rows, window, privacy terms).
    columns : list of str
        The product's columns (no ``delivery_id``), in file order.
    """
    resources = []
    for entry in manifest["files"]:
        name = entry["name"]
        path = Path(name)
        resource: dict[str, Any] = {
            "name": name.replace(".", "-").replace("_", "-"),
            "path": name, "format": FILE_FORMATS.get(name, path.suffix.lstrip(".")),
        }
        if not name.endswith("parquet"):  # frictionless counts bytes and hashes of text files only
            resource.update(hash=f"sha256:{entry['sha256']}", bytes=entry["bytes"])
        if name == "data.parquet":
            at = columns.index("bin_start") + 1
            resource.update(type="table", mediatype="application/vnd.apache.parquet",
                            schema=_table_schema([*columns[:at], "bin_start_utc", *columns[at:]]))
        elif name.endswith(".csv"):
            excel = name == "data_excel.csv"
            resource.update(type="table", mediatype="text/csv", encoding="utf-8-sig" if excel else "utf-8",
                            schema=_table_schema(list(with_coordinates_columns(columns)), excel=excel))
            if excel:
                resource["dialect"] = {"delimiter": ";"}
        elif name == "data.geojson":
            resource.update(mediatype="application/geo+json",
                            description="the product's rows as features (EPSG:4326); same properties as data.csv")
        elif name == "data.geoparquet":
            schema = _table_schema(columns)
            schema["fields"].append({"name": "geometry", "type": "any",
                                     "description": "WKB geometry (EPSG:4326): cell polygon, OD line, or a point "
                                                    "for a same-cell OD pair"})
            resource.update(type="table", mediatype="application/vnd.apache.parquet", schema=schema,
                            description="GeoParquet 1.x: the product's rows with a WKB geometry column (EPSG:4326)")
        resources.append(resource)
    privacy = manifest["privacy"]
    package: dict[str, Any] = {
        "$schema": "https://datapackage.org/profiles/2.0/datapackage.json",
        "name": f"{contract.id}-{manifest['delivery_id']}".lower(),
        "title": contract.name,
        "description": contract.purpose,
        "version": contract.version,
        "created": manifest["created_at"],
        "licenses": [_license(contract)],
        "contributors": contributors(contract),
        "keywords": ["mobility", "differential privacy", *contract.metrics],
        "temporal": {"start": manifest["window_start"], "end": manifest["window_end"],
                     "note": "end exclusive; bins are local to Europe/Copenhagen"},
        "method": _method(contract, manifest),
        "privacy": {key: privacy[key] for key in ("k", "epsilon", "delta", "mechanism", "bounds", "noise_scale",
                                                   "ci95_half_width", "guarantee")},
        "contract": {"id": contract.id, "version": contract.version, "buyer": contract.buyer,
                     "suppliers": list(contract.suppliers), "legal_basis": contract.legal_basis},
        "resources": resources,
    }
    share = manifest.get("market_share")
    if share:
        package["marketShare"] = share
    if contract.zones:
        package["zones"] = {
            "rule": f"a zone is the H3 cells at resolution {contract.h3_resolution} whose centres lie inside its "
                    "polygon (the contract's zones GeoJSON); additive metrics are the sum of those cells' noisy "
                    "values, distinct people are released per zone",
            "zones": [{"id": zone_id, "cells": len(cells)}
                      for zone_id, cells in zone_cells(contract.zones, contract.h3_resolution)]}
    return package


def with_coordinates_columns(columns: list[str]) -> list[str]:
    """Column names of the CSV files: ``columns`` with cell centre coordinates after the cell columns."""
    return list(with_coordinates(pd.DataFrame({c: pd.Series(dtype=object) for c in columns})).columns)


def readme(contract: Contract, manifest: dict, package: dict[str, Any]) -> str:
    """A short README.md for the delivery folder: what, when, licence, contacts, files, columns, method."""
    lines = [f"# {contract.name}", "", contract.purpose, "",
             f"- Contract: `{contract.id}` version {contract.version}; buyer `{contract.buyer}`; "
             f"supplier(s) {', '.join(contract.suppliers)}",
             f"- Delivery: `{manifest['delivery_id']}`, local dates {manifest['window_start']} to "
             f"{manifest['window_end']} (end exclusive, Europe/Copenhagen)",
             f"- Licence: {package['licenses'][0]['title']}"]
    for person in package["contributors"]:
        lines.append(f"- Contact ({person['role']}): {person['title']}"
                     + (f" <{person['email']}>" if person.get("email") else ""))
    lines += ["", "## Files", ""]
    for resource in package["resources"]:
        lines.append(f"- `{resource['path']}` ({resource['format']}): "
                     + next(e["rows"] for e in manifest["files"] if e["name"] == resource["path"]).__str__()
                     + " rows")
    lines += ["- `manifest.json`: sha256 of every file and the privacy terms",
              "- `datapackage.json`: the Frictionless Data Package (Table Schema of every table)", "",
              "## Columns", ""]
    for name in with_coordinates_columns(manifest["columns"]):
        kind, unit, description = FIELDS[name]
        lines.append(f"- `{name}` ({kind}{', ' + unit if unit else ''}): {description}")
    lines += ["", "## Method and privacy", "", package["method"], ""]
    if package.get("marketShare"):
        share = package["marketShare"]
        lines += [f"`population_estimate` is an ESTIMATE: `estimate` (or `value` where `estimate` is empty, "
                  f"which is biased upwards near k) / {share['share']:g}, the share of the area's "
                  f"population the supplier states it observes (source: {share['source']}). Its 95% interval "
                  "covers the noise" + (" and the stated range of the share" if share.get("range") else "")
                  + ", not errors in the share itself.", ""]
    if package.get("zones"):
        lines += [f"Values are per zone of the contract: {package['zones']['rule']}. Each zone sum states its own "
                  "`ci95_half_width` (more cells, more noise); the zones and their cell counts are in "
                  "`datapackage.json` (`zones`).", ""]
    lines += ["Suppressed values are empty (CSV), null (Parquet, GeoJSON), never 0. Sums over cells or hours "
              "add the noise of every term: use `estimate` for sums where it is filled.", ""]
    # say why a metric's estimate column is empty, so a buyer does not read it as missing data
    for figures in manifest["privacy"]["metrics"]:
        note = figures.get("post_processing") or ""
        if note.startswith("no estimate"):  # jobs/privacy/postprocess.py and zone sums word it so
            lines += [f"`estimate` of {figures['metric']} is empty in this delivery: {note}.", ""]
    return "\n".join(lines)


def write_package(contract: Contract, manifest: dict, folder: Path) -> None:
    """Write ``datapackage.json`` and ``README.md`` into a delivery folder (after its data files)."""
    package = datapackage(contract, manifest, manifest["columns"])
    (folder / "datapackage.json").write_text(json.dumps(package, indent=2, default=str))
    (folder / "README.md").write_text(readme(contract, manifest, package))
