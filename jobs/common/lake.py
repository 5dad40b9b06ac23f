"""Delta Lake tables without the Delta jar: Spark writes Parquet, delta-rs commits (DESIGN.md section 2).

Every writer of every table goes through this module; no job touches table files directly.

A Spark write goes in three steps:

1. Spark executors write Parquet files in parallel into ``<table>/_staging/<write_id>/``.
2. The driver moves each file into the table's Hive layout (``<table>/<col>=<value>/part-....parquet``,
   a rename on a local file system) and reads its footer for per-file stats.
3. The driver commits one atomic transaction (adds, plus removes of the replaced partitions) through
   delta-rs. A failure before step 3 leaves the table at its previous version; the moved files are
   orphans that no read ever lists, because reads take the file list from the Delta snapshot.

Reads take the file list (with partition pruning) from the delta-rs snapshot of the wanted version and
hand it to ``spark.read.parquet``. Small driver-side tables (ledger, run records) are read and written
as Arrow tables through delta-rs directly.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake import Schema as DeltaSchema
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

PartitionSpec = Mapping[str, Any]
_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


class LakeError(RuntimeError):
    """A table write or read that cannot go ahead (schema mismatch, rows outside the replaced partitions)."""


# --------------------------------------------------------------------------------------------- reads


def exists(path: str | Path) -> bool:
    """Return True when ``path`` holds a Delta table."""
    return DeltaTable.is_deltatable(str(path))


def version(path: str | Path) -> int | None:
    """Return the latest version of the table at ``path``, or None when there is no table."""
    return DeltaTable(str(path)).version() if exists(path) else None


def history(path: str | Path) -> list[dict[str, Any]]:
    """Return the commit history of the table, newest first (delta-rs ``history()``)."""
    return DeltaTable(str(path)).history()


def _filters(partitions: PartitionSpec | None) -> list[tuple[str, str, Any]] | None:
    """Turn ``{"event_date": "2026-03-02"}`` or ``{"event_date": [...]}`` into delta-rs filters."""
    if not partitions:
        return None
    filters = []
    for column, wanted in partitions.items():
        if isinstance(wanted, (list, tuple, set, frozenset)):
            filters.append((column, "in", [str(v) for v in wanted]))
        else:
            filters.append((column, "=", str(wanted)))
    return filters


def _local_path(uri: str) -> str:
    return unquote(uri[len("file://") :]) if uri.startswith("file://") else uri


def read(
    spark: SparkSession,
    path: str | Path,
    *,
    version: int | None = None,
    partitions: PartitionSpec | None = None,
) -> DataFrame:
    """Read a Delta table (latest or a given version) as a Spark DataFrame, pruning partitions.

    Parameters
    ----------
    spark : SparkSession
        The process's session.
    path : str or Path
        Table folder.
    version : int, optional
        Table version to read; latest when omitted.
    partitions : mapping, optional
        Partition values to keep, e.g. ``{"event_date": ["2026-03-02", "2026-03-03"]}``; only the files of
        those partitions are listed.

    Returns
    -------
    DataFrame
        The table's rows, columns in the table's schema order.
    """
    from pyspark.sql.pandas.types import from_arrow_schema

    table = DeltaTable(str(path), version=version) if version is not None else DeltaTable(str(path))
    arrow_schema = pa.schema(table.schema().to_arrow())
    spark_schema = from_arrow_schema(arrow_schema, prefer_timestamp_ntz=False)
    files = [_local_path(uri) for uri in table.file_uris(partition_filters=_filters(partitions))]
    if not files:
        return spark.createDataFrame([], spark_schema)
    root = str(Path(path).resolve())
    # Partition columns are parsed from the Hive-style folders below basePath and cast to the schema.
    df = spark.read.schema(spark_schema).option("basePath", root).parquet(*files)
    return df.select(*arrow_schema.names)


def read_arrow(
    path: str | Path, *, version: int | None = None, partitions: PartitionSpec | None = None
) -> pa.Table:
    """Read a small table to Arrow on the driver (ledger, run records, released products).

    Never use this for raw event tables; those stay in Spark.
    """
    table = DeltaTable(str(path), version=version) if version is not None else DeltaTable(str(path))
    return table.to_pyarrow_table(partitions=_filters(partitions))


# -------------------------------------------------------------------------------------------- writes


def _spark_to_arrow_schema(spark_schema: Any) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(spark_schema, timezone="UTC")


def _partition_values(relative_dir: str) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for part in Path(relative_dir).parts:
        key, _, value = part.partition("=")
        value = unquote(value)
        values[unquote(key)] = None if value == _HIVE_NULL else value
    return values


def _stat_value(value: Any) -> Any:
    """Return a JSON-safe stats value for the types whose min/max is exact, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if hasattr(value, "isoformat") and not hasattr(value, "hour"):  # datetime.date, not datetime
        return value.isoformat()
    return None


