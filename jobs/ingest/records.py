"""Reading supplier files into records, in Spark executors, with exact accounting.

A record is a CSV record or a JSON line (header and blank lines excluded). Each record becomes one row
carrying its file name and line number, with its fields as strings by name. A record that cannot be read
(bad encoding, wrong number of fields, not a JSON object, a header without a required column, a field
longer than ``MAX_FIELD_CHARS``) is marked with a ``parse_error``; its fields are dropped and only its byte
length and the SHA-256 of its bytes are kept: the supplier finds the line in its own file.

CSV: a UTF-8 byte-order mark, CRLF line endings, quoted fields (also fields spanning up to
``MAX_RECORD_LINES`` lines) are handled; columns are found by header name (case and spaces ignored).
JSON lines: one object per line; numbers and booleans are kept as their JSON text.
Parquet: one record per row, numbered from 1 in file order and read one row group at a time; columns are found by
name (case ignored); values become text a column at a time with Arrow (binary as lower-case hex, so an identifier
sent as bytes is pseudonymised like any other; timestamps as ISO-8601, with ``+00:00`` when the column is UTC-
adjusted and without an offset when it is naive; instants in microseconds, as Spark keeps them). A file that is not
readable Parquet is one unparseable record (its size and SHA-256 kept); a file without a required column makes each
of its rows unparseable, naming the column.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.common.objectstore import lake_path

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

BATCH_ROWS = 200_000
# A field longer than this is no supplier value; the record is unparseable (guards executor memory).
MAX_FIELD_CHARS = 4_096
# A quoted field may span lines, but an unbalanced quote must not swallow the rest of the file.
MAX_RECORD_LINES = 20
META_COLUMNS = ["source_file", "line_number", "raw_length", "raw_hash", "parse_error"]


def arrow_schema(fields: Sequence[str]) -> pa.Schema:
    """Arrow schema of raw records (the same columns as ``record_schema``)."""
    return pa.schema([("source_file", pa.string()), ("line_number", pa.int64()), ("raw_length", pa.int64()),
                      ("raw_hash", pa.string()), ("parse_error", pa.string()),
                      *[(f, pa.string()) for f in fields]])


def record_schema(fields: Sequence[str]) -> str:
    """Spark DDL schema of raw records: metadata columns then one string column per field."""
    meta = "source_file string, line_number long, raw_length long, raw_hash string, parse_error string"
    return meta + "".join(f", {name} string" for name in fields)


class _Batch:
    """Column lists of one batch of records (faster than a dict per record)."""

    def __init__(self, fields: Sequence[str]):
        self.fields = list(fields)
        self.clear()

    def clear(self) -> None:
        self.meta: dict[str, list] = {c: [] for c in META_COLUMNS}
        self.values: list[list] = [[] for _ in self.fields]

    def __len__(self) -> int:
        return len(self.meta["line_number"])

    def good(self, file_name: str, line: int, values: Sequence[str]) -> None:
        m = self.meta
        m["source_file"].append(file_name)
        m["line_number"].append(line)
        m["raw_length"].append(None)
        m["raw_hash"].append(None)
        m["parse_error"].append(None)
        for column, value in zip(self.values, values, strict=True):
            column.append(value)

    def bad(self, file_name: str, line: int, raw: bytes, error: str) -> None:
        m = self.meta
        m["source_file"].append(file_name)
        m["line_number"].append(line)
        m["raw_length"].append(len(raw))
        m["raw_hash"].append(hashlib.sha256(raw).hexdigest())
        m["parse_error"].append(error)
        for column in self.values:
            column.append(None)

    def frame(self) -> pa.RecordBatch:
        data = {**self.meta, **dict(zip(self.fields, self.values, strict=True))}
        return pa.RecordBatch.from_pydict(data, schema=arrow_schema(self.fields))


def _lines(data: bytes) -> list[bytes]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    # CRLF: drop the carriage return at line end only.
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def _csv_header(line: bytes, fields: Sequence[str],
                optional: Sequence[str]) -> tuple[list[int] | None, int, str | None]:
    try:
        header = next(csv.reader([line.decode("utf-8")]))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None, 0, "header is not UTF-8 CSV"
    names = [h.strip().lower() for h in header]
    missing = [f for f in fields if f not in names]
    if missing:
        return None, len(names), f"header lacks {', '.join(missing)}"
    return [names.index(f) if f in names else -1 for f in (*fields, *optional)], len(names), None


def _split_csv(text: str) -> list[str]:
    if '"' not in text:
        return text.split(",")
    return next(csv.reader([text], strict=True))


def _fast_csv(data: bytes, lines: list[bytes], header_at: int, positions: list[int], width: int,
              file_name: str, names: list[str], first_line: int) -> list[pa.RecordBatch] | None:
    """Vectorised parse of a chunk without quotes that is valid UTF-8 (the common case), or None.

    Splitting, field counts and trimming run in Arrow's C++ kernels; only bad records go through Python.
    """
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    body = lines[header_at + 1:]
    if not body:
        return []
    n = len(body)
    offset = header_at + 1 + first_line
    text = pa.array(body, pa.binary()).cast(pa.string())
    blank = pc.equal(pc.utf8_trim_whitespace(text), "")
    parts = pc.split_pattern(text, ",")
    counts = pc.list_value_length(parts)
    right_width = pc.equal(counts, width)
    sized = pc.if_else(right_width, parts, pa.nulls(n, parts.type))
    fields = [pc.list_element(sized, p) for p in range(width)]
    too_long = pa.array([False] * n)
    for field in fields:
        too_long = pc.or_(too_long, pc.fill_null(pc.greater(pc.utf8_length(field), MAX_FIELD_CHARS), False))
    good = pc.and_(pc.invert(blank), pc.and_(right_width, pc.invert(too_long)))
    columns = [pc.utf8_trim_whitespace(fields[p]) if p >= 0 else pa.nulls(n, pa.string()) for p in positions]
    table = pa.table({"source_file": pa.array([file_name] * n, pa.string()),
                      "line_number": pa.array(range(offset, offset + n), pa.int64()),
                      "raw_length": pa.nulls(n, pa.int64()), "raw_hash": pa.nulls(n, pa.string()),
                      "parse_error": pa.nulls(n, pa.string()),
                      **dict(zip(names, columns, strict=True))}, schema=arrow_schema(names))
    out = table.filter(good).to_batches(max_chunksize=BATCH_ROWS)
    bad = _Batch(names)
    count_list, long_list = counts.to_pylist(), too_long.to_pylist()
    for i in pc.indices_nonzero(pc.and_(pc.invert(blank), pc.invert(good))).to_pylist():
        error = (f"field longer than {MAX_FIELD_CHARS} characters" if long_list[i]
                 else f"{count_list[i]} fields, header has {width}")
        bad.bad(file_name, i + offset, body[i], error)
    if len(bad):
        out.append(bad.frame())
    return out


def parse_csv(data: bytes, file_name: str, fields: Sequence[str],
              optional: Sequence[str] = (), header: bytes | None = None,
              first_line: int = 1) -> Iterator[pa.RecordBatch]:
    """Parse one CSV file's bytes into batches of records (see the module docstring).

    Parameters
    ----------
    data : bytes
        The file's content.
    file_name : str
        Name recorded with each record.
    fields : sequence of str
        Required columns, looked up in the header by name.
    optional : sequence of str
        Columns a file may omit (their values are then null).
    header : bytes, optional
        The file's header line when ``data`` is a later chunk of the file (then ``data`` holds no header).
    first_line : int
        Line number of the first line of ``data`` in the file.

    Yields
    ------
    pyarrow.RecordBatch
        Batches with the metadata columns and one string column per field.
    """
    lines = _lines(data)
    while lines and not lines[-1].strip():
        lines.pop()  # trailing blank lines are not records
    if header is None:
        header_at = next((i for i, raw in enumerate(lines) if raw.strip()), None)
        if header_at is None:
            return
        header = lines[header_at]
    else:
        header_at = -1
    positions, width, header_error = _csv_header(header, fields, optional)
    if header_error is None and b'"' not in data:
        fast = _fast_csv(data, lines, header_at, positions, width, file_name, [*fields, *optional], first_line)
        if fast is not None:
            yield from fast
            return
    batch = _Batch([*fields, *optional])
    i = header_at + 1
    while i < len(lines):
        raw = lines[i]
        number = i + first_line
        i += 1
        if not raw.strip():
            continue
        if header_error:
            batch.bad(file_name, number, raw, header_error)
        else:
            try:
                text = raw.decode("utf-8")
                consumed = raw
                if text.count('"') % 2:
                    # A quoted field holding a line break: join lines until the quotes balance.
                    j, joined = i, text
                    while joined.count('"') % 2 and j < len(lines) and j - i < MAX_RECORD_LINES:
                        joined += "\n" + lines[j].decode("utf-8")
                        j += 1
                    if joined.count('"') % 2 == 0:
                        text, consumed, i = joined, b"\n".join(lines[i - 1:j]), j
                parsed = _split_csv(text)
                if len(parsed) != width:
                    batch.bad(file_name, number, consumed, f"{len(parsed)} fields, header has {width}")
                elif any(len(v) > MAX_FIELD_CHARS for v in parsed):
                    batch.bad(file_name, number, consumed, f"field longer than {MAX_FIELD_CHARS} characters")
                else:
                    batch.good(file_name, number, [parsed[p].strip() if p >= 0 else None for p in positions])
            except UnicodeDecodeError:
                batch.bad(file_name, number, raw, "not UTF-8")
            except csv.Error as exc:
                batch.bad(file_name, number, raw, f"CSV error: {exc}"[:120])
        if len(batch) >= BATCH_ROWS:
            yield batch.frame()
            batch.clear()
    if len(batch):
        yield batch.frame()


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(value)  # nested values stay visible to the type check, which rejects them


def parse_jsonl(data: bytes, file_name: str, fields: Sequence[str],
                optional: Sequence[str] = (), first_line: int = 1) -> Iterator[pa.RecordBatch]:
    """Parse one JSON-lines file's bytes into batches of records; keys are matched case-insensitively.

    A missing key gives a null value (the type check decides whether that field may be missing).
    """
    fields = [*fields, *optional]
    batch = _Batch(fields)
    for index, raw in enumerate(_lines(data)):
        if not raw.strip():
            continue
        number = index + first_line
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            batch.bad(file_name, number, raw, "not UTF-8")
        except ValueError as exc:
            batch.bad(file_name, number, raw, f"not JSON: {exc}"[:120])
        else:
            if not isinstance(obj, dict):
                batch.bad(file_name, number, raw, "not a JSON object")
            else:
                lowered = {str(k).strip().lower(): v for k, v in obj.items()}
                values = [_json_text(lowered.get(f)) for f in fields]
                if any(v is not None and len(v) > MAX_FIELD_CHARS for v in values):
                    batch.bad(file_name, number, raw, f"field longer than {MAX_FIELD_CHARS} characters")
                else:
                    batch.good(file_name, number, values)
        if len(batch) >= BATCH_ROWS:
            yield batch.frame()
            batch.clear()
    if len(batch):
        yield batch.frame()


def _parquet_text(value: Any) -> str | None:
    """A Parquet value as the text the type checks read (see the module docstring)."""
    import datetime as dt
    from decimal import Decimal

    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return _json_text(value)


def parse_parquet(data: Any, file_name: str, fields: Sequence[str], optional: Sequence[str] = (),
                  row_groups: tuple[int, int] | None = None, first_line: int = 1) -> Iterator[pa.RecordBatch]:
    """Parse a Parquet file (or the row groups ``[start, end)`` of it) into batches of records.

    Parameters
    ----------
    data : bytes or binary file
        The whole file's bytes, or the file opened for reading (seekable: only the footer and the row
        groups read are fetched).
    file_name : str
        Name recorded with each record.
    fields, optional : sequence of str
        Required and optional columns, looked up by name (case ignored).
    row_groups : tuple of int, optional
        The row groups to read (default: all).
    first_line : int
        Number of the first row read (rows are numbered from 1 in the file).
    """
    import pyarrow.parquet as pq

    names = [*fields, *optional]
    batch = _Batch(names)
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data) if isinstance(data, (bytes, bytearray)) else data)
        groups = range(*(row_groups or (0, parquet.num_row_groups)))
        columns = {name.strip().lower(): name for name in parquet.schema_arrow.names}
    except (pa.ArrowException, OSError, ValueError) as exc:
        if not isinstance(data, (bytes, bytearray)):
            data.seek(0)
            data = data.read()
        batch.bad(file_name, 0, data, f"not a readable Parquet file ({type(exc).__name__})")
        yield batch.frame()
        return
    missing = [f for f in fields if f not in columns]
    number = first_line
    for group in groups:
        try:
            table = parquet.read_row_group(group, columns=[columns[f] for f in names if f in columns])
        except (pa.ArrowException, OSError, ValueError) as exc:  # a damaged row group: its rows, unparseable
            rows = parquet.metadata.row_group(group).num_rows
            for _ in range(rows):
                batch.bad(file_name, number, f"{file_name}:{group}:{number}".encode(),
                          f"row group {group} is not readable ({type(exc).__name__})")
                number += 1
            continue
        if missing:  # every row unparseable, naming the columns (rare: a wrong export)
            values = {f: table.column(columns[f]).to_pylist() if f in columns else [None] * table.num_rows
                      for f in names}
            for row in range(table.num_rows):
                texts = [_parquet_text(values[f][row]) for f in names]
                batch.bad(file_name, number + row, json.dumps(texts).encode(), f"file lacks {', '.join(missing)}")
            number += table.num_rows
            if len(batch):
                yield batch.frame()
                batch.clear()
            continue
        texts = {f: _parquet_column_text(table.column(columns[f])) if f in columns
                 else pa.nulls(table.num_rows, pa.string()) for f in names}
        yield from _parquet_records(texts, names, file_name, number)
        number += table.num_rows
    if len(batch):
        yield batch.frame()


def _parquet_column_text(column: pa.ChunkedArray) -> pa.Array:
    """A Parquet column as text, vectorised (see the module docstring for the forms)."""
    column = column.combine_chunks()
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.dictionary_decode(), kind.value_type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column.cast(pa.string())
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
        return pa.array([None if v is None else v.hex() for v in column.to_pylist()], pa.string())
    if pa.types.is_timestamp(kind):
        micros = column.cast(pa.timestamp("us", "UTC" if kind.tz else None), safe=False)
        text = pc.replace_substring_regex(pc.strftime(micros, format="%Y-%m-%dT%H:%M:%S"), r"\.000000$", "")
        return pc.binary_join_element_wise(text, pa.scalar("+00:00"), "") if kind.tz else text
    if (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
            or pa.types.is_decimal(kind) or pa.types.is_date(kind)):
        return column.cast(pa.string())
    return pa.array([_parquet_text(v) for v in column.to_pylist()], pa.string())  # lists, structs, times


def _parquet_records(texts: dict[str, pa.Array], names: Sequence[str], file_name: str,
                     first: int) -> Iterator[pa.RecordBatch]:
    """Record batches of one row group's text columns; a row with a field over ``MAX_FIELD_CHARS`` unparseable."""
    rows = len(next(iter(texts.values()))) if texts else 0
    too_long = np.zeros(rows, bool)
    for text in texts.values():
        too_long |= pc.fill_null(pc.greater(pc.utf8_length(text), MAX_FIELD_CHARS), False).to_numpy(
            zero_copy_only=False)
    numbers = np.arange(first, first + rows, dtype="int64")
    good = ~too_long
    for start in range(0, rows, BATCH_ROWS):
        keep = good[start:start + BATCH_ROWS]
        n = int(keep.sum())
        mask = pa.array(keep)
        data = {"source_file": pa.array([file_name] * n, pa.string()),
                "line_number": pa.array(numbers[start:start + BATCH_ROWS][keep]),
                "raw_length": pa.nulls(n, pa.int64()), "raw_hash": pa.nulls(n, pa.string()),
                "parse_error": pa.nulls(n, pa.string()),
                **{f: texts[f].slice(start, BATCH_ROWS).filter(mask) for f in names}}
        if n:
            yield pa.RecordBatch.from_pydict(data, schema=arrow_schema(names))
    if too_long.any():
        batch = _Batch(names)
        for row in np.flatnonzero(too_long):
            values = [texts[f][int(row)].as_py() for f in names]
            batch.bad(file_name, int(numbers[row]), json.dumps(values).encode(),
                      f"field longer than {MAX_FIELD_CHARS} characters")
        yield batch.frame()


