"""The three stages of ingest that every feed shares: stage, validate, commit.

read -> parse and type-check -> pseudonymise (and match opt-outs) -> locate (reference joins) ->
quarantine reasons -> de-duplicate -> validate the accepted batch (Great Expectations) -> write the bronze
and quarantine partitions of the date -> run record.

Every record ends in exactly one place: accepted, or quarantined with the first reason that applies, in the order of
docs/architecture.md, fixed interfaces. ``records in = accepted + quarantined`` is checked on every run against a count
the reader keeps itself, and a run record is written to ``ops/ingest_runs`` even when the run is refused (a refused run
commits nothing to bronze or quarantine). Opted-out records are counted, never stored. Re-ingesting a date replaces that
date's partitions in one commit each.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.common import faults, lake, paths, settings, tables
from jobs.common.objectstore import lake_path
from jobs.common.storage import check_writable, remove_tree
from jobs.common.timing import Stopwatch
from jobs.errors import IngestRefused, KeyRefused, ReferenceDataError, StorageFault
from jobs.ingest.classify import INVALID_REASONS, REASONS, classify
from jobs.ingest.event_quality import summary_lines
from jobs.ingest.optout import opted_out_tokens
from jobs.ingest.quality import validate_accepted, write_warnings_page
from jobs.ingest.records import file_columns, read_records
from jobs.ingest.runlog import STALE_STAGING_SECONDS, previous_accepted, released, write_run_record
from jobs.ingest.spec import FeedSpec, Reference, first_error, timestamp_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Re-exported: the spec and the rules, for callers that import them from the runner.
__all__ = ["INVALID_REASONS", "REASONS", "FeedSpec", "IngestRefused", "Reference", "classify", "commit_batch",
           "first_error", "ingest", "landing_files", "stage_batch", "timestamp_column", "validate_batch"]
DEFAULT_MAX_INVALID_SHARE = 0.05

log = logging.getLogger(__name__)


def landing_files(feed: str, date: dt.date) -> list[Path]:
    """Return the landing files of a feed and local date, sorted by name."""
    folder = settings.landing_path(feed, date.isoformat())
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def staging_dir(feed: str, date: dt.date, run_id: str) -> Path:
    """Folder of a run's staged (classified, not yet committed) batch: ``lake/ingest_staging/...``."""
    return paths.ingest_staging(feed) / date.isoformat() / run_id


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def _save(record: dict) -> dict:
    (lake_path(record["staging"]) / "run.json").write_text(json.dumps(record, indent=1))
    return record


def load_staged(staging: str | Path) -> dict:
    """Return the run record kept beside a staged batch (written by ``stage_batch``)."""
    path = lake_path(staging) / "run.json"
    if not path.exists():
        raise IngestRefused(f"no staged batch at {staging}: it was committed, refused or cleaned up; "
                            "rerun the whole ingest")
    return json.loads(path.read_text())


def refuse(record: dict, message: str) -> IngestRefused:
    """Record a refused run (nothing committed), drop its staged batch and return the error to raise."""
    record.update(status="refused", message=message, finished_at=_now())
    write_run_record(record)
    if record.get("staging"):
        remove_tree(lake_path(record["staging"]), ignore_errors=True)
    log.error("ingest %s %s refused: %s", record["feed"], record["event_date"], message)
    return IngestRefused(f"ingest {record['feed']} {record['event_date']}: {message}")


