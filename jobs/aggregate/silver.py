"""``cde aggregate --date D``: rebuild the silver tables of one local day from bronze.

- ``silver/presence`` (partitions ``event_date``, ``source``) from telco, wifi and ticket bronze;
- ``silver/stays`` and ``silver/trips`` (same partitions);
- ``silver/anchors`` (telco: the only source with nights, days and a home network) for the day, over the
  rolling window of earlier presence.

Each write replaces the day's partitions in one commit, so a rerun is idempotent. Input versions are
returned (and logged) so that releases and audits can cite them.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from jobs.aggregate.anchors import anchors_for_day, window_start
from jobs.aggregate.movement import stays_from_presence, trips_from_stays, trips_from_tickets
from jobs.aggregate.presence import PRESENCE_BUILDERS
from jobs.common import lake, settings
from jobs.common.timing import Stopwatch

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
ANCHOR_SOURCES = ("telco",)


def _replace(df, name: str, date: dt.date, source: str) -> int:
    return lake.write(df, settings.table_path("silver", name), mode="replace_partitions",
                      partition_by=["event_date", "source"],
                      replace=[{"event_date": date.isoformat(), "source": source}])


def build_silver(spark: SparkSession, date: dt.date, sources: tuple[str, ...] | None = None) -> dict:
    """Rebuild presence, stays, trips and anchors of a local day for the given (or every ingested) source.

    Returns
    -------
    dict
        Per source: bronze version read, rows and silver versions written.
    """
    from pyspark import StorageLevel

    sources = sources or tuple(s for s in PRESENCE_BUILDERS
                               if lake.exists(settings.table_path("bronze", f"{s}_events")))
    out: dict[str, dict] = {}
    for source in sources:
        bronze_path = settings.table_path("bronze", f"{source}_events")
        if not lake.exists(bronze_path):
            raise FileNotFoundError(f"no bronze table for {source} at {bronze_path}: ingest it first")
        watch = Stopwatch()
        bronze_version = lake.version(bronze_path)
        bronze = lake.read(spark, bronze_path, version=bronze_version, partitions={"event_date": date.isoformat()})
        presence = PRESENCE_BUILDERS[source](bronze, source).persist(StorageLevel.DISK_ONLY)
        info = {"bronze_version": bronze_version, "presence_rows": presence.count()}
        info["presence_version"] = _replace(presence, "presence", date, source)
        watch.lap("presence")
        stays = stays_from_presence(presence).persist(StorageLevel.DISK_ONLY)
        info["stays_version"] = _replace(stays, "stays", date, source)
        watch.lap("stays")
        trips = trips_from_tickets(bronze) if source == "ticket" else trips_from_stays(stays)
        info["trips_version"] = _replace(trips, "trips", date, source)
        watch.lap("trips")
        presence.unpersist()
        stays.unpersist()
        if source in ANCHOR_SOURCES:
            first = window_start(date)
            days = [(first + dt.timedelta(days=i)).isoformat() for i in range((date - first).days + 1)]
            window = lake.read(spark, settings.table_path("silver", "presence"),
                               partitions={"event_date": days, "source": source})
            anchors = anchors_for_day(spark, window, date)
            info["anchors_version"] = _replace(anchors, "anchors", date, source)
            watch.lap("anchors")
        info["seconds"] = watch.laps
        out[source] = info
        log.info("aggregate %s %s: bronze v%d -> %d presence rows; silver %s", source, date, bronze_version,
                 info["presence_rows"], {k: v for k, v in info.items() if k.endswith("_version")})
    return out