PARSERS = {"csv": parse_csv, "jsonl": parse_jsonl, "parquet": parse_parquet}
# A feed whose format is ``suffix`` takes each file's format from its name.
SUFFIXES = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl"}


def file_format_of(path: Path | str, file_format: str) -> str | None:
    """The format a landing file is read in: the feed's, or for ``suffix`` the file's own (None: unknown)."""
    if file_format != "suffix":
        return file_format
    return SUFFIXES.get(Path(str(path)).suffix.lower())


def file_columns(path: Path, file_format: str) -> list[str]:
    """The column names a CSV or Parquet landing file carries (lower-case; [] when unreadable or JSON lines)."""
    file_format = file_format_of(path, file_format)
    try:
        with lake_path(path).open("rb") as f:
            if file_format == "parquet":
                import pyarrow.parquet as pq

                return [n.strip().lower() for n in pq.ParquetFile(f).schema_arrow.names]
            if file_format == "csv":
                line = f.readline().decode("utf-8-sig").rstrip("\r\n")
                return [h.strip().lower() for h in next(csv.reader([line]))] if line else []
    except (pa.ArrowException, OSError, ValueError, UnicodeDecodeError, csv.Error, StopIteration):
        return []
    return []


CHUNK_BYTES = 32 * 1024 * 1024


