"""A self-describing delivery: the data files, a Frictionless Data Package and a README for the buyer.

Every delivery folder holds, beside the data files and ``manifest.json``:

- ``datapackage.json``: a Frictionless Data Package (https://specs.frictionlessdata.io/data-package/) with
  one resource per data file, a Table Schema per tabular file (every field's type, unit and description),
  the licence from the contract, the buyer's and supplier's contacts, and the method and privacy terms;
- ``README.md``: the same in words, for whoever opens the folder first.

The data files are the formats' (``jobs/publish/formats/``: one module per format, each with its writer,
its row count, its Frictionless resource and its README line); the columns are the catalog's
(``jobs/common/columns.py``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.common import settings
from jobs.common.columns import column_line
from jobs.contracts import zone_cells
from jobs.publish.formats import by_file_name, formats
from jobs.publish.formats.base import with_coordinates_columns
from jobs.publish.placement import placement_lines

if TYPE_CHECKING:
    import pandas as pd

    from jobs.contracts import Contract

LICENSES = {
    "CC-BY-4.0": ("https://creativecommons.org/licenses/by/4.0/", "Creative Commons Attribution 4.0"),
    "CC0-1.0": ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0 1.0 Public Domain Dedication"),
    "ODbL-1.0": ("https://opendatacommons.org/licenses/odbl/1-0/", "Open Data Commons Open Database License"),
    "NLOD-2.0": ("https://data.norge.no/nlod/en/2.0", "Norwegian Licence for Open Government Data 2.0"),
}
DEFAULT_LICENSE = {"name": "LicenseRef-CDE-contract",
                   "title": "Licensed to the buyer under the data contract named in this package; "
                            "not for redistribution beyond its usage terms"}

def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def data_rows(path: Path) -> int:
    """Data rows (or features) of a delivered file, counted from the file itself by its format.

    Raises
    ------
    ValueError
        No delivery format writes a file of this name.
    """
    fmt = by_file_name(path.name)
    if fmt is None:
        raise ValueError(f"{path.name}: no delivery format writes this file (known: "
                         f"{', '.join(f.file_name for f in formats().values())})")
    return fmt.count_rows(path)


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


def thresholds_text(privacy: dict) -> str:
    """The suppression threshold of each metric in its unit (``manifest["privacy"]["thresholds"]``), as one
    phrase: ``219 people``, or ``102 trips (k 34 people x at most 3 trips each)``, by metric when several."""
    thresholds = privacy.get("thresholds") or {"": f"k = {privacy['k']}"}  # manifests made before thresholds
    if len(thresholds) == 1:
        return next(iter(thresholds.values()))
    return "; ".join(f"{metric}: {text}" for metric, text in thresholds.items())


def contents(product: pd.DataFrame) -> list[dict[str, Any]]:
    """What a delivery holds, per metric: rows, rows with a value (released), suppressed rows, and the
    smallest and largest released value (None when nothing was released): the README's first lines."""
    found = []
    for metric, rows in product.groupby("metric", sort=True):
        values = rows["value"].dropna()
        held = {"metric": str(metric), "rows": int(len(rows)), "released": int(len(values)),
                "suppressed": int(rows["suppressed"].astype(bool).sum()),
                "smallest": int(values.min()) if len(values) else None,
                "largest": int(values.max()) if len(values) else None}
        if "population_estimate" in rows:  # released values whose population estimate was withheld
            held["population_withheld"] = int((rows["value"].notna() & rows["population_estimate"].isna()).sum())
        found.append(held)
    return found


def _contents_lines(manifest: dict) -> list[str]:
    units = {m["metric"]: m.get("value_unit", "") for m in manifest["privacy"].get("metrics", [])}
    thresholds = manifest["privacy"].get("thresholds") or {}
    lines = []
    for held in manifest.get("contents") or []:  # manifests made before contents were stated have none
        metric, unit = held["metric"], units.get(held["metric"], "")
        line = (f"- `{metric}`: {held['rows']:,} rows; {held['released']:,} carry a value, {held['suppressed']:,} "
                "are suppressed.")
        if held["released"]:
            line += f" Released values run from {held['smallest']:,} to {held['largest']:,} {unit}.".replace(" .", ".")
        lines.append(line)
        lines.append(f"  A suppressed row is a place and time whose noisy value fell below "
                     f"{thresholds.get(metric, 'k')}: few or no {unit or 'people'} were counted there. It is not "
                     "missing data, and not zero.")
    return [*lines, ""] if lines else []


def _column_difference(file_columns: list[str], product_columns: list[str]) -> str:
    """How a file's columns differ from the product's (the columns every format shares), in words."""
    added = [c for c in file_columns if c not in product_columns]
    left_out = [c for c in product_columns if c not in file_columns]
    said = ([f"adds {', '.join(f'`{c}`' for c in added)}"] if added else []) + (
        [f"leaves out {', '.join(f'`{c}`' for c in left_out)}"] if left_out else [])
    return f" (columns: the product's, and it {' and '.join(said)})" if said else " (columns: exactly the product's)"