def _remove_stale_staging(feed: str, date: dt.date) -> None:
    import time

    folder = staging_dir(feed, date, "x").parent
    if folder.is_dir():
        for child in folder.iterdir():
            if time.time() - child.stat().st_mtime > STALE_STAGING_SECONDS:
                remove_tree(child, ignore_errors=True)


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
        Local date (the region's time zone) of the landing folder.
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
    watch = Stopwatch()
    run_id = f"{spec.name}-{date.isoformat()}-{uuid.uuid4().hex[:12]}"
    record: dict[str, Any] = {
        "run_id": run_id, "feed": spec.name, "event_date": date.isoformat(), "started_at": _now(),
        "files": 0, "records_in": 0, "accepted": 0, "quarantined": 0, "quarantined_by_reason": "{}",
        "invalid_share": 0.0, "late_records": 0, "timings": {},
    }
    files = list(files) if files is not None else landing_files(spec.name, date)
    record["files"] = len(files)
    record["extra_columns"] = json.dumps(extra_columns(spec, files))
    if not files:
        raise refuse(record, f"no landing files in {settings.landing_path(spec.name, date.isoformat())}")
    _remove_stale_staging(spec.name, date)
    staging = staging_dir(spec.name, date, run_id)
    try:
        check_writable(staging, "ingest staging")
    except StorageFault as exc:
        try:
            error = refuse(record, str(exc))
        except Exception:  # the run log cannot take the record either: the storage error says it all
            raise exc from None
        raise error from exc
    staging.mkdir(parents=True)
    record["staging"] = str(staging)

    # Counted by the reader itself, so the accounting check below is independent of later stages.
    records_read = spark.sparkContext.accumulator(0)
    try:
        records = read_records(spark, files, spec.fields, spec.file_format, counter=records_read,
                               optional=spec.optional_fields)
        optouts = opted_out_tokens(spec.name) if spec.identifier else frozenset()
        classify(spark, spec, records, date, optouts).write.mode("overwrite").parquet(str(staging / "classified"))
    except (ReferenceDataError, KeyRefused) as exc:  # recorded, staging removed, named for the operator
        raise refuse(record, str(exc)) from exc
    except Exception as exc:  # a full disk or a failing store while staging: recorded, what was staged removed
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        cause = "no space left on the staging disk" if "No space left" in str(exc) else "staging failed"
        raise refuse(record, f"{cause} ({type(exc).__name__}: {first[:300]}); nothing was committed and the "
                             f"staged files were removed; free space under {paths.ingest_staging(spec.name)} and "
                             "rerun") from exc
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
                             f"limit of {max_invalid_share:.1%}: {record['quarantined_by_reason']}; by field: "
                             + "; ".join(reasons_by_field(staged, INVALID_REASONS)))
    if spec.quality:
        record["warnings"] = json.dumps(spec.quality(spark, staged, date))
        watch.lap("quality_warnings")
        record["timings"] = watch.laps
    log.info("ingest %s %s staged: rows in %d, accepted %d, quarantined %d %s; columns ignored %s", spec.name,
             date, records_in, accepted, quarantined, record["quarantined_by_reason"], record["extra_columns"])
    for line in summary_lines(json.loads(record["warnings"])) if record.get("warnings") else []:
        log.warning("ingest %s %s quality warning, %s", spec.name, date, line)
    return _save(record)


def extra_columns(spec: FeedSpec, files: Sequence[Path]) -> list[str]:
    """Columns of the landing files (CSV headers, Parquet schemas) that the feed's schema does not name: ignored,
    and listed in the run record so a supplier's change of export is seen."""
    known = {*spec.fields, *spec.optional_fields}
    return sorted({c for f in files for c in file_columns(f, spec.file_format) if c and c not in known})


def reasons_by_field(staged: DataFrame, reasons: Sequence[str], top: int = 10) -> list[str]:
    """What the operator needs to fix a feed: each quarantine detail (which names the field and what is wrong,
    never a value) with its count, file and first and last line, most frequent first.

    Returns
    -------
    list of str
        Lines such as ``imsi: not 15 digits x 812 (telco.csv lines 14-9981)``.
    """
    from pyspark.sql import functions as F

    rows = (staged.filter(F.col("reason").isin(*reasons))
            .groupBy("reason", "detail", "source_file")
            .agg(F.count("*").alias("n"), F.min("line_number").alias("first"), F.max("line_number").alias("last"))
            .orderBy(F.desc("n")).limit(top).collect())
    lines = []
    for r in rows:
        where = f"line {r['first']}" if r["first"] == r["last"] else f"lines {r['first']}-{r['last']}"
        lines.append(f"{r['detail'] or r['reason']} x {r['n']} ({Path(r['source_file'] or '').name} {where})")
    return lines


def _staged(spark: SparkSession, record: dict) -> DataFrame:
    return spark.read.parquet(str(lake_path(record["staging"]) / "classified"))


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
    record = load_staged(staging)
    watch = Stopwatch()
    date = dt.date.fromisoformat(record["event_date"])
    outcome = validate_accepted(spec, _accepted(_staged(spark, record)), date, record["run_id"])
    record.update(expectations=json.dumps(outcome["summary"]), data_docs=outcome["data_docs"])
    if record.get("warnings"):
        write_warnings_page(spec.name, date, json.loads(record["warnings"]))
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
    # Bronze is committed first; readers take only rows of runs with a succeeded record (a crash before the
    # record leaves bronze rows that nothing reads: ``jobs.aggregate.silver.committed_bronze``).
    faults.reached("ingest.bronze")
    record["bronze_version"] = lake.write(
        bronze, tables.bronze(spec.name).path(), mode="replace_partitions",
        partition_by=["event_date"], replace=replace)
    watch.lap("write_bronze")
    faults.reached("ingest.quarantine")
    record["quarantine_version"] = lake.write(
        quarantine, tables.quarantine(spec.name).path(), mode="replace_partitions",
        partition_by=["event_date"], replace=replace)
    watch.lap("write_quarantine")
    if released(date):
        record["late_records"] = max(record["accepted"] - previous_accepted(spec.name, date), 0)
    if record["late_records"]:
        record["message"] = ("a release already covers this date: these records change no delivered product "
                             "unless a new release is made (which spends budget)")
    record["timings"].update(watch.laps)
    record.update(status="succeeded", finished_at=_now())
    faults.reached("ingest.run_record")
    write_run_record(record)
    remove_tree(lake_path(record["staging"]), ignore_errors=True)
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
