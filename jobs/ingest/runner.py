"""The one ingest shape every feed shares.

read -> parse and type-check -> pseudonymise (and match opt-outs) -> locate (reference joins) ->
quarantine reasons -> de-duplicate -> validate the accepted batch (Great Expectations) -> write the bronze
and quarantine partitions of the date -> run record.

Every record ends in exactly one place: accepted, or quarantined with the first reason that applies, in
the order of DESIGN.md section 9. ``records in = accepted + quarantined`` is checked on every run against
a count the reader keeps itself, and a run record is written to ``ops/ingest_runs`` even when the run is
refused (a refused run commits nothing to bronze or quarantine). Opted-out records are counted, never
stored. Re-ingesting a date replaces that date's partitions in one commit each.
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
from jobs.common.timing import Stopwatch
from jobs.ingest.pseudonym import key_period, pseudonym_struct
from jobs.ingest.records import read_records

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

# Reasons in the order they are tested (DESIGN.md section 9); the first that applies wins.
REASONS = ("unparseable", "opted_out", "bad_type", "out_of_window", "unknown_reference", "out_of_region",
           "randomised_mac", "duplicate")
# Only these count towards the quarantined-share limit (opt-outs, policy exclusions and duplicates are
# not bad data).
INVALID_REASONS = ("unparseable", "bad_type", "out_of_window", "unknown_reference", "out_of_region")
DEFAULT_MAX_INVALID_SHARE = 0.05
# Free-text details longer than this are cut (they never hold supplier text, but stay bounded).
DETAIL_CHARS = 200


class IngestRefused(RuntimeError):
    """A run that committed nothing (no landing files, too many invalid records, a failed critical
    expectation, broken accounting)."""


@dataclasses.dataclass(frozen=True)
class Reference:
    """A reference join: where the ids of one record column are.

    Attributes
    ----------
    column : str
        Record column holding the supplier id (``cell_id``, ``ap_id``, ``camera_id``, ``check_in_stop``).
    load : callable
        Returns a pandas DataFrame with ``ref_id`` (str), ``h3_cell`` (int64) and ``in_region`` (bool).
    suffix : str
        Suffix of the output columns (``h3_cell<suffix>``), for feeds with two places (ticket check-out).
    optional : bool
        An empty id is allowed (and then has no place).
    """

    column: str
    load: Callable[[], pd.DataFrame]
    suffix: str = ""
    optional: bool = False


@dataclasses.dataclass(frozen=True)
class FeedSpec:
    """What makes a feed different; everything else is the shared runner.

    Attributes
    ----------
    name : str
        Feed name: landing folder, ``bronze/<name>_events``, ``quarantine/<name>``, suite name.
    fields : tuple of str
        Required supplier fields.
    optional_fields : tuple of str
        Fields a supplier may omit.
    file_format : str
        ``csv`` or ``jsonl``.
    identifier : str or None
        The raw identifier field, pseudonymised at the door (None for feeds without identity).
    type_check : callable
        DataFrame -> DataFrame adding ``event_ts_utc``, ``type_error`` (first failing field or null),
        ``identifier_value`` (normalised identifier) and the feed's typed columns.
    references : tuple of Reference
        Reference joins locating the record.
    bronze_columns : callable
        Returns the feed's own bronze columns (Spark Columns over the typed records).
    policy_reason : callable, optional
        Returns a Column holding a policy reason (``randomised_mac``) or null.
    unit : str
        Privacy unit of the feed (``person``, ``device-network``, ``event``).
    """

    name: str
    fields: tuple[str, ...]
    file_format: str
    identifier: str | None
    type_check: Callable[[DataFrame], DataFrame]
    references: tuple[Reference, ...]
    bronze_columns: Callable[[], list[Column]]
    policy_reason: Callable[[], Column] | None = None
    unit: str = "person"
    optional_fields: tuple[str, ...] = ()


def timestamp_column(text: Column) -> Column:
    """Spark expression parsing ISO-8601 with ``Z`` or an offset (``+01:00``/``+0100``); null otherwise.

    A timestamp without an offset is ambiguous around daylight-saving changes, so it does not parse.
    """
    from pyspark.sql import functions as F

    formats = ["yyyy-MM-dd'T'HH:mm:ss[.SSSSSS]XXX", "yyyy-MM-dd'T'HH:mm:ss[.SSSSSS]XX"]
    return F.coalesce(*[F.try_to_timestamp(text, F.lit(f)) for f in formats])


def first_error(checks: Sequence[tuple[Column, str]]) -> Column:
    """Spark expression: the message of the first failing check (a null check counts as failing)."""
    from pyspark.sql import functions as F

    error = F.lit(None).cast("string")
    for failed, message in reversed(checks):
        error = F.when(F.coalesce(failed, F.lit(True)), F.lit(message)).otherwise(error)
    return error


def landing_files(feed: str, date: dt.date) -> list[Path]:
    """Return the landing files of a feed and local date, sorted by name."""
    folder = settings.landing_path(feed, date.isoformat())
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _locate(spark: SparkSession, typed: DataFrame, spec: FeedSpec) -> tuple[DataFrame, Column, Column]:
    """Join every reference; return the frame and the unknown / out-of-region conditions."""
    from pyspark.sql import functions as F

    unknown, outside = F.lit(False), F.lit(False)
    for ref in spec.references:
        s = ref.suffix
        table = spark.createDataFrame(ref.load()[["ref_id", "h3_cell", "in_region"]]).select(
            F.col("ref_id").alias(f"_ref{s}"), F.col("h3_cell").alias(f"h3_cell{s}"),
            F.col("in_region").alias(f"_in_region{s}"))
        typed = typed.join(F.broadcast(table), typed[ref.column] == F.col(f"_ref{s}"), "left")
        present = F.coalesce(F.col(ref.column), F.lit("")) != ""
        missing = F.col(f"_ref{s}").isNull() & (present if ref.optional else F.lit(True))
        unknown = unknown | missing
        outside = outside | (F.col(f"_ref{s}").isNotNull() & ~F.col(f"_in_region{s}"))
    return typed, unknown, outside


def classify(spark: SparkSession, spec: FeedSpec, records: DataFrame, date: dt.date,
             opted_out: frozenset[bytes] = frozenset()) -> DataFrame:
    """Type-check, pseudonymise, locate and give each record its quarantine reason (or null).

    Parameters
    ----------
    spark : SparkSession
        The process's session.
    spec : FeedSpec
        The feed.
    records : DataFrame
        Raw records from ``read_records``.
    date : datetime.date
        The local date of the landing folder: the run window.
    opted_out : frozenset of bytes
        Identifier tokens of people who opted out.

    Returns
    -------
    DataFrame
        One row per record with ``reason``, ``detail``, ``pseudo_id``, ``key_period``, ``event_ts``,
        ``event_date``, the H3 columns and the feed's typed columns; raw identifiers are gone.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    typed = spec.type_check(records)
    period = key_period(date)
    if spec.identifier:
        ident = pseudonym_struct(F.col("identifier_value"), spec.name, period, opted_out)
        typed = typed.withColumn("_ident", ident)
        pseudo, opted = F.col("_ident.pseudo_id"), F.col("_ident.opted_out")
    else:
        pseudo, opted = F.lit(None).cast("long"), F.lit(False)
    located, unknown, outside = _locate(spark, typed, spec)
    local_date = local_date_column(F.col("event_ts_utc"))
    policy = spec.policy_reason() if spec.policy_reason else F.lit(None).cast("string")
    rules = [
        (F.col("parse_error").isNotNull(), "unparseable", F.col("parse_error")),
        (opted, "opted_out", F.lit("identifier on the opt-out list")),
        (F.col("type_error").isNotNull(), "bad_type", F.col("type_error")),
        (local_date != F.lit(date), "out_of_window",
         F.concat(F.lit("local date "), local_date.cast("string"), F.lit(f" is not {date.isoformat()}"))),
        (unknown, "unknown_reference", F.lit("id not in the reference data")),
        (outside, "out_of_region", F.lit("reference location outside the region")),
        (policy.isNotNull(), "randomised_mac", F.lit("probe from a randomised MAC: not a person")),
    ]
    reason, detail = F.lit(None).cast("string"), F.lit(None).cast("string")
    for condition, name, text in reversed(rules):
        reason = F.when(F.coalesce(condition, F.lit(False)), F.lit(name)).otherwise(reason)
        detail = F.when(F.coalesce(condition, F.lit(False)), text).otherwise(detail)
    classified = located.select("*", reason.alias("_reason"), F.substring(detail, 1, DETAIL_CHARS).alias("_detail"),
                                pseudo.alias("pseudo_id"))
    # Duplicates: the same record, field for field, as one accepted before it (by file and line).
    # Identical fields give identical earlier reasons, so ranking within all rows is enough.
    raw_fields = [F.col(f) for f in (*spec.fields, *spec.optional_fields)]
    first = Window.partitionBy(F.xxhash64(*raw_fields), *raw_fields).orderBy("source_file", "line_number")
    is_dup = F.col("_reason").isNull() & (F.row_number().over(first) > 1)
    ranked = classified.withColumn("_dup", is_dup)
    h3_columns = [f"h3_cell{r.suffix}" for r in spec.references]
    return ranked.select(
        F.when(F.col("_dup"), F.lit("duplicate")).otherwise(F.col("_reason")).alias("reason"),
        F.when(F.col("_dup"), F.lit("same record as an earlier line")).otherwise(F.col("_detail")).alias("detail"),
        "pseudo_id",
        F.lit(period).cast("int").alias("key_period"),
        F.col("event_ts_utc").alias("event_ts"),
        F.lit(date).cast("date").alias("event_date"),
        *h3_columns,
        *spec.bronze_columns(),
        "source_file", "line_number", "raw_length", "raw_hash",
    )


