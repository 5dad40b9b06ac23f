"""The one ingest shape every feed shares.

read -> parse and type-check -> locate (reference join) -> quarantine reasons -> pseudonymise ->
de-duplicate -> write the bronze and quarantine partitions of the date -> run record.

Every record ends in exactly one place: accepted, or quarantined with the first reason that applies, in
the order of DESIGN.md section 9. ``records in = accepted + quarantined`` is checked on every run, and a
run record is written to ``ops/ingest_runs`` even when the run is refused (a refused run commits nothing
to bronze or quarantine). Re-ingesting a date replaces that date's partitions in one commit each.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from jobs.common import lake, settings
from jobs.common.timebins import local_date_column
from jobs.ingest.pseudonym import key_period, period_key, pseudonym_column
from jobs.ingest.records import read_csv_records

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

# Reasons in the order they are tested (DESIGN.md section 9); the first that applies wins.
REASONS = ("unparseable", "opted_out", "bad_type", "out_of_window", "unknown_reference", "out_of_region",
           "randomised_mac", "duplicate")
# Only these count towards the quarantined-share limit (opt-outs and duplicates are not bad data).
INVALID_REASONS = ("unparseable", "bad_type", "out_of_window", "unknown_reference", "out_of_region")
DEFAULT_MAX_INVALID_SHARE = 0.05


class IngestRefused(RuntimeError):
    """A run that committed nothing (no landing files, too many invalid records, broken accounting)."""


@dataclasses.dataclass(frozen=True)
class FeedSpec:
    """What makes a feed different; everything else is the shared runner.

    Attributes
    ----------
    name : str
        Feed name: landing folder, ``bronze/<name>_events`` and ``quarantine/<name>``.
    fields : tuple of str
        Required supplier columns.
    identifier : str or None
        The raw identifier column, pseudonymised at the door (None for feeds without identity).
    reference_key : str
        Column joined to the reference table.
    load_reference : callable
        Returns a pandas DataFrame with ``reference_key``, ``h3_cell`` (int64) and ``in_region`` (bool).
    type_check : callable
        DataFrame -> DataFrame adding typed columns, ``event_ts_utc`` and ``type_error``.
    bronze_columns : callable
        Returns the feed's own bronze columns (Spark Columns over the typed records).
    """

    name: str
    fields: tuple[str, ...]
    identifier: str | None
    reference_key: str
    load_reference: Callable[[], pd.DataFrame]
    type_check: Callable[[DataFrame], DataFrame]
    bronze_columns: Callable[[], list[Column]]


def timestamp_column(text: Column) -> Column:
    """Spark expression parsing ISO-8601 with ``Z`` or an offset (``+01:00``/``+0100``); null otherwise.

    A timestamp without an offset is ambiguous around daylight-saving changes, so it does not parse.
    """
    from pyspark.sql import functions as F

    formats = ["yyyy-MM-dd'T'HH:mm:ss[.SSSSSS]XXX", "yyyy-MM-dd'T'HH:mm:ss[.SSSSSS]XX"]
    return F.coalesce(*[F.try_to_timestamp(text, F.lit(f)) for f in formats])


def landing_files(feed: str, date: dt.date) -> list[Path]:
    """Return the landing files of a feed and local date, sorted by name."""
    folder = settings.landing_path(feed, date.isoformat())
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def classify(spark: SparkSession, spec: FeedSpec, records: DataFrame, date: dt.date) -> DataFrame:
    """Type-check, locate, pseudonymise and give each record its quarantine reason (or null).

    Parameters
    ----------
    spark : SparkSession
        The process's session.
    spec : FeedSpec
        The feed.
    records : DataFrame
        Raw records from ``read_csv_records``.
    date : datetime.date
        The local date of the landing folder: the run window.

    Returns
    -------
    DataFrame
        One row per record with ``reason``, ``detail``, ``pseudo_id``, ``key_period``, ``event_ts``,
        ``event_date``, ``h3_cell`` and the feed's typed columns; the raw identifier is dropped.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    typed = spec.type_check(records)
    reference = spark.createDataFrame(spec.load_reference()).select(
        F.col(spec.reference_key).alias("_ref_key"), "h3_cell", "in_region")
    located = typed.join(F.broadcast(reference), typed[spec.reference_key] == F.col("_ref_key"), "left")
    local_date = local_date_column(F.col("event_ts_utc"))
    reason = (
        F.when(F.col("parse_error").isNotNull(), F.lit("unparseable"))
        .when(F.col("type_error").isNotNull(), F.lit("bad_type"))
        .when(local_date != F.lit(date), F.lit("out_of_window"))
        .when(F.col("_ref_key").isNull(), F.lit("unknown_reference"))
        .when(~F.col("in_region"), F.lit("out_of_region"))
    )
    detail = (
        F.when(F.col("parse_error").isNotNull(), F.col("parse_error"))
        .when(F.col("type_error").isNotNull(), F.col("type_error"))
        .when(local_date != F.lit(date), F.concat(F.lit("local date "), local_date.cast("string"),
                                                   F.lit(f" outside {date.isoformat()}")))
        .when(F.col("_ref_key").isNull(), F.lit(f"{spec.reference_key} not in the reference data"))
        .when(~F.col("in_region"), F.lit(f"{spec.reference_key} located outside the region"))
    )
    period = key_period(date)
    key = period_key(spec.name, period)
    pseudo = (pseudonym_column(F.col(spec.identifier), key) if spec.identifier
              else F.lit(None).cast("long"))
    classified = located.select(
        "*", reason.alias("reason0"), detail.alias("detail0"), pseudo.alias("pseudo_id"))
    # Duplicates: the same record, field for field, as one accepted before it (by file and line).
    raw_fields = [F.col(f) for f in spec.fields]
    first = Window.partitionBy(F.xxhash64(*raw_fields), *raw_fields).orderBy("source_file", "line_number")
    # Identical fields give identical earlier reasons, so ranking within all rows is enough.
    is_dup = F.col("reason0").isNull() & (F.row_number().over(first) > 1)
    ranked = classified.withColumn("_dup", is_dup)
    return ranked.select(
        F.when(F.col("_dup"), F.lit("duplicate")).otherwise(F.col("reason0")).alias("reason"),
        F.when(F.col("_dup"), F.lit("same record as an earlier line")).otherwise(F.col("detail0"))
        .alias("detail"),
        "pseudo_id",
        F.lit(period).cast("int").alias("key_period"),
        F.col("event_ts_utc").alias("event_ts"),
        F.lit(date).cast("date").alias("event_date"),
        "h3_cell",
        *spec.bronze_columns(),
        "source_file", "line_number", "raw_length", "raw_hash",
    )


