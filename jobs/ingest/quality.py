"""Great Expectations on the accepted, already pseudonymised batch of an ingest run.

Suites are JSON files in ``expectations/<feed>.json``: a list of expectations (GX 1.x type names and
kwargs), each with ``meta.critical`` true or false. Row-level problems were already quarantined; the suite
checks the accepted batch as a whole (schema, nulls, ranges, enums, the run window, volume). A failed
critical expectation refuses the run (nothing is committed); the others are reported in the run record.
Identifier columns (even pseudonyms) never reach a suite, so Data Docs cannot list them.
Data Docs HTML is written per run under ``lake/data_docs/<feed>/<date>/``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.common import paths, settings
from jobs.common.storage import local_staging, remove_tree, upload_tree
from jobs.common.timebins import day_bounds
from jobs.ingest.datadocs import localise

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from jobs.ingest.spec import FeedSpec

log = logging.getLogger(__name__)
SUITES_DIR = settings.REPO_ROOT / "expectations"
NEVER_VALIDATED = ("pseudo_id", "source_file", "line_number", "run_id")


def load_suite_spec(feed: str) -> dict[str, Any]:
    """Read ``expectations/<feed>.json``."""
    path = SUITES_DIR / f"{feed}.json"
    if not path.exists():
        raise FileNotFoundError(f"no expectation suite for feed {feed!r} at {path}")
    return json.loads(path.read_text())


def _resolve(value: Any, date: dt.date) -> Any:
    """Fill run-dependent placeholders: ``$window_start`` / ``$window_end`` (UTC instants), ``$date``."""
    start, end = day_bounds(date)
    # GX compares Spark timestamps (shown in the session's UTC) with naive datetimes.
    placeholders = {"$window_start": start.replace(tzinfo=None), "$window_end": end.replace(tzinfo=None),
                    "$date": date}
    if isinstance(value, str) and value in placeholders:
        return placeholders[value]
    if isinstance(value, list):
        return [_resolve(v, date) for v in value]
    return value


def data_docs_dir(feed: str, date: dt.date) -> Path:
    """Data Docs site of one feed and date (a rerun of the date replaces it, as it replaces bronze)."""
    return paths.data_docs(feed) / date.isoformat()


def validate_accepted(spec: FeedSpec, accepted: DataFrame, date: dt.date, run_id: str) -> dict[str, Any]:
    """Validate the accepted batch with the feed's suite and write Data Docs.

    Parameters
    ----------
    spec : FeedSpec
        The feed.
    accepted : DataFrame
        Accepted rows (pseudonymised); identifier columns are dropped before validation.
    date : datetime.date
        The run's local date.
    run_id : str
        Ingest run id, used as the validation's run name.

    Returns
    -------
    dict
        ``summary`` (one entry per expectation: type, column, critical, success, unexpected count),
        ``critical_failures`` (messages) and ``data_docs`` (path of the site's index).
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    suite_spec = load_suite_spec(spec.suite_name)
    batch = accepted.drop(*[c for c in NEVER_VALIDATED if c in accepted.columns])
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    published = data_docs_dir(spec.name, date)
    # GX writes a local folder; a lake on an object store gets the finished site uploaded.
    docs = local_staging("data-docs") if settings.lake_is_remote() else published
    context.add_data_docs_site(site_name="cde", site_config={
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    })
    asset = context.data_sources.add_spark(name=f"{spec.name}_accepted").add_dataframe_asset(name=spec.name)
    definition = asset.add_batch_definition_whole_dataframe("accepted")
    suite = gx.ExpectationSuite(name=f"{spec.name}_accepted")
    for item in suite_spec["expectations"]:
        kwargs = {k: _resolve(v, date) for k, v in item["kwargs"].items()}
        suite.add_expectation_configuration(ExpectationConfiguration(
            type=item["type"], kwargs=kwargs, meta={"critical": bool(item.get("critical", False))}))
    suite = context.suites.add(suite)
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{spec.name}_accepted", data=definition, suite=suite))
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name=f"{spec.name}_ingest", validation_definitions=[validation],
        actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")]))
    try:
        result = checkpoint.run(batch_parameters={"dataframe": batch},
                                run_id=RunIdentifier(run_name=run_id))
        localise(docs, published)  # the pages' CDN scripts and styles from the lake: readable offline
        if docs != published:
            remove_tree(published)
            upload_tree(docs, published)
    finally:
        if docs != published:
            remove_tree(docs, ignore_errors=True)  # a bucket's site built locally, also when validation failed
    summary, critical_failures = [], []
    for run_result in result.run_results.values():
        for r in run_result.results:
            config = r.expectation_config
            column = config.kwargs.get("column")
            entry = {"type": config.type, "column": column, "critical": bool(config.meta.get("critical")),
                     "success": bool(r.success),
                     "unexpected_count": (r.result or {}).get("unexpected_count"),
                     "observed_value": _plain((r.result or {}).get("observed_value"))}
            summary.append(entry)
            if entry["critical"] and not entry["success"]:
                critical_failures.append(
                    f"{config.type} on {column or 'the batch'} (unexpected {entry['unexpected_count']}, "
                    f"observed {entry['observed_value']})")
    failed = [s for s in summary if not s["success"]]
    log.info("expectations %s %s: %d checked, %d failed (%d critical)", spec.name, date, len(summary),
             len(failed), len(critical_failures))
    return {"summary": summary, "critical_failures": critical_failures,
            "data_docs": str(published / "index.html")}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def write_warnings_page(feed: str, date: dt.date, warnings: dict[str, Any]) -> Path:
    """Add the run's quality warnings to its Data Docs: a page beside the index, linked from its top.

    Returns
    -------
    Path
        The page written (``quality_warnings.html`` in the feed and date's Data Docs site).
    """
    from html import escape

    site = data_docs_dir(feed, date)
    network, events = warnings.get("network") or {}, warnings.get("events") or {}
    rows = "".join(f"<tr><td>{escape(w['warning'])}</td><td>{w['cells']}</td></tr>"
                   for w in network.get("warnings", []))
    examples = "".join(f"<tr><td>{escape(e['cell_id'])}</td><td>{e['local_hour']}:00</td><td>{e['events']}</td>"
                       f"<td>{e['usual']}</td></tr>" for e in events.get("examples", []))
    events_text = escape(events["note"]) if "note" in events else (
        f"{events.get('above_usual', 0)} cell-hours above their usual level and {events.get('below_usual', 0)} "
        f"below, of {events.get('cell_hours', 0)} compared with the {events.get('lookback_days', 0)} earlier days")
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(feed)} {date}: quality
warnings</title></head><body><h1>{escape(feed)} {date}: quality warnings</h1>
<h2>Network topology</h2><p>Snapshot {escape(str(network.get('snapshot')))}{
    ': ' + escape(network['fallback']) if network.get('fallback') else ''}; {network.get('cells_valid', 0)} cells valid
that day, {network.get('cells_not_valid_that_day', 0)} listed for other days only.</p>
<table border="1"><tr><th>warning</th><th>cells</th></tr>{rows or '<tr><td>none</td><td>0</td></tr>'}</table>
<h2>Events per cell and hour against their usual level</h2><p>{events_text}.</p>
<table border="1"><tr><th>cell</th><th>local hour</th><th>events</th><th>usual (mean)</th></tr>{examples}</table>
<p><a href="index.html">Expectation results</a></p></body></html>"""
    target = site / "quality_warnings.html"
    target.write_bytes(page.encode())
    index = site / "index.html"
    if index.exists():
        text = index.read_text()
        link = '<p><a href="quality_warnings.html">Quality warnings of this run</a></p>'
        if link not in text:
            index.write_bytes(re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + link, text, count=1).encode())
    return target