RUN_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("feed", pa.string()), ("event_date", pa.date32()),
    ("status", pa.string()), ("message", pa.string()),
    ("started_at", pa.timestamp("us", tz="UTC")), ("finished_at", pa.timestamp("us", tz="UTC")),
    ("files", pa.int64()), ("records_in", pa.int64()), ("accepted", pa.int64()),
    ("quarantined", pa.int64()), ("quarantined_by_reason", pa.string()), ("invalid_share", pa.float64()),
    ("expectations", pa.string()), ("data_docs", pa.string()), ("late_records", pa.int64()),
    ("bronze_version", pa.int64()), ("quarantine_version", pa.int64()),
])
# Stale staged batches (runs that died between stages) are removed after this long.
STALE_STAGING_SECONDS = 86_400


def _write_run_record(record: dict) -> None:
    row = {k: record.get(k) for k in RUN_SCHEMA.names}
    row["event_date"] = dt.date.fromisoformat(str(row["event_date"]))
    for key in ("started_at", "finished_at"):
        if isinstance(row[key], str):
            row[key] = dt.datetime.fromisoformat(row[key])
    table = pa.Table.from_pylist([row], schema=RUN_SCHEMA)
    lake.append_arrow(settings.table_path("ops", "ingest_runs"), table, partition_by=["feed"])