def _run_record(**values: Any) -> pa.Table:
    schema = pa.schema([
        ("run_id", pa.string()), ("feed", pa.string()), ("event_date", pa.date32()),
        ("status", pa.string()), ("message", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")), ("finished_at", pa.timestamp("us", tz="UTC")),
        ("files", pa.int64()), ("records_in", pa.int64()), ("accepted", pa.int64()),
        ("quarantined", pa.int64()), ("quarantined_by_reason", pa.string()),
        ("bronze_version", pa.int64()), ("quarantine_version", pa.int64()),
    ])
    return pa.Table.from_pylist([values], schema=schema)


def _write_run_record(record: dict) -> None:
    lake.append_arrow(settings.table_path("ops", "ingest_runs"), _run_record(**record),
                      partition_by=["feed"])


def ingest(
    spark: SparkSession,
    spec: FeedSpec,
    date: dt.date,
    *,
    max_invalid_share: float = DEFAULT_MAX_INVALID_SHARE,
    files: Sequence[Path] | None = None,
) -> dict:
    """Ingest one feed's landing folder for one local date into bronze and quarantine.

    Parameters
    ----------
    spark : SparkSession
        The process's session.
    spec : FeedSpec
        The feed.
    date : datetime.date
        Local Copenhagen date of the landing folder.
    max_invalid_share : float
        Largest share of invalid records (``INVALID_REASONS``) a run may have; above it the run is
        refused and commits nothing.
    files : sequence of Path, optional
        Landing files; defaults to every file of the date's folder.

    Returns
    -------
    dict
        The run record (counts per reason, table versions).

    Raises
    ------
    IngestRefused
        No landing files, too many invalid records, or records unaccounted for.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    started = dt.datetime.now(dt.UTC)
    record: dict[str, Any] = {
        "run_id": f"{spec.name}-{date.isoformat()}-{uuid.uuid4().hex[:12]}", "feed": spec.name,
        "event_date": date, "started_at": started, "files": 0, "records_in": 0, "accepted": 0,
        "quarantined": 0, "quarantined_by_reason": "{}", "bronze_version": None,
        "quarantine_version": None, "message": None,
    }

    def refuse(message: str) -> IngestRefused:
        record.update(status="refused", message=message, finished_at=dt.datetime.now(dt.UTC))
        _write_run_record(record)
        log.error("ingest %s %s refused: %s", spec.name, date, message)
        return IngestRefused(f"ingest {spec.name} {date}: {message}")

    files = list(files) if files is not None else landing_files(spec.name, date)
    record["files"] = len(files)
    if not files:
        raise refuse(f"no landing files in {settings.landing_path(spec.name, date.isoformat())}")

    # Counted by the reader itself, so the accounting check below is independent of later stages.
    records_read = spark.sparkContext.accumulator(0)
    records = read_csv_records(spark, files, spec.fields, counter=records_read)
    classified = classify(spark, spec, records, date).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = {r["reason"]: r["count"] for r in classified.groupBy("reason").count().collect()}
        accepted = counts.pop(None, 0)
        quarantined = sum(counts.values())
        records_in = int(records_read.value)
        record.update(records_in=records_in, accepted=accepted, quarantined=quarantined,
                      quarantined_by_reason=json.dumps({r: counts[r] for r in REASONS if r in counts}))
        if records_in != accepted + quarantined:
            raise refuse(f"accounting broken: {records_in} in, {accepted} accepted, {quarantined} quarantined")
        invalid = sum(counts.get(r, 0) for r in INVALID_REASONS)
        if records_in and invalid / records_in > max_invalid_share:
            raise refuse(
                f"{invalid} of {records_in} records invalid ({invalid / records_in:.1%}), above the limit "
                f"of {max_invalid_share:.1%}: {record['quarantined_by_reason']}"
            )
        bronze = classified.filter(F.col("reason").isNull()).drop(
            "reason", "detail", "raw_length", "raw_hash")
        bronze = bronze.withColumn("run_id", F.lit(record["run_id"]))
        quarantine = classified.filter(F.col("reason").isNotNull()).select(
            F.lit(record["run_id"]).alias("run_id"), "event_date", "reason", "detail", "source_file",
            "line_number", "raw_length", "raw_hash", "pseudo_id", "key_period", "event_ts")
        replace = [{"event_date": date.isoformat()}]
        record["bronze_version"] = lake.write(
            bronze, settings.table_path("bronze", f"{spec.name}_events"), mode="replace_partitions",
            partition_by=["event_date"], replace=replace)
        record["quarantine_version"] = lake.write(
            quarantine, settings.table_path("quarantine", spec.name), mode="replace_partitions",
            partition_by=["event_date"], replace=replace)
    finally:
        classified.unpersist()
    record.update(status="succeeded", finished_at=dt.datetime.now(dt.UTC))
    _write_run_record(record)
    log.info("ingest %s %s: %d records in, %d accepted, %d quarantined %s; bronze v%s",
             spec.name, date, record["records_in"], record["accepted"], record["quarantined"],
             record["quarantined_by_reason"], record["bronze_version"])
    return record
