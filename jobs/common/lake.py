"""Delta Lake tables: delta-spark for Spark's tables, delta-rs for small driver-side ones.

(docs/architecture.md, the stack.)

Every writer of every table goes through this module; no job touches table files directly.

Each table has one writing engine. The event and release tables (landing's bronze, quarantine, silver,
``gold/releases``) are written by Spark through delta-spark (``format("delta")``): appends, partition replace
with ``replaceWhere`` in one atomic commit, DELETE for opt-outs and retention, OPTIMIZE and VACUUM, and time
travel (``versionAsOf``) for audits. Small driver-side tables (the ledger, run records, opt-out tokens,
delivered products) are written as Arrow tables through delta-rs, whose optimistic commit the ledger's
check-and-spend relies on. Both engines read both kinds: the session pins new tables to the protocol both
support (reader 1, writer 2, no deletion vectors; ``jobs/common/spark.py``).

Delta's log stores for local paths (``LocalLogStore``) and for S3 (``S3SingleDriverLogStore``) make "create
version N unless it exists" atomic only between threads of one JVM: two processes (two Airflow tasks
publishing into ``gold/releases``) could both write version N and one commit would be lost. Every Spark-side
write therefore holds a lock beside the table (``.<table>.write.lock``) from its snapshot to its commit: a
file lock on a local disk, a lease object created with a conditional write in a bucket
(``jobs/common/locks.py``). delta-rs commits with a conditional put on S3, so the ledger's optimistic
check-and-spend needs no lock there either.

A table path is a local folder or an ``s3://`` location (``CDE_LAKE=s3://...``); both engines read both.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake

from jobs.common.locks import locked_file
from jobs.common.objectstore import S3Path, lake_path
from jobs.common.spark import get_spark

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

PartitionSpec = Mapping[str, Any]


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


def listed_version(path: str | Path) -> int | None:
    """The newest committed version from the names in the table's ``_delta_log`` folder, without loading the
    table (a cheap check for a server answering many requests), or None when there is no log."""
    log_folder = lake_path(path) / "_delta_log"
    if not log_folder.is_dir():
        return None
    names = [p.name for p in log_folder.iterdir()]
    versions = [int(name[:20]) for name in names if len(name) == 25 and name.endswith(".json")]
    return max(versions) if versions else None


def snapshot(path: str | Path, at_version: int) -> dict[str, Any]:
    """One version of a table as a reader needs it: table id, schema (Delta JSON), partition columns,
    configuration, commit time (ms) and every data file (path relative to the table, size, partition values,
    records).

    Raises
    ------
    LakeError
        The version does not exist (never written, or vacuumed away).
    """
    try:
        table = DeltaTable(str(path), version=at_version)
    except Exception as exc:  # delta-rs raises several types for a missing version
        raise LakeError(f"{path}: version {at_version} is not available ({type(exc).__name__})") from None
    meta = table.metadata()
    partitions = list(meta.partition_columns)
    files = [{"path": a["path"], "size": int(a["size_bytes"]),
              "partitionValues": {c: a.get(f"partition.{c}") for c in partitions},
              "numRecords": a.get("num_records")}
             for a in pa.table(table.get_add_actions(flatten=True)).to_pylist()]
    commit = next(iter(table.history(1)), {})
    return {"id": meta.id, "schemaString": table.schema().to_json(), "partitionColumns": partitions,
            "configuration": dict(meta.configuration or {}), "files": files,
            "timestamp": int(commit.get("timestamp") or 0)}


def version_at(path: str | Path, epoch_millis: float) -> int | None:
    """The newest version committed at or before an instant (milliseconds since the epoch), or None."""
    found = [h["version"] for h in history(path) if h.get("timestamp", 0) <= epoch_millis]
    return max(found) if found else None


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


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        raise LakeError(f"partition value {value!r} cannot be selected by a predicate")
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _predicate(partitions: PartitionSpec) -> str:
    """Turn ``{"event_date": "2026-03-02", "source": ["a", "b"]}`` into a Spark SQL predicate."""
    terms = []
    for column, wanted in partitions.items():
        if isinstance(wanted, (list, tuple, set, frozenset)):
            values = sorted({_sql_literal(v) for v in wanted})
            terms.append(f"`{column}` IN ({', '.join(values)})" if values else "FALSE")
        else:
            terms.append(f"`{column}` = {_sql_literal(wanted)}")
    return " AND ".join(terms) or "TRUE"


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
        Table version to read (Delta time travel); latest when omitted.
    partitions : mapping, optional
        Partition values to keep, e.g. ``{"event_date": ["2026-03-02", "2026-03-03"]}``; Delta prunes the
        files of the other partitions.

    Returns
    -------
    DataFrame
        The table's rows, columns in the table's schema order.
    """
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    df = reader.load(str(lake_path(path)))
    return df.where(_predicate(partitions)) if partitions else df


def read_arrow(
    path: str | Path, *, version: int | None = None, partitions: PartitionSpec | None = None
) -> pa.Table:
    """Read a small table to Arrow on the driver (ledger, run records, released products).

    Never use this for raw event tables; those stay in Spark.
    """
    table = DeltaTable(str(path), version=version) if version is not None else DeltaTable(str(path))
    return table.to_pyarrow_table(partitions=_filters(partitions))


# -------------------------------------------------------------------------------------------- writes


