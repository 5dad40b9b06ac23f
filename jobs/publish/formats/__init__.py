"""Delivery formats: one module per format, each defining ``FORMAT`` (a ``DeliveryFormat``).

The registry is discovered from the modules of this package, so a new format is one module here plus its
test; the terms schema's ``formats`` enum is tested against it (``tests/unit/publish/test_formats.py``).
Nothing else lists formats: ``jobs/publish/deliver.py`` writes the files a contract names, the manifest
counts their rows with the format's own reader, and the Data Package and README take each format's
resource and line (docs/extending.md).

| module | file | for |
|---|---|---|
| ``parquet`` | ``data.parquet`` | typed columns, ``bin_start_utc`` |
| ``csv`` | ``data.csv`` | UTF-8, commas, cell centre coordinates |
| ``csv_excel`` | ``data_excel.csv`` | Excel in a comma-decimal locale |
| ``geojson`` | ``data.geojson`` | features for a map |
| ``geoparquet`` | ``data.geoparquet`` | typed rows with WKB geometries |
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from jobs.publish.formats.base import DeliveryFormat, Product

__all__ = ["DeliveryFormat", "Product", "by_file_name", "formats", "get_format", "write_files"]

_NOT_FORMATS = {"base"}


@cache
def formats() -> dict[str, DeliveryFormat]:
    """Every delivery format of this package by its contract name, in delivery order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_FORMATS or info.name.startswith("_"):
            continue
        fmt = importlib.import_module(f"{__name__}.{info.name}").FORMAT
        if fmt.name != info.name:
            raise ImportError(f"format module {info.name} defines FORMAT {fmt.name!r}: name them alike")
        found.append(fmt)
    return {fmt.name: fmt for fmt in sorted(found, key=lambda f: f.order)}


def get_format(name: str) -> DeliveryFormat:
    """The format a contract names; ``KeyError`` naming the known formats otherwise."""
    if name not in formats():
        raise KeyError(f"no delivery format {name!r} (known: {', '.join(formats())})")
    return formats()[name]


def by_file_name(file_name: str) -> DeliveryFormat | None:
    """The format that writes this file of a delivery folder, or None."""
    return next((f for f in formats().values() if f.file_name == file_name), None)


def write_files(product: Product, folder: Path, names: tuple[str, ...]) -> list[tuple[str, int]]:
    """Write the files of the formats a contract names into ``folder``, in delivery order.

    Returns
    -------
    list of (str, int)
        Each file's name and its data rows (the manifest's check counts them back with ``count_rows``).
    """
    written = []
    for fmt in formats().values():
        if fmt.name in names:
            fmt.write(product, folder / fmt.file_name)
            written.append((fmt.file_name, len(product.frame)))
    return written