def _file_stats(file_path: str) -> tuple[int, str]:
    """Read a Parquet footer and return (rows, Delta stats JSON) without reading data pages."""
    meta = pq.ParquetFile(file_path).metadata
    min_values: dict[str, Any] = {}
    max_values: dict[str, Any] = {}
    null_count: dict[str, int] = {}
    for col in range(meta.num_columns):
        name = meta.schema.column(col).path
        if "." in name:  # nested columns carry no top-level stats
            continue
        lows, highs, nulls, complete = [], [], 0, True
        for rg in range(meta.num_row_groups):
            stats = meta.row_group(rg).column(col).statistics
            if stats is None:
                complete = False
                break
            nulls += stats.null_count or 0
            if stats.has_min_max:
                lows.append(_stat_value(stats.min))
                highs.append(_stat_value(stats.max))
        if not complete:
            continue
        null_count[name] = nulls
        if lows and None not in lows and None not in highs:
            min_values[name] = min(lows)
            max_values[name] = max(highs)
    stats = {
        "numRecords": meta.num_rows,
        "minValues": min_values,
        "maxValues": max_values,
        "nullCount": null_count,
    }
    return meta.num_rows, json.dumps(stats)


def _move_into_table(staging: Path, root: Path) -> list[AddAction]:
    """Move Spark's output files from ``staging`` into the table layout; return their add actions."""
    adds = []
    now_ms = int(time.time() * 1000)
    for dirpath, _dirs, names in os.walk(staging):
        for name in sorted(names):
            if not name.endswith(".parquet"):
                continue  # _SUCCESS and .crc files
            source = Path(dirpath) / name
            relative_dir = os.path.relpath(dirpath, staging)
            relative_dir = "" if relative_dir == "." else relative_dir
            rows, stats = _file_stats(str(source))
            if rows == 0:
                source.unlink()
                continue
            target_dir = root / relative_dir
            target_dir.mkdir(parents=True, exist_ok=True)
            target = target_dir / name
            os.replace(source, target)
            rel_path = f"{relative_dir}/{name}" if relative_dir else name
            adds.append(
                AddAction(
                    path=rel_path,
                    size=target.stat().st_size,
                    partition_values=_partition_values(relative_dir) if relative_dir else {},
                    modification_time=now_ms,
                    data_change=True,
                    stats=stats,
                )
            )
    return adds


def _matches(values: Mapping[str, str | None], spec: PartitionSpec) -> bool:
    for column, wanted in spec.items():
        wanted_set = {str(v) for v in wanted} if isinstance(wanted, (list, tuple, set)) else {str(wanted)}
        if values.get(column) not in wanted_set:
            return False
    return True


def _removes(table: DeltaTable, spec: PartitionSpec | None) -> list[RemoveAction]:
    """Remove actions for every live file of the table (spec None) or of the given partitions."""
    actions = pa.table(table.get_add_actions(flatten=False)).to_pylist()
    now_ms = int(time.time() * 1000)
    removes = []
    for action in actions:
        values = {k: (None if v is None else str(v)) for k, v in (action.get("partition") or {}).items()}
        if spec is None or _matches(values, spec):
            removes.append(
                RemoveAction(
                    path=action["path"],
                    data_change=True,
                    deletion_timestamp=now_ms,
                    size=action.get("size_bytes"),
                    partition_values=values,
                )
            )
    return removes


def _commit(
    root: Path,
    schema: pa.Schema,
    actions: list[AddAction | RemoveAction],
    partition_by: Sequence[str],
    *,
    operation_note: str,
) -> int:
    """Commit the actions in one transaction and return the new table version."""
    props = CommitProperties(custom_metadata={"cde.operation": operation_note})
    if not exists(root):
        adds = [a for a in actions if isinstance(a, AddAction)]
        create_table_with_add_actions(
            str(root), DeltaSchema.from_arrow(schema), adds, mode="error", partition_by=list(partition_by) or None,
            commit_properties=props,
        )
    else:
        table = DeltaTable(str(root))
        _check_schema(table, schema, root)
        table.create_write_transaction(
            actions, mode="append", schema=schema, partition_by=list(partition_by) or None,
            commit_properties=props,
        )
    return DeltaTable(str(root)).version()


def _check_schema(table: DeltaTable, schema: pa.Schema, root: Path) -> None:
    existing = pa.schema(table.schema().to_arrow())
    if existing.names != schema.names:
        raise LakeError(
            f"schema of {root} is {existing.names}; the write has {schema.names}. "
            "Schema changes need a migration, not a silent append."
        )


