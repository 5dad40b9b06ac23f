"""Reading supplier CSV files into records, in Spark executors, with exact accounting.

A record is a CSV record (header and blank lines excluded). Each record becomes one row carrying its
file name, line number, byte length and the SHA-256 of its bytes; its fields are strings, by header name.
A record that cannot be read (bad encoding, wrong number of fields, a header without a required column)
is marked ``unparseable`` and its fields are dropped: the supplier finds the line in its own file.
Handles a UTF-8 byte-order mark, CRLF line endings and quoted fields (also fields spanning lines).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

BATCH_ROWS = 100_000
# A field longer than this is no supplier value; the record is unparseable (guards executor memory).
MAX_FIELD_CHARS = 4_096
META_COLUMNS = ["source_file", "line_number", "raw_length", "raw_hash", "parse_error"]


def record_schema(fields: Sequence[str]) -> str:
    """Spark DDL schema of raw records: metadata columns then one string column per field."""
    meta = "source_file string, line_number long, raw_length long, raw_hash string, parse_error string"
    return meta + "".join(f", {name} string" for name in fields)


def _physical_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (1-based line number, line bytes without the line break)."""
    yield from enumerate(data.splitlines(), start=1)


def parse_csv_bytes(data: bytes, file_name: str, fields: Sequence[str]) -> Iterator[dict]:
    """Parse one supplier CSV file's bytes into record dicts (see the module docstring).

    Parameters
    ----------
    data : bytes
        The file's content.
    file_name : str
        Name recorded with each record.
    fields : sequence of str
        Required columns, looked up in the header by name (case and surrounding spaces ignored).

    Yields
    ------
    dict
        One dict per record with the metadata columns and the field strings (None when unparseable).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = list(_physical_lines(data))
    while lines and not lines[-1][1].strip():
        lines.pop()  # trailing blank lines are not records
    header_at = next((i for i, (_, raw) in enumerate(lines) if raw.strip()), None)
    if header_at is None:
        return
    header_error = None
    try:
        header = next(csv.reader([lines[header_at][1].decode("utf-8")]))
        names = [h.strip().lower() for h in header]
        missing = [f for f in fields if f not in names]
        if missing:
            header_error = f"header lacks {', '.join(missing)}"
        positions = [names.index(f) if f in names else -1 for f in fields]
    except (UnicodeDecodeError, csv.Error):
        header_error, positions, names = "header is not UTF-8 CSV", [], []

    i = header_at + 1
    while i < len(lines):
        number, raw = lines[i]
        i += 1
        if not raw.strip():
            continue
        text_lines = [raw]
        row = {"source_file": file_name, "line_number": number, "parse_error": None}
        fields_out: dict[str, str | None] = dict.fromkeys(fields)
        error = header_error
        if error is None:
            try:
                text = raw.decode("utf-8")
                # A quoted field may hold a line break: join physical lines until the quotes balance.
                while text.count('"') % 2 == 1 and i < len(lines):
                    text_lines.append(lines[i][1])
                    text += "\n" + lines[i][1].decode("utf-8")
                    i += 1
                parsed = next(csv.reader(io.StringIO(text), strict=True))
                if len(parsed) != len(names):
                    error = f"{len(parsed)} fields, header has {len(names)}"
                elif any(len(v) > MAX_FIELD_CHARS for v in parsed):
                    error = "field longer than 4096 characters"
                else:
                    for name, pos in zip(fields, positions, strict=True):
                        fields_out[name] = parsed[pos].strip()
            except UnicodeDecodeError:
                error = "not UTF-8"
            except (csv.Error, StopIteration) as exc:
                error = f"CSV error: {exc}"[:120]
        joined = b"\n".join(text_lines)
        row["raw_length"] = len(joined)
        row["raw_hash"] = hashlib.sha256(joined).hexdigest()
        if error is not None:
            row["parse_error"] = error
            fields_out = dict.fromkeys(fields)
        row.update(fields_out)
        yield row


def _read_files_batches(paths: Iterator[pd.DataFrame], fields: Sequence[str],
                        counter: Any = None) -> Iterator[pd.DataFrame]:
    columns = META_COLUMNS + list(fields)
    for batch in paths:
        for path in batch["path"]:
            rows = []
            for record in parse_csv_bytes(Path(path).read_bytes(), Path(path).name, fields):
                rows.append(record)
                if len(rows) >= BATCH_ROWS:
                    if counter is not None:
                        counter.add(len(rows))
                    yield pd.DataFrame(rows, columns=columns)
                    rows = []
            if rows:
                if counter is not None:
                    counter.add(len(rows))
                yield pd.DataFrame(rows, columns=columns)


def read_csv_records(spark: SparkSession, files: Sequence[Path], fields: Sequence[str],
                     counter: Any = None) -> DataFrame:
    """Read supplier CSV files into a DataFrame of records, one Spark task per file.

    Parameters
    ----------
    spark : SparkSession
        The process's session.
    files : sequence of Path
        Landing files of one feed and date.
    fields : sequence of str
        Required columns of the feed.
    counter : pyspark.Accumulator, optional
        Incremented by the number of records read (an independent count for the accounting check).

    Returns
    -------
    DataFrame
        Metadata columns plus one string column per field (see ``record_schema``).
    """
    names = [str(p) for p in files]
    paths = spark.createDataFrame([(p,) for p in names], "path string").repartition(max(len(names), 1))
    fields = list(fields)
    return paths.mapInPandas(lambda it: _read_files_batches(it, fields, counter), record_schema(fields))