def _bounds_text(privacy: dict) -> str:
    """The contribution bounds in words (each metric's own sentence), never as JSON."""
    said = [m["bound"] for m in privacy.get("metrics", []) if m.get("bound")]
    return "; ".join(dict.fromkeys(said)) or ", ".join(f"{k.replace('_', ' ')} {v}"
                                                        for k, v in privacy["bounds"].items())


def _method(contract: Contract, manifest: dict) -> str:
    privacy = manifest["privacy"]
    return (f"Counts from {', '.join(contract.sources)} data of {', '.join(contract.suppliers)}, pseudonymised at "
            f"ingest and bounded per person ({_bounds_text(privacy)}), released with {privacy['mechanism']} "
            f"noise (epsilon {privacy['epsilon']:g}, delta {privacy['delta']:g} for this delivery). Values whose "
            f"noisy count is below {thresholds_text(privacy)} are suppressed (empty). value +/- ci95_half_width "
            f"({privacy['ci95_half_width']} for the noisiest metric) is the noise's 95% interval over all keys of the "
            "domain, suppressed ones included; for a released value, ci95_low to ci95_high is its 95% interval "
            "given that it was released, which stays true near k.")


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
        fmt = by_file_name(name)
        resource: dict[str, Any] = {"name": name.replace(".", "-").replace("_", "-"), "path": name,
                                    "format": fmt.frictionless_format}
        if fmt.hashed:  # frictionless counts bytes and hashes of text files only
            resource.update(hash=f"sha256:{entry['sha256']}", bytes=entry["bytes"])
        resource.update(fmt.describe(columns))
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
                     "note": f"end exclusive; bins are local to {settings.LOCAL_TZ_NAME}"},
        "method": _method(contract, manifest),
        "privacy": {key: privacy[key] for key in ("k", "k_unit", "thresholds", "epsilon", "delta", "mechanism",
                                                   "bounds", "noise_scale", "ci95_half_width", "guarantee")
                    if key in privacy},
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


def readme(contract: Contract, manifest: dict, package: dict[str, Any]) -> str:
    """A short README.md for the delivery folder: what, when, licence, contacts, files, columns, method."""
    lines = [f"# {contract.name}", "", contract.purpose, "",
             f"- Contract: `{contract.id}` version {contract.version}; buyer `{contract.buyer}`; "
             f"supplier(s) {', '.join(contract.suppliers)}",
             f"- Delivery: `{manifest['delivery_id']}`, local dates {manifest['window_start']} to "
             f"{manifest['window_end']} (end exclusive, {settings.LOCAL_TZ_NAME})",
             f"- Licence: {package['licenses'][0]['title']}"]
    for person in package["contributors"]:
        lines.append(f"- Contact ({person['role']}): {person['title']}"
                     + (f" <{person['email']}>" if person.get("email") else ""))
    held = _contents_lines(manifest)
    lines += ["", "## What this delivery holds", "", *held] if held else []
    if manifest.get("placement"):
        lines += ([] if held else [""]) + ["## Where people are placed", "", *placement_lines(manifest["placement"]),
                                           ""]
        held = True
    lines += ([] if held else [""]) + ["## Files", ""]
    for entry in manifest["files"]:
        fmt = by_file_name(entry["name"])
        lines.append(f"- `{entry['name']}` ({fmt.frictionless_format}): {entry['rows']} rows; {fmt.summary}"
                     + _column_difference(fmt.columns(list(manifest["columns"])), manifest["columns"]))
    lines += ["- `manifest.json`: sha256 of every file and the privacy terms",
              "- `datapackage.json`: the Frictionless Data Package (Table Schema of every table)", "",
              "## Columns", ""]
    for name in with_coordinates_columns(manifest["columns"]):
        lines.append(column_line(name))
    lines += ["", "## Method and privacy", "", package["method"], ""]
    if package.get("marketShare"):
        share = package["marketShare"]
        lines += [f"`population_estimate` is an ESTIMATE: `estimate` (or `value` where `estimate` is empty, "
                  f"which is biased upwards near k) / {share['share']:g}, the share of the area's "
                  f"population the supplier states it observes (source: {share['source']}). Its 95% interval "
                  "covers the noise" + (" and the stated range of the share" if share.get("range") else "")
                  + ", not errors in the share itself. Where that interval is wider than the estimate itself "
                  "(every interval reaching 0 is), the three population columns are empty: such an estimate "
                  "would look informative and is not."
                  + "".join(f" {h['population_withheld']:,} of the {h['released']:,} released `{h['metric']}` "
                            "values have their estimate withheld so." for h in manifest.get("contents") or []
                            if h.get("population_withheld")), ""]
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