def write(
    df: DataFrame,
    path: str | Path,
    *,
    mode: str = "append",
    partition_by: Sequence[str] = (),
    replace: Iterable[PartitionSpec] | None = None,
) -> int:
    """Write a Spark DataFrame to a Delta table in one atomic commit.

    Parameters
    ----------
    df : DataFrame
        Rows to write. Never collected: executors write the files.
    path : str or Path
        Table folder; created on the first write.
    mode : {"append", "overwrite", "replace_partitions"}
        ``append`` adds files; ``overwrite`` replaces the whole table; ``replace_partitions`` removes the
        files of the partitions listed in ``replace`` and adds the new files in the same commit (an empty
        ``df`` then just empties those partitions).
    partition_by : sequence of str
        Partition columns (must not be null).
    replace : iterable of mapping, optional
        With ``replace_partitions``: the partitions to replace, e.g. ``[{"event_date": "2026-03-02"}]``.
        Every row written must fall in one of them.

    Returns
    -------
    int
        The table version this write committed.
    """
    if mode not in ("append", "overwrite", "replace_partitions"):
        raise ValueError(f"mode must be append, overwrite or replace_partitions, not {mode!r}")
    specs = list(replace or [])
    if mode == "replace_partitions" and not specs:
        raise ValueError("mode='replace_partitions' needs the partitions to replace")
    root = Path(path).resolve()
    write_id = uuid.uuid4().hex
    staging = root / "_staging" / write_id
    schema = _spark_to_arrow_schema(df.schema)
    missing = [c for c in partition_by if c not in schema.names]
    if missing:
        raise LakeError(f"partition columns {missing} are not in the DataFrame of {root}")
    try:
        writer = df.write.mode("error").option("compression", "snappy")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.parquet(str(staging))
        adds = _move_into_table(staging, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        try:
            (root / "_staging").rmdir()
        except OSError:
            pass
    if mode == "replace_partitions":
        stray = [a.path for a in adds if not any(_matches(a.partition_values, s) for s in specs)]
        if stray:
            raise LakeError(
                f"write to {root} has rows outside the partitions it replaces {specs}: {stray[:3]}"
            )
    removes: list[RemoveAction] = []
    if exists(root) and mode != "append":
        table = DeltaTable(str(root))
        if mode == "overwrite":
            removes = _removes(table, None)
        else:
            for spec in specs:
                removes.extend(_removes(table, spec))
    note = f"{mode} {specs}" if specs else mode
    new_version = _commit(root, schema, [*adds, *removes], partition_by, operation_note=note)
    log.info("lake write %s: version %d, %d files added, %d removed", root, new_version, len(adds),
             len(removes))
    return new_version


def append_arrow(
    path: str | Path,
    data: pa.Table,
    *,
    partition_by: Sequence[str] = (),
    max_commit_retries: int | None = None,
    read_version: int | None = None,
    schema_mode: str | None = None,
) -> int:
    """Append a small Arrow table (driver-side rows: ledger entries, run records) in one commit.

    Parameters
    ----------
    path : str or Path
        Table folder; created on the first append.
    data : pyarrow.Table
        Rows to append.
    partition_by : sequence of str
        Partition columns, used when the table is created.
    max_commit_retries : int, optional
        ``0`` makes the commit fail with ``deltalake.exceptions.CommitFailedError`` when another writer
        committed since ``read_version``: the caller redoes its read-check-write (optimistic concurrency).
    read_version : int, optional
        The version the caller's check read. The commit is made against that snapshot.
    schema_mode : str, optional
        ``merge`` adds the data's new columns to the table (a declared schema that grew).

    Returns
    -------
    int
        The version committed.
    """
    root = str(Path(path).resolve())
    props = CommitProperties(max_commit_retries=max_commit_retries) if max_commit_retries is not None else None
    if exists(root):
        table = DeltaTable(root, version=read_version) if read_version is not None else DeltaTable(root)
        write_deltalake(table, data, mode="append", commit_properties=props, schema_mode=schema_mode)
    else:
        write_deltalake(root, data, mode="append", partition_by=list(partition_by) or None,
                        commit_properties=props)
    return DeltaTable(root).version()


def column_names(path: str | Path) -> list[str]:
    """Column names of a table's latest schema."""
    return pa.schema(DeltaTable(str(path)).schema().to_arrow()).names


def create_arrow(path: str | Path, data: pa.Table, *, partition_by: Sequence[str] = ()) -> int:
    """Create a small table holding ``data``; fails (any error) when another writer created it first."""
    root = str(Path(path).resolve())
    write_deltalake(root, data, mode="error", partition_by=list(partition_by) or None)
    return DeltaTable(root).version()


def overwrite_arrow(path: str | Path, data: pa.Table, *, predicate: str | None = None,
                    partition_by: Sequence[str] = (), schema_mode: str | None = None) -> int:
    """Replace a small table, or the rows matching ``predicate`` (e.g. ``"delivery_id = 'x'"``), in one commit.

    ``schema_mode="merge"`` adds the data's new columns to the table (a declared schema that grew; older rows
    read them as null)."""
    root = str(Path(path).resolve())
    write_deltalake(root, data, mode="overwrite", predicate=predicate,
                    partition_by=list(partition_by) or None, schema_mode=schema_mode)
    return DeltaTable(root).version()


def delete_rows(path: str | Path, predicate: str) -> int:
    """Delete the rows matching a SQL predicate (a Delta delete); return how many rows were deleted."""
    return int(DeltaTable(str(path)).delete(predicate).get("num_deleted_rows", 0))


def delete(path: str | Path, predicate: str) -> int:
    """Delete the rows matching a SQL predicate (a Delta delete, visible in history)."""
    table = DeltaTable(str(path))
    table.delete(predicate)
    return table.version()
