"""``cde aggregate --date D``: rebuild the silver tables of one local day from bronze.

- ``silver/presence`` (partitions ``event_date``, ``source``) from telco, wifi and ticket bronze;
- ``silver/stays`` and ``silver/trips`` (same partitions);
- ``silver/instants`` (telco, mno: the serving cell nearest each person's quarter-hour instants), and the
  network's cell footprints for the day when none serve it yet (``jobs.ingest.footprints.ensure_footprints``);
- ``silver/anchors`` (telco: the only source with nights, days and a home network) for the day, over the
  rolling window of earlier presence.

Each write replaces the day's partitions in one commit, so a rerun is idempotent. Input versions are
returned (and logged) so that releases and audits can cite them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING, Any

from jobs.aggregate.anchors import anchors_for_day, window_start
from jobs.aggregate.movement import stays_from_presence, trips_from_stays, trips_from_tickets
from jobs.common import lake, tables
from jobs.common.timing import Stopwatch
from jobs.errors import IngestRefused
from jobs.ingest.feeds import FEEDS, feeds_with
from jobs.ingest.footprints import ensure_footprints

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


def _replace(df, name: str, date: dt.date, source: str) -> int:
    return lake.write(df, tables.SILVER[name].path(), mode="replace_partitions",
                      partition_by=["event_date", "source"],
                      replace=[{"event_date": date.isoformat(), "source": source}])


def _write_build_record(source: str, date: dt.date, info: dict) -> None:
    """Append to ``ops/silver_builds``: which bronze version built a source's silver partitions, and when."""
    versions = {k: v for k, v in info.items() if k.endswith("_version")}
    row = {"source": source, "event_date": date, "built_at": dt.datetime.now(dt.timezone.utc),
           "bronze_version": info["bronze_version"], "presence_rows": info["presence_rows"],
           "versions": json.dumps(versions)}
    tables.SILVER_BUILDS.append([row])


def _latest(runs, key: str, time_column: str, succeeded_only: bool = False) -> dict[tuple[str, dt.date], Any]:
    """Latest ``time_column`` per (``key``, event_date) of a run-record frame."""
    if runs.empty:
        return {}
    if succeeded_only:
        runs = runs[runs["status"] == "succeeded"]
    return {(k, d): t for (k, d), t in runs.groupby([key, "event_date"])[time_column].max().items()}


def missing_inputs(dates: list[dt.date], sources: tuple[str, ...]) -> list[str]:
    """What a release over ``dates`` and ``sources`` would still miss; empty when every input is ready.

    A source's day is ready when it has a succeeded ingest run and, for sources aggregated into silver, a
    silver build newer than that ingest (so late data that was re-ingested is aggregated before release).
    Camera counts are released from bronze, so an ingest is enough for them.

    Returns
    -------
    list of str
        One line per missing (source, date), saying what is missing.
    """
    ingested = _latest(tables.ingest_runs(), "feed", "finished_at", succeeded_only=True)
    built = _latest(tables.silver_builds(), "source", "built_at")
    aggregated = feeds_with(lambda spec: spec.presence is not None)
    missing = []
    for date in dates:
        for source in sources:
            when = ingested.get((source, date))
            if when is None:
                missing.append(f"{source} {date}: no succeeded ingest run")
            elif source in aggregated and built.get((source, date)) is None:
                missing.append(f"{source} {date}: ingested, silver not built yet")
            elif source in aggregated and built[(source, date)] < when:
                missing.append(f"{source} {date}: re-ingested at {when}, silver not rebuilt since")
    return missing


def succeeded_run_ids(date: dt.date) -> dict[str, str]:
    """The latest succeeded ingest run id per feed for one local date."""
    if not tables.INGEST_RUNS.exists():
        return {}
    runs = tables.latest_succeeded_runs(tuple(FEEDS), date, date + dt.timedelta(days=1))
    return dict(zip(runs["feed"], runs["run_id"], strict=True))


