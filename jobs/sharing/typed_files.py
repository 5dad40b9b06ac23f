"""The Parquet files the sharing server hands out, typed for every client.

A product's counts are integers, and a suppressed row's value is null. Spark writes them as nullable
``int64``, which Parquet readers keep; but the official ``delta-sharing`` pandas client converts each file
with pyarrow's defaults, and a default pandas integer column cannot hold a null, so the buyer's counts arrive
as ``float64`` (674.0). pyarrow restores a column's pandas type from the ``pandas`` entry of a file's schema
metadata, so the server serves each file with that entry added, naming the nullable ``Int64`` for integer
columns. Nothing else changes: the same row groups' values, the same Arrow types; a reader that ignores the
entry (Spark, DuckDB, polars) reads exactly the stored file. The copy is made once per file (a Delta file
never changes) and its size is what the query answer states.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict

#: files larger than this are served as stored (a product delivery is kilobytes to a few megabytes)
MAX_TYPED_BYTES = 64 << 20
_CACHE_BYTES = 256 << 20  # at most this much of typed copies kept in memory
_cache: OrderedDict[str, bytes] = OrderedDict()
_lock = threading.Lock()


def pandas_metadata(schema) -> bytes | None:
    """The ``pandas`` schema metadata that makes pyarrow convert integer columns to pandas' nullable ``Int64``
    family (``Int8`` to ``UInt64``), or None when the schema has no integer column.

    Parameters
    ----------
    schema : pyarrow.Schema
        The file's schema.
    """
    import pyarrow as pa  # only when a file is served: the server's import stays light

    integers = {field.name: field.type for field in schema if pa.types.is_integer(field.type)}
    if not integers:
        return None
    empty = schema.remove_metadata().empty_table().to_pandas()
    for name, kind in integers.items():
        empty[name] = empty[name].astype(str(kind).replace("int", "Int").replace("uInt", "UInt"))
    metadata = pa.Schema.from_pandas(empty, preserve_index=False).metadata[b"pandas"]
    described = json.loads(metadata)
    if {c["name"] for c in described["columns"]} != set(schema.names):
        return None  # a schema pandas cannot describe column for column (duplicate names): leave it as stored
    return metadata


def typed_copy(raw: bytes) -> bytes:
    """The Parquet file ``raw`` with ``pandas_metadata`` added to its schema (``raw`` itself when it has no
    integer column or is larger than ``MAX_TYPED_BYTES``)."""
    if len(raw) > MAX_TYPED_BYTES:
        return raw
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(pa.BufferReader(raw))
    table = parquet.read()
    metadata = pandas_metadata(table.schema)
    if metadata is None:
        return raw
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), b"pandas": metadata})
    out = pa.BufferOutputStream()
    # microsecond timestamps, as the lake writes them (pyarrow would otherwise keep nanoseconds where present)
    pq.write_table(table, out, coerce_timestamps="us", allow_truncated_timestamps=False,
                   compression="snappy")
    return out.getvalue().to_pybytes()


def served_bytes(key: str, read) -> bytes:
    """The typed copy of the file named ``key`` (the table and file path), read with ``read()`` when not
    kept already. A Delta data file never changes, so a copy made once serves every later query."""
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    data = typed_copy(read())
    with _lock:
        _cache[key] = data
        while sum(len(v) for v in _cache.values()) > _CACHE_BYTES and len(_cache) > 1:
            _cache.popitem(last=False)
    return data