def plan_chunks(path: Path, file_format: str, chunk_bytes: int | None = None) -> list[tuple[str, int, int, int]]:
    """Split a landing file into byte ranges that end on line breaks, so several tasks parse one file.

    Returns ``(path, start, end, first_line)`` per chunk; the first chunk of a CSV file holds the header.
    Line numbers are counted here (a byte count, fast), so every record keeps its line in the file.
    A quoted CSV field with a line break exactly at a chunk boundary is read as two unparseable records.
    """
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    path = lake_path(path)
    file_format = file_format_of(path, file_format)
    if file_format == "parquet":
        return _parquet_chunks(path)
    if file_format is None:  # parsed as one unparseable record naming the suffixes read
        return [(str(path), 0, 0, 1)]
    size = path.stat().st_size
    if size <= chunk_bytes:
        return [(str(path), 0, size, 1)]
    chunks, start, line = [], 0, 1
    with path.open("rb") as f:
        while start < size:
            f.seek(min(start + chunk_bytes, size))
            f.readline()  # move to the next line break
            end = min(f.tell(), size)
            f.seek(start)
            body = f.read(end - start)
            chunks.append((str(path), start, end, line))
            line += body.count(b"\n")
            start = end
    return chunks


def _parquet_chunks(path: Path) -> list[tuple[str, int, int, int]]:
    """A Parquet file's row groups as chunks ``(path, first group, end group, first row)``; a file whose footer
    cannot be read is one chunk, which parses as one unparseable record."""
    import pyarrow.parquet as pq

    try:
        with path.open("rb") as f:
            metadata = pq.ParquetFile(f).metadata
    except (pa.ArrowException, OSError, ValueError):
        return [(str(path), 0, 0, 1)]
    chunks, first_row = [], 1
    for group in range(metadata.num_row_groups):
        chunks.append((str(path), group, group + 1, first_row))
        first_row += metadata.row_group(group).num_rows
    return chunks or [(str(path), 0, 0, 1)]


