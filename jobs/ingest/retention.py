"""Retention: delete what is older than each layer keeps, then vacuum the files away.

| layer | default days kept | what |
|---|---|---|
| landing | 3 days after the last successful ingest of that date | raw supplier files (they hold raw identifiers) |
| quarantine | 14 | rejected records |
| bronze | 30 | pseudonymised events |
| silver | 60 | person-level presence |

``gold``, the ledger, audits and outbox deliveries keep their own, longer retention and are not touched
here. A delete is a Delta commit (visible in history); the vacuum then removes the data files no version
within ``vacuum_hours`` needs, so deleted rows are physically gone. Audits record input versions that a
later vacuum may remove.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

from jobs.common import lake, paths, settings, tables
from jobs.common.storage import remove_tree

log = logging.getLogger(__name__)
DEFAULT_DAYS = settings.RETENTION_DAYS


def _event_date_tables(layer: str) -> list[Path]:
    """The tables of a layer whose rows expire by ``event_date`` (not those the catalog keeps, such as the
    network's cell footprints in silver, which hold no person)."""
    folder = settings.lake_root() / layer
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and lake.exists(p) and not _kept(f"{layer}/{p.name}"))


def _kept(qualified: str) -> bool:
    try:
        return tables.table(qualified).retention == "kept"
    except KeyError:  # an undeclared table: retention applies as to its layer
        return False


def _ingested_on(feed: str) -> dict[dt.date, dt.date]:
    """Data date -> local date of the latest successful ingest of that date."""
    out: dict[dt.date, dt.date] = {}
    for r in tables.INGEST_RUNS.read_arrow(partitions={"feed": feed}).to_pylist():
        if r["status"] == "succeeded":
            done = r["finished_at"].astimezone(settings.LOCAL_TZ).date()
            out[r["event_date"]] = max(done, out.get(r["event_date"], done))
    return out


def apply_retention(today: dt.date, days: dict[str, int] | None = None, vacuum_hours: int = 0) -> dict:
    """Apply retention to landing, quarantine, bronze and silver.

    Parameters
    ----------
    today : datetime.date
        The local date retention is counted from.
    days : dict, optional
        Days kept per layer; defaults to ``DEFAULT_DAYS``.
    vacuum_hours : int
        Versions younger than this keep their files (0 removes every file no current row needs).

    Returns
    -------
    dict
        Per table: rows deleted and files vacuumed; per landing folder: removed.
    """
    days = {**DEFAULT_DAYS, **(days or {})}
    report: dict[str, dict] = {}
    for layer in ("quarantine", "bronze", "silver"):
        cutoff = today - dt.timedelta(days=days[layer])
        for table in _event_date_tables(layer):
            deleted = lake.delete_rows(table, f"event_date < '{cutoff.isoformat()}'")
            lake.optimize(table)
            removed = lake.vacuum(table, retain_hours=vacuum_hours)
            report[f"{layer}/{table.name}"] = {"rows_deleted": deleted, "files_vacuumed": removed,
                                               "cutoff": cutoff.isoformat()}
    landing_cutoff = today - dt.timedelta(days=days["landing"])
    landing = settings.lake_root() / "landing"
    for feed_dir in sorted(landing.iterdir()) if landing.is_dir() else []:
        if feed_dir.name == "reference":
            continue
        ingested = _ingested_on(feed_dir.name)
        for day_dir in sorted(feed_dir.iterdir()):
            try:
                day = dt.date.fromisoformat(day_dir.name)
            except ValueError:
                continue
            if day in ingested and ingested[day] <= landing_cutoff:
                remove_tree(day_dir)
                report[f"landing/{feed_dir.name}/{day_dir.name}"] = {"removed": True}
    # Staged ingest batches of runs that died between their stages (committed or refused ones are removed).
    staging = paths.ingest_staging()
    for batch in sorted(staging.glob("*/*/*")):
        if time.time() - batch.stat().st_mtime > 86_400:
            remove_tree(batch, ignore_errors=True)
            report[f"ingest_staging/{batch.relative_to(staging)}"] = {"removed": True}
    log.info("retention as of %s: %s", today, report)
    return report