def committed_bronze(spark: SparkSession, source: str, date: dt.date, version: int, run_id: str) -> DataFrame:
    """A day's bronze rows as committed by its latest succeeded ingest run.

    Ingest commits bronze before its run record, so a crash between the two leaves a bronze partition
    written by a run that never succeeded. Such rows are never read: the partition must hold the succeeded
    run's rows, else the day is refused until it is re-ingested.

    Raises
    ------
    IngestRefused
        The partition was replaced by a run with no succeeded record.
    """
    from pyspark.sql import functions as F

    bronze = lake.read(spark, tables.bronze(source).path(), version=version,
                       partitions={"event_date": date.isoformat()})
    others = [r["run_id"] for r in bronze.select("run_id").distinct().collect() if r["run_id"] != run_id]
    if others:
        raise IngestRefused(f"aggregate {source} {date}: bronze holds rows of ingest run {others[0]}, which has no "
                            f"succeeded run record (it crashed after writing); re-ingest with `cde ingest {source} "
                            f"--date {date}`")
    return bronze.filter(F.col("run_id") == run_id)


def build_silver(spark: SparkSession, date: dt.date, sources: tuple[str, ...] | None = None) -> dict:
    """Rebuild presence, stays, trips and anchors of a local day for the given (or every ingested) source.

    Returns
    -------
    dict
        Per source: bronze version read, rows and silver versions written.
    """
    from pyspark import StorageLevel

    succeeded = succeeded_run_ids(date)
    sources = sources or tuple(s for s in feeds_with(lambda f: f.presence is not None) if s in succeeded)
    out: dict[str, dict] = {}
    for source in sources:
        bronze_table = tables.bronze(source)
        bronze_path = bronze_table.path()
        if source not in succeeded or not bronze_table.exists():
            raise IngestRefused(f"aggregate {source} {date}: no succeeded ingest run for that day; run "
                                f"`cde ingest {source} --date {date}` first")
        watch = Stopwatch()
        bronze_version = lake.version(bronze_path)
        bronze = committed_bronze(spark, source, date, bronze_version, succeeded[source])
        spec = FEEDS[source]
        presence = spec.presence(bronze, source).persist(StorageLevel.DISK_ONLY)
        info = {"bronze_version": bronze_version, "presence_rows": presence.count()}
        info["presence_version"] = _replace(presence, "presence", date, source)
        watch.lap("presence")
        stays = stays_from_presence(presence).persist(StorageLevel.DISK_ONLY)
        info["stays_version"] = _replace(stays, "stays", date, source)
        watch.lap("stays")
        trips = trips_from_tickets(bronze, source) if spec.trips_from == "records" else trips_from_stays(stays)
        info["trips_version"] = _replace(trips, "trips", date, source)
        watch.lap("trips")
        presence.unpersist()
        stays.unpersist()
        if spec.instants is not None:  # network feeds: where each person was at each instant (present population)
            info["instants_version"] = _replace(spec.instants(bronze, source), "instants", date, source)
            watch.lap("instants")
            if ensure_footprints(source, date):  # the footprints present_population spreads the instants over
                watch.lap("footprints")
        if spec.anchors:
            first = window_start(date)
            days = [(first + dt.timedelta(days=i)).isoformat() for i in range((date - first).days + 1)]
            window = lake.read(spark, tables.SILVER["presence"].path(),
                               partitions={"event_date": days, "source": source})
            anchors = anchors_for_day(spark, window, date)
            info["anchors_version"] = _replace(anchors, "anchors", date, source)
            watch.lap("anchors")
        info["seconds"] = watch.laps
        out[source] = info
        _write_build_record(source, date, info)
        log.info("aggregate %s %s: bronze v%d -> %d presence rows; silver %s", source, date, bronze_version,
                 info["presence_rows"], {k: v for k, v in info.items() if k.endswith("_version")})
    return out