def _released_dates(date: dt.date) -> bool:
    """True when a release already covers this local date (late data changes no delivered product)."""
    path = settings.table_path("ops", "releases")
    if not lake.exists(path):
        return False
    for plan in lake.read_arrow(path).column("plan").to_pylist():
        p = json.loads(plan)
        if dt.date.fromisoformat(p["window_start"]) <= date < dt.date.fromisoformat(p["window_end"]):
            return True
    return False


def _previous_accepted(feed: str, date: dt.date) -> int:
    """Records accepted by the latest earlier succeeded run of this feed and date (0 if none)."""
    path = settings.table_path("ops", "ingest_runs")
    if not lake.exists(path):
        return 0
    runs = lake.read_arrow(path, partitions={"feed": feed}).to_pandas()
    runs = runs[(runs["status"] == "succeeded") & (runs["event_date"] == date)]
    return int(runs.sort_values("finished_at")["accepted"].iloc[-1]) if len(runs) else 0


def staging_dir(feed: str, date: dt.date, run_id: str) -> Path:
    """Folder of a run's staged (classified, not yet committed) batch: ``lake/ingest_staging/...``."""
    return settings.lake_root() / "ingest_staging" / feed / date.isoformat() / run_id


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def _save(record: dict) -> dict:
    (Path(record["staging"]) / "run.json").write_text(json.dumps(record, indent=1))
    return record


def load_staged(staging: str | Path) -> dict:
    """Return the run record kept beside a staged batch (written by ``stage_batch``)."""
    path = Path(staging) / "run.json"
    if not path.exists():
        raise IngestRefused(f"no staged batch at {staging}: it was committed, refused or cleaned up; "
                            "rerun the whole ingest")
    return json.loads(path.read_text())


