"""``ndjson``: ``data.ndjson``, newline-delimited JSON (one object per row, UTF-8, ``\\n`` line ends) for
buyers who stream rows into a queue or a log pipeline; the columns of ``data.parquet`` without
``bin_start_utc``, integers as JSON numbers, suppressed values as ``null``."""

from __future__ import annotations

import json
from pathlib import Path

from jobs.publish.formats.base import DeliveryFormat, Product
from jobs.publish.formats.geojson import json_value


def _write(product: Product, path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for row in product.frame[product.columns].to_dict("records"):
            out.write(json.dumps({k: json_value(k, v) for k, v in row.items()}, separators=(",", ":")) + "\n")


def _count(path: Path) -> int:
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


FORMAT = DeliveryFormat(
    name="ndjson", file_name="data.ndjson", order=60, frictionless_format="ndjson",
    mediatype="application/x-ndjson",
    summary="one JSON object per line, for streaming; integers as numbers, suppressed values null",
    write=_write, count_rows=_count,
    resource=lambda columns: {"description": "one JSON object per row with the columns of data.parquet "
                                             "(without bin_start_utc); null where suppressed"},
)
