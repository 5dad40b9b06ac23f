"""What every delivery format is made of: the ``DeliveryFormat`` and the product it writes from.

A format is one module under ``jobs/publish/formats/`` that defines ``FORMAT``: the value a contract names
in ``formats``, the file it writes, how it writes it and counts its rows back, its Frictionless resource and
its line in the delivery's README. Shared pieces (cell centres, GeoJSON geometries) are here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h3

from jobs.common.columns import PLACE_COLUMNS, table_schema
from jobs.common.h3cells import cell_polygon
from jobs.contracts import zone_centres

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


@dataclasses.dataclass(frozen=True)
class Product:
    """The rows one delivery writes, in the two shapes the writers take.

    Attributes
    ----------
    table : pyarrow.Table
        The product columns (no ``delivery_id``) with their catalogued Arrow types.
    frame : pandas.DataFrame
        The same rows, for the text and geographic files.
    zones : tuple or None
        The contract's zones ((id, GeoJSON geometry), ...) for a zone product's coordinates and geometries.
    """

    table: pa.Table
    frame: pd.DataFrame
    zones: tuple | None = None

    @property
    def columns(self) -> list[str]:
        """The product's columns, in file order."""
        return list(self.table.column_names)


@dataclasses.dataclass(frozen=True)
class DeliveryFormat:
    """One way to deliver a product: a file in the delivery folder.

    Attributes
    ----------
    name : str
        The value in a contract's ``formats`` (and the terms schema's enum).
    file_name : str
        The file it writes in the delivery folder.
    order : int
        Its place among the files of a delivery (manifest, Data Package and README list files in this order).
    frictionless_format : str
        The Data Package resource's ``format``.
    mediatype : str
        The resource's media type.
    summary : str
        Its line in the delivery's README: what the file is and who it is for.
    write : callable
        ``(product, path) -> None``: writes the file.
    count_rows : callable
        ``(path) -> int``: data rows (or features) of a written file, read from the file itself.
    columns : callable
        ``(product columns) -> file columns``: the columns the file holds (coordinates added, a UTC time).
    resource : callable
        ``(file columns) -> dict``: the Frictionless resource fields beyond name, path, format, media type,
        hash and bytes (type, schema, dialect, encoding, description).
    hashed : bool
        Whether the resource states the file's sha256 and bytes (Frictionless checks those of text files only).
    """

    name: str
    file_name: str
    order: int
    frictionless_format: str
    mediatype: str
    summary: str
    write: Callable[[Product, Path], None]
    count_rows: Callable[[Path], int]
    columns: Callable[[list[str]], list[str]] = list
    resource: Callable[[list[str]], dict[str, Any]] | None = None
    hashed: bool = True

    def describe(self, columns: list[str]) -> dict[str, Any]:
        """The Frictionless resource fields of this format for a product with these columns."""
        fields = self.resource(self.columns(columns)) if self.resource is not None else {}
        return {"type": fields.pop("type"), "mediatype": self.mediatype, **fields} if "type" in fields else \
            {"mediatype": self.mediatype, **fields}


def tabular(decimal_comma: bool = False, **extra: Any) -> Callable[[list[str]], dict[str, Any]]:
    """A resource builder for a table file: ``type: table`` and the Table Schema of the file's columns."""

    def resource(file_columns: list[str]) -> dict[str, Any]:
        return {"type": "table", **extra, "schema": table_schema(file_columns, decimal_comma=decimal_comma)}

    return resource


def place_columns(columns) -> list[tuple[str, str]]:
    """The place columns of a product with the prefix of their coordinate columns."""
    for places in PLACE_COLUMNS:
        if places[0] in columns:
            if len(places) == 2:
                return [(places[0], "origin_"), (places[1], "destination_")]
            return [(places[0], "")]
    return [("h3_cell", "")]


def point(place: str, centres: dict | None) -> tuple[float, float]:
    """(latitude, longitude) of a cell centre, or of a zone's representative point when ``centres`` is given."""
    if centres is not None:
        return centres[place]
    lat, lng = h3.cell_to_latlng(place)
    return round(lat, 6), round(lng, 6)


def zone_lookups(zones) -> tuple[dict | None, dict | None]:
    """The zones' geometries and representative points by id (None, None for a cell product)."""
    return (None, None) if not zones else (dict(zones), zone_centres(zones))


def with_coordinates(frame: pd.DataFrame, zones=None) -> pd.DataFrame:
    """Add latitude / longitude columns after the place columns (CSV files): each cell's centre, or a point
    inside each zone for a zone product (``zones``: the contract's (id, geometry) pairs)."""
    _, centres = zone_lookups(zones)
    out = frame.copy()
    places = place_columns(out.columns)
    position = max(out.columns.get_loc(column) for column, _ in places) + 1
    for column, prefix in places:
        points = [point(place, centres) for place in out[column]]
        out.insert(position, f"{prefix}latitude", [p[0] for p in points])
        out.insert(position + 1, f"{prefix}longitude", [p[1] for p in points])
        position += 2
    return out


def with_coordinates_columns(columns: list[str]) -> list[str]:
    """Column names of the files with coordinates: ``columns`` with cell centre coordinates after the cells."""
    out = list(columns)
    places = place_columns(out)
    position = max(out.index(column) for column, _ in places) + 1
    for _, prefix in places:
        out[position:position] = [f"{prefix}latitude", f"{prefix}longitude"]
        position += 2
    return out


def geometry(row: dict[str, Any], shapes: dict | None, centres: dict | None) -> dict[str, Any]:
    """GeoJSON geometry of a product row: a cell (or zone) polygon, an OD line between cell centres (or zone
    points), or a point for a pair that starts and ends in one place."""
    (origin, _), *rest = place_columns(row)
    if not rest:
        if shapes is not None:
            return shapes[row[origin]]
        return {"type": "Polygon", "coordinates": [cell_polygon(row[origin])]}
    destination = rest[0][0]
    a_lat, a_lng = point(row[origin], centres)
    if row[origin] == row[destination]:  # a zero-length line draws nothing in QGIS
        return {"type": "Point", "coordinates": [a_lng, a_lat]}
    b_lat, b_lng = point(row[destination], centres)
    return {"type": "LineString", "coordinates": [[a_lng, a_lat], [b_lng, b_lat]]}


def geometries(product: Product) -> list[dict[str, Any]]:
    """The GeoJSON geometry of every row of a product, in row order."""
    shapes, centres = zone_lookups(product.zones)
    return [geometry(row, shapes, centres) for row in product.frame[product.columns].to_dict("records")]


def text_flags(product: Product) -> pd.DataFrame:
    """The product's rows for a text file: coordinates added, ``suppressed`` as ``true`` / ``false``
    (suppressed values stay empty fields, never 0)."""
    return with_coordinates(product.frame[product.columns], product.zones).assign(
        suppressed=product.frame["suppressed"].map({True: "true", False: "false"}))
