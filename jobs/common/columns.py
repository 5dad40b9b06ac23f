"""The catalog of product columns: every column a release, a delivery file or a data package may hold.

One entry per column (name, Arrow type, Frictionless type, unit, description, whether a value is required,
whether it is part of a row's key), read by the release schema (``jobs/privacy/release.py``), the delivery
files (``jobs/publish/deliver.py``, ``jobs/publish/formats/``), the Data Package and the README
(``jobs/publish/package.py``) and the generated reference (docs/reference/columns.md). A new column is one
entry here. Light at import: pyarrow is loaded only by ``arrow_schema``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


@dataclasses.dataclass(frozen=True)
class ProductColumn:
    """One column of a product.

    Attributes
    ----------
    name : str
        The column's name in every file.
    arrow : str
        Its Arrow type: ``string``, ``int32``, ``int64``, ``bool``, ``float64`` or ``timestamp_utc``.
    kind : str
        Its Frictionless Table Schema type (``string``, ``integer``, ``number``, ``boolean``, ``datetime``, ``any``).
    unit : str or None
        The unit of its values (``degree``, ``minute``, ``people``; ``see metric`` where the metric says).
    description : str
        What it holds, for the buyer.
    required : bool
        Every row has a value (a Table Schema ``required`` constraint).
    key : bool
        Part of a row's key (the Table Schema ``primaryKey``).
    """

    name: str
    arrow: str
    kind: str
    unit: str | None
    description: str
    required: bool = False
    key: bool = False


_POINT = "(WGS 84; for a zone, a point inside it)"

COLUMNS: tuple[ProductColumn, ...] = (
    ProductColumn("delivery_id", "string", "string", None, "the delivery the row belongs to"),
    ProductColumn("h3_cell", "string", "string", None, "H3 cell index (hex string) at the contract's resolution",
                  required=True, key=True),
    ProductColumn("origin_h3", "string", "string", None, "H3 cell (hex) where the trips start", required=True,
                  key=True),
    ProductColumn("destination_h3", "string", "string", None, "H3 cell (hex) where the trips end", required=True,
                  key=True),
    ProductColumn("zone", "string", "string", None, "the buyer's zone (its id in the contract's zones GeoJSON)",
                  required=True, key=True),
    ProductColumn("origin_zone", "string", "string", None, "the buyer's zone where the trips start", required=True,
                  key=True),
    ProductColumn("destination_zone", "string", "string", None, "the buyer's zone where the trips end",
                  required=True, key=True),
    ProductColumn("latitude", "float64", "number", "degree", f"latitude of the cell centre {_POINT}"),
    ProductColumn("longitude", "float64", "number", "degree", f"longitude of the cell centre {_POINT}"),
    ProductColumn("origin_latitude", "float64", "number", "degree", f"latitude of the origin cell centre {_POINT}"),
    ProductColumn("origin_longitude", "float64", "number", "degree",
                  f"longitude of the origin cell centre {_POINT}"),
    ProductColumn("destination_latitude", "float64", "number", "degree",
                  f"latitude of the destination cell centre {_POINT}"),
    ProductColumn("destination_longitude", "float64", "number", "degree",
                  f"longitude of the destination cell centre {_POINT}"),
    ProductColumn("bin_start", "string", "string", None,
                  "start of the time bin, ISO-8601 local time in the region's time zone with its UTC offset (the "
                  "repeated hour of a 25-hour day stays distinct)", required=True, key=True),
    ProductColumn("bin_start_utc", "timestamp_utc", "datetime", None, "start of the time bin as a UTC timestamp"),
    ProductColumn("bin_minutes", "int32", "integer", "minute", "width of the time bin", required=True),
    ProductColumn("segment", "string", "string", None,
                  "residents, commuters, visitors or tourists (the supplier's classification)", key=True),
    ProductColumn("country", "string", "string", None,
                  "home country of the people counted (ISO 3166-1 alpha-2)", key=True),
    ProductColumn("mode", "string", "string", None, "transport mode of the trips", key=True),
    ProductColumn("metric", "string", "string", None,
                  ("what the value counts: unique_people, present_population (in hundredths of a person), footfall, "
                   "dwell_minutes, od_trips or camera_count"),
                  required=True, key=True),
    ProductColumn("value", "int64", "integer", "see metric",
                  "differentially private count (noise added to the true bounded count); empty when suppressed"),
    ProductColumn("ci95_half_width", "int64", "integer", "see metric",
                  "half-width of the noise's 95% interval: over all keys of the domain, suppressed ones included, "
                  "value lies within this of the true bounded count for 95% of them. Among released values near k "
                  "it covers less (noise lifted some over k): use ci95_low / ci95_high, or estimate and its "
                  "interval, there; empty when suppressed"),
    ProductColumn("ci95_low", "int64", "integer", "see metric",
                  "lower end of the release-conditional 95% interval of the true bounded count: given that this "
                  "value was released (its noisy value reached the threshold), the interval holds the truth 95% "
                  "of the time for every true count, near k too; 0 where an empty key lifted by noise cannot be "
                  "ruled out; empty when suppressed"),
    ProductColumn("ci95_high", "int64", "integer", "see metric",
                  "upper end of the release-conditional 95% interval (see ci95_low); empty when suppressed"),
    ProductColumn("estimate", "int64", "integer", "see metric",
                  "post-processed value (empirical Bayes over the noisy values, no privacy cost): better for sums "
                  "and small values; empty when suppressed"),
    ProductColumn("estimate_ci95_half_width", "int64", "integer", "see metric",
                  "half-width of the 95% interval of estimate"),
    ProductColumn("population_estimate", "int64", "integer", "people",
                  "ESTIMATE of the whole population: estimate (value where estimate is empty) divided by the "
                  "supplier's stated market share (see the package's marketShare); empty when suppressed"),
    ProductColumn("population_ci95_low", "int64", "integer", "people",
                  "lower end of the 95% interval of population_estimate"),
    ProductColumn("population_ci95_high", "int64", "integer", "people",
                  "upper end of the 95% interval of population_estimate"),
    ProductColumn("suppressed", "bool", "boolean", None,
                  "true when the noisy value was below k and is withheld (value empty)", required=True),
    ProductColumn("geometry", "binary", "any", None,
                  "WKB geometry (EPSG:4326): cell polygon, OD line, or a point for a same-cell OD pair"),
)
PRODUCT_COLUMNS: dict[str, ProductColumn] = {column.name: column for column in COLUMNS}

#: the columns that split a release by a public list of values (``jobs/privacy/measures/segments.py``)
SEGMENT_COLUMNS: tuple[str, ...] = ("segment", "country", "mode")
#: the place columns of a key: one cell or zone, or an origin and a destination
PLACE_COLUMNS: tuple[tuple[str, ...], ...] = (("h3_cell",), ("origin_h3", "destination_h3"), ("zone",),
                                              ("origin_zone", "destination_zone"))


def product_columns(od: bool, segments: Iterable[str] = (), zones: bool = False) -> list[str]:
    """Columns of a product file: cells (or the contract's zones) or origin/destination, bins, segments,
    values, the noise's 95% interval half-width and the release-conditional 95% interval of each released
    value, and the post-processed estimate with its own."""
    if zones:
        places = ["origin_zone", "destination_zone"] if od else ["zone"]
    else:
        places = ["origin_h3", "destination_h3"] if od else ["h3_cell"]
    return [*places, "bin_start", "bin_minutes", *segments, "metric", "value", "ci95_half_width", "ci95_low",
            "ci95_high", "estimate", "estimate_ci95_half_width", "suppressed"]


def arrow_type(name: str) -> pa.DataType:
    """The Arrow type of a catalogued column."""
    import pyarrow as pa

    types = {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64(), "bool": pa.bool_(),
             "float64": pa.float64(), "timestamp_utc": pa.timestamp("us", tz="UTC"), "binary": pa.binary()}
    return types[PRODUCT_COLUMNS[name].arrow]


def arrow_schema(columns: Iterable[str]) -> pa.Schema:
    """The Arrow schema of a product with these (catalogued) columns, in order."""
    import pyarrow as pa

    return pa.schema([(name, arrow_type(name)) for name in columns])


def table_schema(columns: Iterable[str], decimal_comma: bool = False) -> dict[str, Any]:
    """The Frictionless Table Schema of a product file with these columns, in order.

    Parameters
    ----------
    columns : iterable of str
        Catalogued column names.
    decimal_comma : bool
        Numbers are written with a decimal comma (the Excel CSV).
    """
    columns = list(columns)
    fields = []
    for name in columns:
        column = PRODUCT_COLUMNS[name]
        field: dict[str, Any] = {"name": name, "type": column.kind, "description": column.description}
        if column.unit:
            field["unit"] = column.unit
        if column.kind == "boolean":
            field.update(trueValues=["true"], falseValues=["false"])
        if column.kind == "number" and decimal_comma:
            field["decimalChar"] = ","
        if column.required:
            field["constraints"] = {"required": True}
        fields.append(field)
    keys = [name for name in columns if PRODUCT_COLUMNS[name].key]
    return {"fields": fields, "missingValues": [""], "primaryKey": keys}


def column_line(name: str) -> str:
    """One README line for a column: its name, type, unit and description."""
    column = PRODUCT_COLUMNS[name]
    return f"- `{name}` ({column.kind}{', ' + column.unit if column.unit else ''}): {column.description}"
