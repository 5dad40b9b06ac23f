"""``parquet``: ``data.parquet``, the product with its catalogued types and ``bin_start_utc`` beside the local
``bin_start`` (a timestamp a dataframe library reads without parsing offsets)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.common.columns import arrow_type
from jobs.publish.formats.base import DeliveryFormat, Product, tabular


def with_bin_start_utc(columns: list[str]) -> list[str]:
    """The file's columns: ``bin_start_utc`` right after ``bin_start``."""
    at = columns.index("bin_start") + 1
    return [*columns[:at], "bin_start_utc", *columns[at:]]


def _write(product: Product, path: Path) -> None:
    instants = [dt.datetime.fromisoformat(text).astimezone(dt.UTC) for text in product.frame["bin_start"]]
    at = product.columns.index("bin_start") + 1
    table = product.table.add_column(at, pa.field("bin_start_utc", arrow_type("bin_start_utc")),
                                     pa.array(instants, type=arrow_type("bin_start_utc")))
    pq.write_table(table, path)


def count_parquet_rows(path: Path) -> int:
    """Rows of a Parquet file, from its footer."""
    return pq.ParquetFile(path).metadata.num_rows


FORMAT = DeliveryFormat(
    name="parquet", file_name="data.parquet", order=10, frictionless_format="parquet",
    mediatype="application/vnd.apache.parquet",
    summary="typed columns (integers stay integers, suppressed values are null) and bin_start_utc as a timestamp",
    write=_write, count_rows=count_parquet_rows, columns=with_bin_start_utc, resource=tabular(), hashed=False,
)
