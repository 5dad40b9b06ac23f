"""``geojson``: ``data.geojson``, the product's rows as features (EPSG:4326): cells (or zones) as polygons,
origin-destination pairs as lines between cell centres (zone points), a point where both are one place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from jobs.common.columns import PRODUCT_COLUMNS
from jobs.publish.formats.base import DeliveryFormat, Product, geometries


def json_value(column: str, value: Any) -> Any:
    """A product value as JSON: null where missing, integers as numbers, flags as booleans."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if PRODUCT_COLUMNS[column].kind == "integer":
        return int(value)
    if column == "suppressed":
        return bool(value)
    return value


def feature_collection(product: Product) -> dict:
    """The product as a GeoJSON FeatureCollection; every column a property, null where suppressed."""
    rows = product.frame[product.columns].to_dict("records")
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": shape, "properties": {k: json_value(k, v) for k, v in row.items()}}
        for row, shape in zip(rows, geometries(product), strict=True)]}


def _write(product: Product, path: Path) -> None:
    path.write_text(json.dumps(feature_collection(product)))


def _count(path: Path) -> int:
    return len(json.loads(path.read_text())["features"])


FORMAT = DeliveryFormat(
    name="geojson", file_name="data.geojson", order=40, frictionless_format="geojson",
    mediatype="application/geo+json",
    summary="features for a map (QGIS, a web map): cell polygons, OD lines; the same properties as data.csv",
    write=_write, count_rows=_count,
    resource=lambda columns: {
        "description": "the product's rows as features (EPSG:4326); same properties as data.csv"},
)
