"""``csv_excel``: ``data_excel.csv``, for a spreadsheet in a comma-decimal locale: semicolons, decimal commas,
UTF-8 with a byte-order mark and CRLF line ends, so it opens in columns in a Danish or German Excel."""

from __future__ import annotations

from pathlib import Path

from jobs.publish.formats.base import DeliveryFormat, Product, tabular, text_flags, with_coordinates_columns
from jobs.publish.formats.csv import count_csv_rows


def _write(product: Product, path: Path) -> None:
    text_flags(product).to_csv(path, index=False, na_rep="", sep=";", decimal=",", encoding="utf-8-sig",
                               lineterminator="\r\n")


FORMAT = DeliveryFormat(
    name="csv_excel", file_name="data_excel.csv", order=30, frictionless_format="csv", mediatype="text/csv",
    summary="the same rows for Excel in a comma-decimal locale: semicolons, decimal commas, a byte-order mark",
    write=_write, count_rows=count_csv_rows, columns=with_coordinates_columns,
    resource=tabular(decimal_comma=True, encoding="utf-8-sig", dialect={"delimiter": ";"}),
)