@contextlib.contextmanager
def _spark_writer(root: Path | S3Path) -> Iterator[None]:
    """Hold the table's writer lock (one Spark writer at a time across processes; see the module note), and
    refuse to start the write if the lock's lease is no longer surely held (``Held.check``)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with locked_file(root.parent / f".{root.name}.write.lock") as held:
        held.check()
        yield


def _check_schema(root: Path | S3Path, names: list[str]) -> None:
    existing = pa.schema(DeltaTable(str(root)).schema().to_arrow())
    if existing.names != names:
        raise LakeError(
            f"schema of {root} is {existing.names}; the write has {names}. "
            "Schema changes need a migration, not a silent append."
        )


def _version_of_write(root: Path | S3Path, write_id: str) -> int:
    """The version whose commit carries ``write_id`` (other writers may have committed after it)."""
    for commit in DeltaTable(str(root)).history(limit=50):
        try:
            if json.loads(commit.get("userMetadata") or "{}").get("cde.write_id") == write_id:
                return int(commit["version"])
        except (TypeError, ValueError):
            continue
    raise LakeError(f"the write {write_id} to {root} is not among the table's last 50 commits")


def write(
    df: DataFrame,
    path: str | Path,
    *,
    mode: str = "append",
    partition_by: Sequence[str] = (),
    replace: Iterable[PartitionSpec] | None = None,
) -> int:
    """Write a Spark DataFrame to a Delta table in one atomic commit (delta-spark).

    Parameters
    ----------
    df : DataFrame
        Rows to write. Never collected: executors write the files.
    path : str or Path
        Table folder; created on the first write.
    mode : {"append", "overwrite", "replace_partitions"}
        ``append`` adds files; ``overwrite`` replaces the whole table; ``replace_partitions`` replaces the
        partitions listed in ``replace`` (``replaceWhere``) in the same commit that adds the new files (an
        empty ``df`` then just empties those partitions).
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
    root = lake_path(path)
    missing = [c for c in partition_by if c not in df.columns]
    if missing:
        raise LakeError(f"partition columns {missing} are not in the DataFrame of {root}")
    write_id = uuid.uuid4().hex
    note = f"{mode} {specs}" if specs else mode
    writer = (df.write.format("delta")
              .option("userMetadata", json.dumps({"cde.operation": note, "cde.write_id": write_id})))
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if mode == "append":
        writer = writer.mode("append")
    else:
        # Static: the session's dynamic mode is for plain Parquet; here the whole table or replaceWhere goes.
        writer = writer.mode("overwrite").option("partitionOverwriteMode", "static")
    if mode == "replace_partitions":
        writer = writer.option("replaceWhere", " OR ".join(f"({_predicate(spec)})" for spec in specs))
    with _spark_writer(root):
        if exists(root):
            _check_schema(root, df.columns)
        try:
            writer.save(str(root))
        except Exception as exc:
            if "REPLACE_WHERE_MISMATCH" in str(exc) or "does not conform to partial table overwrite" in str(exc):
                raise LakeError(f"write to {root} has rows outside the partitions it replaces {specs}") from exc
            raise
    new_version = _version_of_write(root, write_id)
    log.info("lake write %s: version %d (%s)", root, new_version, note)
    return new_version


def _table_sql(path: str | Path) -> str:
    return "delta.`" + str(lake_path(path)).replace("`", "``") + "`"


def delete_rows(path: str | Path, predicate: str) -> int:
    """Delete the rows matching a Spark SQL predicate from a Spark-written table; return how many went.

    A Delta DELETE (visible in history): the files holding those rows are rewritten without them; the
    old files stay for time travel until :func:`vacuum` removes them.
    """
    with _spark_writer(lake_path(path)):
        result = get_spark().sql(f"DELETE FROM {_table_sql(path)} WHERE {predicate}").collect()
    return int(result[0][0]) if result and result[0][0] is not None else 0


def optimize(path: str | Path) -> dict[str, Any]:
    """Compact a Spark-written table's small files (Delta OPTIMIZE); return its metrics."""
    with _spark_writer(lake_path(path)):
        row = get_spark().sql(f"OPTIMIZE {_table_sql(path)}").collect()[0]
    metrics = row["metrics"].asDict() if row["metrics"] is not None else {}
    return {"files_added": metrics.get("numFilesAdded", 0), "files_removed": metrics.get("numFilesRemoved", 0)}


def vacuum(path: str | Path, retain_hours: int = 0) -> int:
    """Remove the files no version younger than ``retain_hours`` needs (Delta VACUUM); return how many.

    With 0 hours, deleted rows are physically gone and only the latest version stays readable. The count
    comes from the ``VACUUM END`` commit's metrics (one listing of the table, not a dry run first).
    """
    with _spark_writer(lake_path(path)):
        get_spark().sql(f"VACUUM {_table_sql(path)} RETAIN {int(retain_hours)} HOURS").collect()
    for commit in DeltaTable(str(path)).history(limit=5):
        if commit.get("operation") == "VACUUM END":
            return int((commit.get("operationMetrics") or {}).get("numDeletedFiles", 0))
    return 0


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
    root = str(lake_path(path))
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
    root = str(lake_path(path))
    write_deltalake(root, data, mode="error", partition_by=list(partition_by) or None)
    return DeltaTable(root).version()


def overwrite_arrow(path: str | Path, data: pa.Table, *, predicate: str | None = None,
                    partition_by: Sequence[str] = (), schema_mode: str | None = None) -> int:
    """Replace a small table, or the rows matching ``predicate`` (e.g. ``"delivery_id = 'x'"``), in one commit.

    ``schema_mode="merge"`` adds the data's new columns to the table (a declared schema that grew; older rows
    read them as null)."""
    root = str(lake_path(path))
    write_deltalake(root, data, mode="overwrite", predicate=predicate,
                    partition_by=list(partition_by) or None, schema_mode=schema_mode)
    return DeltaTable(root).version()