def refuse(record: dict, message: str) -> IngestRefused:
    """Record a refused run (nothing committed), drop its staged batch and return the error to raise."""
    import shutil

    record.update(status="refused", message=message, finished_at=_now())
    _write_run_record(record)
    if record.get("staging"):
        shutil.rmtree(record["staging"], ignore_errors=True)
    log.error("ingest %s %s refused: %s", record["feed"], record["event_date"], message)
    return IngestRefused(f"ingest {record['feed']} {record['event_date']}: {message}")


def _remove_stale_staging(feed: str, date: dt.date) -> None:
    import shutil
    import time

    folder = staging_dir(feed, date, "x").parent
    if folder.is_dir():
        for child in folder.iterdir():
            if time.time() - child.stat().st_mtime > STALE_STAGING_SECONDS:
                shutil.rmtree(child, ignore_errors=True)


def stage_batch(
    spark: SparkSession,
    spec: FeedSpec,
    date: dt.date,
    *,
    max_invalid_share: float = DEFAULT_MAX_INVALID_SHARE,
    files: Sequence[Path] | None = None,
) -> dict:
    """Stage 1: read the landing files, classify every record and stage the batch (nothing committed).

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
        refused.
    files : sequence of Path, optional
        Landing files; defaults to every file of the date's folder.

    Returns
    -------
    dict
        The run record so far (JSON-able), with ``staging``: the folder the next stages read.

    Raises
    ------
    IngestRefused
        No landing files, too many invalid records, or records unaccounted for.
    """
    from jobs.ingest.optout import opted_out_tokens

    watch = Stopwatch()
    run_id = f"{spec.name}-{date.isoformat()}-{uuid.uuid4().hex[:12]}"
    record: dict[str, Any] = {
        "run_id": run_id, "feed": spec.name, "event_date": date.isoformat(), "started_at": _now(),
        "files": 0, "records_in": 0, "accepted": 0, "quarantined": 0, "quarantined_by_reason": "{}",
        "invalid_share": 0.0, "late_records": 0, "timings": {},
    }
    files = list(files) if files is not None else landing_files(spec.name, date)
    record["files"] = len(files)
    if not files:
        raise refuse(record, f"no landing files in {settings.landing_path(spec.name, date.isoformat())}")
    _remove_stale_staging(spec.name, date)
    staging = staging_dir(spec.name, date, run_id)
    staging.mkdir(parents=True)
    record["staging"] = str(staging)

    # Counted by the reader itself, so the accounting check below is independent of later stages.
    records_read = spark.sparkContext.accumulator(0)
    records = read_records(spark, files, spec.fields, spec.file_format, counter=records_read,
                           optional=spec.optional_fields)
    optouts = opted_out_tokens(spec.name) if spec.identifier else frozenset()
    classify(spark, spec, records, date, optouts).write.mode("overwrite").parquet(str(staging / "classified"))
    watch.lap("read_classify_stage")
    staged = spark.read.parquet(str(staging / "classified"))
    counts = {r["reason"]: r["count"] for r in staged.groupBy("reason").count().collect()}
    watch.lap("count")
    accepted = counts.pop(None, 0)
    quarantined = sum(counts.values())
    records_in = int(records_read.value)
    invalid = sum(counts.get(r, 0) for r in INVALID_REASONS)
    record.update(records_in=records_in, accepted=accepted, quarantined=quarantined,
                  quarantined_by_reason=json.dumps({r: counts[r] for r in REASONS if r in counts}),
                  invalid_share=invalid / records_in if records_in else 0.0, timings=watch.laps)
    if records_in != accepted + quarantined:
        raise refuse(record, f"accounting broken: {records_in} read, {accepted} accepted, {quarantined} quarantined")
    if records_in and invalid / records_in > max_invalid_share:
        raise refuse(record, f"{invalid} of {records_in} records invalid ({invalid / records_in:.1%}), above the "
                             f"limit of {max_invalid_share:.1%}: {record['quarantined_by_reason']}")
    log.info("ingest %s %s staged: rows in %d, accepted %d, quarantined %d %s", spec.name, date, records_in,
             accepted, quarantined, record["quarantined_by_reason"])
    return _save(record)


def _staged(spark: SparkSession, record: dict) -> DataFrame:
    return spark.read.parquet(str(Path(record["staging"]) / "classified"))