def parse_chunk(path: str, start: int, end: int, first_line: int, fields: Sequence[str], file_format: str,
                optional: Sequence[str] = ()) -> Iterator[pa.RecordBatch]:
    """Parse one byte range of a landing file (the whole file when it is one chunk); for Parquet, the row
    groups ``[start, end)``."""
    name = Path(path).name
    file_format = file_format_of(path, file_format)
    if file_format is None:
        batch = _Batch([*fields, *optional])
        batch.bad(name, 0, name.encode(), "file name does not end in " + ", ".join(SUFFIXES))
        yield batch.frame()
        return
    if file_format == "parquet":
        with lake_path(path).open("rb") as f:  # the footer and this chunk's row groups only
            yield from parse_parquet(f, name, fields, optional, row_groups=(start, end) if end > start else None,
                                     first_line=first_line)
        return
    with lake_path(path).open("rb") as f:  # a local file, or an object read with ranged GETs
        if start == 0:
            data = f.read(end)
            yield from PARSERS[file_format](data, name, fields, optional)
            return
        header = f.readline() if file_format == "csv" else None
        f.seek(start)
        data = f.read(end - start)
    if file_format == "csv":
        if header.startswith(b"\xef\xbb\xbf"):
            header = header[3:]
        yield from parse_csv(data, name, fields, optional, header=header.rstrip(b"\r\n"), first_line=first_line)
    else:
        yield from parse_jsonl(data, name, fields, optional, first_line=first_line)


