"""``csv``: ``data.csv``, UTF-8 with commas, cell centre latitude and longitude after the cell columns;
suppressed values are empty fields."""

from __future__ import annotations

from pathlib import Path

from jobs.publish.formats.base import DeliveryFormat, Product, tabular, text_flags, with_coordinates_columns


def _write(product: Product, path: Path) -> None:
    text_flags(product).to_csv(path, index=False, na_rep="", lineterminator="\n")


def count_csv_rows(path: Path) -> int:
    """Data rows of a CSV file (the header and blank lines not counted)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        return sum(1 for line in f if line.strip()) - 1


FORMAT = DeliveryFormat(
    name="csv", file_name="data.csv", order=20, frictionless_format="csv", mediatype="text/csv",
    summary="comma-separated UTF-8 with cell centre coordinates; suppressed values are empty fields",
    write=_write, count_rows=count_csv_rows, columns=with_coordinates_columns,
    resource=tabular(encoding="utf-8"),
)