def _accepted(staged: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    return staged.filter(F.col("reason").isNull()).drop("reason", "detail", "raw_length", "raw_hash")


def validate_batch(spark: SparkSession, spec: FeedSpec, staging: str | Path) -> dict:
    """Stage 2: validate a staged batch's accepted records with the feed's Great Expectations suite.

    Writes the Data Docs and refuses the run (recording it, dropping the batch) on a failed critical
    expectation.

    Returns
    -------
    dict
        The run record so far, with ``expectations`` (JSON) and ``data_docs``.
    """
    from jobs.ingest.quality import validate_accepted

    record = load_staged(staging)
    watch = Stopwatch()
    date = dt.date.fromisoformat(record["event_date"])
    outcome = validate_accepted(spec, _accepted(_staged(spark, record)), date, record["run_id"])
    record.update(expectations=json.dumps(outcome["summary"]), data_docs=outcome["data_docs"])
    watch.lap("expectations")
    record["timings"].update(watch.laps)
    failed = sum(not e["success"] for e in outcome["summary"])
    log.info("ingest %s %s validated: %d expectations, %d failed (%d critical); Data Docs %s", spec.name, date,
             len(outcome["summary"]), failed, len(outcome["critical_failures"]), outcome["data_docs"])
    if outcome["critical_failures"]:
        raise refuse(record, "critical expectation failed: " + "; ".join(outcome["critical_failures"]))
    return _save(record)


def commit_batch(spark: SparkSession, spec: FeedSpec, staging: str | Path) -> dict:
    """Stage 3: replace the date's bronze and quarantine partitions with a staged batch; record the run.

    Returns
    -------
    dict
        The finished run record (counts per reason, expectations, table versions, timings).
    """
    import shutil

    from pyspark.sql import functions as F

    record = load_staged(staging)
    watch = Stopwatch()
    date = dt.date.fromisoformat(record["event_date"])
    staged = _staged(spark, record)
    bronze = _accepted(staged).withColumn("run_id", F.lit(record["run_id"]))
    # Opted-out records are counted and never stored, not even in quarantine.
    quarantine = staged.filter(F.col("reason").isNotNull() & (F.col("reason") != "opted_out")).select(
        F.lit(record["run_id"]).alias("run_id"), "event_date", "reason", "detail", "source_file",
        "line_number", "raw_length", "raw_hash", "pseudo_id", "key_period", "event_ts")
    replace = [{"event_date": date.isoformat()}]
    record["bronze_version"] = lake.write(
        bronze, settings.table_path("bronze", f"{spec.name}_events"), mode="replace_partitions",
        partition_by=["event_date"], replace=replace)
    watch.lap("write_bronze")
    record["quarantine_version"] = lake.write(
        quarantine, settings.table_path("quarantine", spec.name), mode="replace_partitions",
        partition_by=["event_date"], replace=replace)
    watch.lap("write_quarantine")
    if _released_dates(date):
        record["late_records"] = max(record["accepted"] - _previous_accepted(spec.name, date), 0)
    if record["late_records"]:
        record["message"] = ("a release already covers this date: these records change no delivered product "
                             "unless a new release is made (which spends budget)")
    record["timings"].update(watch.laps)
    record.update(status="succeeded", finished_at=_now())
    _write_run_record(record)
    shutil.rmtree(record["staging"], ignore_errors=True)
    log.info("ingest %s %s: rows in %d, out %d, quarantined %d %s; bronze v%s; seconds %s", spec.name, date,
             record["records_in"], record["accepted"], record["quarantined"], record["quarantined_by_reason"],
             record["bronze_version"], record["timings"])
    return record


def ingest(
    spark: SparkSession,
    spec: FeedSpec,
    date: dt.date,
    *,
    max_invalid_share: float = DEFAULT_MAX_INVALID_SHARE,
    files: Sequence[Path] | None = None,
    validate: bool = True,
) -> dict:
    """Ingest one feed's landing folder for one local date into bronze and quarantine (all three stages).

    Parameters
    ----------
    spark, spec, date, max_invalid_share, files
        As for ``stage_batch``.
    validate : bool
        Run the feed's Great Expectations suite on the accepted batch (``validate_batch``).

    Returns
    -------
    dict
        The run record (counts per reason, expectations, table versions, timings).

    Raises
    ------
    IngestRefused
        No landing files, too many invalid records, a failed critical expectation, or records
        unaccounted for; nothing is committed and the refused run is recorded.
    """
    record = stage_batch(spark, spec, date, max_invalid_share=max_invalid_share, files=files)
    if validate:
        validate_batch(spark, spec, record["staging"])
    return commit_batch(spark, spec, record["staging"])