def parse_file(path: Path, fields: Sequence[str], file_format: str,
               optional: Sequence[str] = ()) -> Iterator[pa.RecordBatch]:
    """Parse one whole landing file with the feed's format."""
    file_format = file_format_of(path, file_format) or "csv"
    yield from PARSERS[file_format](lake_path(path).read_bytes(), Path(path).name, fields, optional)


def read_records(spark: SparkSession, files: Sequence[Path], fields: Sequence[str], file_format: str = "csv",
                 counter: Any = None, optional: Sequence[str] = ()) -> DataFrame:
    """Read landing files into a DataFrame of records, one Spark task per chunk of a file.

    Parameters
    ----------
    spark : SparkSession
        The process's session.
    files : sequence of Path
        Landing files of one feed and date.
    fields : sequence of str
        Required fields of the feed.
    file_format : {"csv", "jsonl", "parquet", "suffix"}
        The feed's file format (``suffix``: each file's own, by its name).
    counter : pyspark.Accumulator, optional
        Incremented by the number of records read (an independent count for the accounting check).
    optional : sequence of str
        Fields a file may omit.

    Returns
    -------
    DataFrame
        Metadata columns plus one string column per field (see ``record_schema``).
    """
    if file_format not in (*PARSERS, "suffix"):
        raise ValueError(f"file format must be one of {sorted(PARSERS)} or suffix, not {file_format!r}")
    chunks = [c for p in files for c in plan_chunks(lake_path(p), file_format)]
    tasks = spark.createDataFrame(chunks, "path string, start long, end long, first_line long")
    tasks = tasks.repartition(max(len(chunks), 1))
    fields, optional = list(fields), list(optional)

    def read(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for chunk in batch.to_pylist():
                for frame in parse_chunk(chunk["path"], chunk["start"], chunk["end"], chunk["first_line"],
                                         fields, file_format, optional):
                    if counter is not None:
                        counter.add(frame.num_rows)
                    yield frame

    # Arrow batches straight to the JVM: no pandas round trip for millions of string fields.
    return tasks.mapInArrow(read, record_schema([*fields, *optional]))
