"""The ingest run log, ``ops/ingest_runs``: one record per run, refused runs included."""

from __future__ import annotations

import datetime as dt

from jobs.common import tables

RUN_SCHEMA = tables.INGEST_RUNS.schema
# Stale staged batches (runs that died between stages) are removed after this long.
STALE_STAGING_SECONDS = 86_400


def write_run_record(record: dict) -> None:
    """Append a run record (a JSON-able dict as the stages keep it) to ``ops/ingest_runs``."""
    row = dict(record)
    row["event_date"] = dt.date.fromisoformat(str(row["event_date"]))
    for key in ("started_at", "finished_at"):
        if isinstance(row.get(key), str):
            row[key] = dt.datetime.fromisoformat(row[key])
    tables.INGEST_RUNS.append([row])


def released(date: dt.date) -> bool:
    """True when a release already covers this local date (late data changes no delivered product)."""
    return any(start <= date < end for start, end in tables.release_windows())


def previous_accepted(feed: str, date: dt.date) -> int:
    """Records accepted by the latest earlier succeeded run of this feed and date (0 if none)."""
    runs = tables.ingest_runs(feed)
    runs = runs[(runs["status"] == "succeeded") & (runs["event_date"] == date)]
    return int(runs.sort_values("finished_at")["accepted"].iloc[-1]) if len(runs) else 0
