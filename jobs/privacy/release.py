"""Releases: noisy tables over a public domain, written once to ``gold/releases`` and never redrawn.

One generic engine over a measure (``jobs/privacy/measures/``): nothing here knows a metric by name. The
order of a release is fixed (docs/architecture.md, the privacy model), and the audit lists it:

1. plan the release and derive its id from everything that defines it;
2. reuse a stored release with that id (no new spend): one found in ``ops/releases``, or a draw found in
   ``gold/releases`` itself whose ``ops/releases`` row a crash prevented (the row is written then), else
3. check that every table of the release is healthy and every folder writable, then check and record the
   spend in the ledger (refused before any noise is drawn);
4. read the measure's table (a recorded version) for the window and sources;
5. map to the contract cut, join segment columns, bound each person-day with the measure's bounder, aggregate;
6. zero-fill over the public domain (contract area cells x local bins x segment values), or select
   partitions (sparse domains, with a delta);
7. draw discrete noise in the executors and write the noisy table once to ``gold/releases``;
8. record the draw's sha256 and row count in the ledger (a ``draw`` row naming the spend), then the release
   (ledger entry, input versions) in ``ops/releases``.

Everything downstream (products, files, audits, derivations) reads the stored release back through
``read_release``, which accepts only rows of the newest spend of the release whose hash matches its draw row.
A crash or a storage fault after the spend and before the draw is stored loses that spend (never given
back): the next attempt, under the release's lock, finds no stored rows, records the spend ``lost`` in the
ledger and only then spends again (the ledger refuses a second spend otherwise). Such a failure is final
(``SpentNotStored``), so no automatic retry spends again. At most one draw is ever stored per release id:
the write replaces the release's partition, and one writer per release holds a lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pa_csv

from jobs.aggregate.metrics import with_segments
from jobs.aggregate.silver import committed_bronze, missing_inputs, succeeded_run_ids
from jobs.common import faults, lake, settings, tables
from jobs.common.columns import SEGMENT_COLUMNS
from jobs.common.locks import Held, exclusive
from jobs.common.storage import preflight
from jobs.contracts.zones import parse_zones_text
from jobs.errors import ReleaseRefused, SpentNotStored, StorageFault, error_line
from jobs.ingest.pseudonym import key_period
from jobs.privacy import ledger
from jobs.privacy.domain import domain_bins, domain_cells, public_domain, restrict_to_domain, to_zones, zero_fill
from jobs.privacy.measures import PARTITION_SELECTION
from jobs.privacy.measures.segments import OTHER_COUNTRY
from jobs.privacy.noise import noisy_column
from jobs.privacy.partition_selection import select_partitions, selection_threshold
from jobs.privacy.plan import ReleasePlan, plan_for

__all__ = ["ReleasePlan", "draw_digest", "make_release", "plan_for", "read_release", "stored_release", "verified_draw",
           "verify_draws"]

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


log = logging.getLogger(__name__)

RELEASE_LOG_SCHEMA = tables.RELEASE_LOG.schema
# Compute a release's true counts before its spend (bench/spend_to_draw.py turns it off to measure the span).
MATERIALISE_BEFORE_SPEND = True


def release_log_path():
    """Folder of ``ops/releases``: one row per stored release."""
    return tables.RELEASE_LOG.path()


def stored_release(release_id: str) -> dict[str, Any] | None:
    """Return the release log row of a stored release, or None."""
    rows = tables.release_log_rows(release_id)
    return rows[-1] if rows else None


def _stages(plan: ReleasePlan, domain: str) -> list[str]:
    """The computation stages of a release, in order, in words (the audit's "explain computation")."""
    measure, bounder = plan.measure, plan.bounder
    stages = [
        f"read {measure.reads} for {plan.window_start} to {plan.window_end} (exclusive), sources "
        f"{', '.join(plan.sources)}",
        f"map to H3 resolution {plan.h3_resolution} and {plan.bin_minutes}-minute local bins",
        f"keep only rows inside the public domain ({' and '.join(measure.places)} in the contract area, bins in the "
        "window) before bounding, so contributions outside it do not use up a person's bound",
    ]
    if plan.countries:
        stages.append(f"home countries outside the contract's list ({', '.join(plan.countries)}) become "
                      f"'{OTHER_COUNTRY}'")
    for column in plan.segment_columns:
        where = f"joined per person-day from {column.joined_from}" if column.joined_from else "from each record"
        cost = (f"a {column.lookback_days + 1}-day look-back; a person can move between values, so the bound is "
                f"multiplied by {column.sensitivity_multiplier}" if column.lookback_days or
                column.sensitivity_multiplier > 1 else "fixed per pseudonym or record: no look-back, no multiplier")
        stages.append(f"split by {column.name} ({column.description}), {where}: {cost}")
    noise = plan.noise()
    stages += [
        f"bound contributions: {bounder.text()}; excess dropped by a keyed hash",
        f"compute {plan.metric} per key ({measure.description})",
        domain,
        f"{plan.mechanism} noise, epsilon {plan.epsilon:g}"
        + (f", delta {plan.delta:g}" if plan.delta else "")
        + f", L1 sensitivity {plan.sensitivity}"
        + (f", L2 sensitivity {plan.l2_sensitivity}" if plan.mechanism == "gaussian_discrete" else "")
        + f" (noise scale {noise['scale']:.3g}, 95% of values within +/- {noise['ci95_half_width']:g}), "
          "drawn in the executors",
        "write the noisy table once to gold/releases; every product reads it back",
    ]
    return stages


def _dates(plan: ReleasePlan) -> list[str]:
    return [d.isoformat() for d in _window_dates(plan)]


def _read_input(spark: SparkSession, qualified: str, plan: ReleasePlan) -> tuple[DataFrame, int]:
    """Read a catalog table for the plan's dates (and sources, where the table is split by source)."""
    table = tables.table(qualified)
    if not table.exists():
        raise FileNotFoundError(f"no {qualified} at {table.path()}: {table.produced_by} first")
    version = table.version()
    if table.layer == "bronze":  # only rows of succeeded ingest runs (a crashed run's rows are never read)
        from functools import reduce

        source = table.name.removesuffix("_events")
        runs = {d: succeeded_run_ids(dt.date.fromisoformat(d)).get(source) for d in _dates(plan)}
        frames = [committed_bronze(spark, source, dt.date.fromisoformat(d), version, run)
                  for d, run in runs.items() if run]
        if frames:
            return reduce(lambda a, b: a.unionByName(b), frames), version
    partitions: dict[str, Any] = {"event_date": _dates(plan)}
    if "source" in table.partitions:
        partitions["source"] = list(plan.sources)
    return table.read(spark, version=version, partitions=partitions), version


def require_history(plan: ReleasePlan) -> None:
    """Refuse a release whose segments need a look-back the lake cannot give: every day of
    ``[window_start - lookback_days, window_end)`` ingested and aggregated for each source, all in one
    pseudonym-key period (anchors never link pseudonyms across a key rotation, so a look-back that crosses
    one would classify everybody from a few days and release noise dressed as segments).

    Raises
    ------
    ReleaseRefused
        Naming the missing days or the rotation, and the first window that will be deliverable.
    """
    if not plan.lookback_days:
        return
    first = plan.window_start - dt.timedelta(days=plan.lookback_days)
    if key_period(first) != key_period(plan.window_end - dt.timedelta(days=1)):
        rotation = next(first + dt.timedelta(days=i) for i in range(plan.lookback_days + plan.days)
                        if key_period(first + dt.timedelta(days=i)) != key_period(first))
        resume = rotation + dt.timedelta(days=plan.lookback_days)
        raise ReleaseRefused(
            f"contract {plan.contract_id}: {plan.metric} by {', '.join(plan.segments)} needs {plan.lookback_days + 1} "
            f"days of history in one pseudonym-key period, but the look-back from {first} crosses the key rotation "
            f"of {rotation} (every {settings.KEY_ROTATION_DAYS} days): deliveries resume with the window starting "
            f"{resume}; nothing was spent")
    dates = [first + dt.timedelta(days=i) for i in range((plan.window_end - first).days)]
    missing = missing_inputs(dates, plan.sources)
    if missing:
        raise ReleaseRefused(
            f"contract {plan.contract_id}: {plan.metric} by {', '.join(plan.segments)} needs its "
            f"{plan.lookback_days}-day "
            f"look-back ingested before {plan.window_start}: {len(missing)} source-day(s) missing (first: "
            f"{missing[0]}); nothing was spent")


def require_inputs(plan: ReleasePlan) -> None:
    """Refuse a release whose window is not ingested: every source and day of ``[window_start, window_end)``
    needs a succeeded ingest run with at least one accepted record (and, for aggregated sources, a silver
    build after it), as the publish DAG's sensor waits for. Never a condition on the contract's own cut,
    whose emptiness would itself leak; an empty day of a feed means the feed failed, not that nobody moved.

    Raises
    ------
    ReleaseRefused
        Naming the missing source-days; nothing was spent.
    """
    missing = missing_inputs(_window_dates(plan), plan.sources)
    runs = tables.latest_succeeded_runs(tuple(plan.sources), plan.window_start, plan.window_end) \
        if tables.INGEST_RUNS.exists() else None
    if runs is not None:
        missing += [f"{r['feed']} {r['event_date']}: the succeeded ingest run {r['run_id']} accepted no record"
                    for r in runs.to_dict("records") if int(r["accepted"]) < 1]
    if missing:
        raise ReleaseRefused(f"contract {plan.contract_id}: {plan.metric} for {plan.window_start} to "
                             f"{plan.window_end} (exclusive) reads {len(missing)} source-day(s) that are not ready "
                             f"(first: {missing[0]}); ingest and aggregate them first. Nothing was spent")


def _window_dates(plan: ReleasePlan) -> list[dt.date]:
    return [plan.window_start + dt.timedelta(days=i) for i in range(plan.days)]


def domain_cut(spark: SparkSession, plan: ReleasePlan) -> tuple[DataFrame, dict, list[str], list[dt.datetime]]:
    """The plan's input rows at its cut, restricted to the public domain, segment columns joined (before
    bounding). Returns the rows, the input table versions, the area's cells and the window's bins."""
    measure = plan.measure
    cells = domain_cells(json.loads(plan.area), plan.h3_resolution)
    rows, version = _read_input(spark, measure.reads, plan)
    inputs: dict[str, int] = {measure.reads: version}
    cut = measure.to_cut(spark, rows, plan, cells)
    # Restrict to the public domain before bounding: contributions outside it must not eat the bound.
    bins = domain_bins(plan.window_start, plan.window_end, plan.bin_minutes)
    cut = restrict_to_domain(spark, cut, measure.places, cells, bins, plan.bin_minutes)
    if plan.zones:  # a zone-level release: each cell becomes its zone's index before bounding
        cut = to_zones(spark, cut, measure.places, parse_zones_text(plan.zones))
    joined = sorted({c.joined_from for c in plan.segment_columns if c.joined_from})
    for name in joined:  # only silver/anchors today
        anchors, inputs[name] = _read_input(spark, name, plan)
        cut = with_segments(cut, anchors)
    if plan.countries:  # the contract's public country list; every other home country counts as "other"
        from pyspark.sql import functions as F

        cut = cut.withColumn("country", F.when(F.col("country").isin(*plan.countries), F.col("country"))
                             .otherwise(F.lit(OTHER_COUNTRY)))
    return cut, inputs, cells, bins


def _materialised(frame: DataFrame, plan: ReleasePlan) -> DataFrame:
    """``frame`` computed now and kept in the executors; a file of its inputs that cannot be read is a
    ``StorageFault`` naming the table, before anything is spent."""
    try:
        return frame.localCheckpoint(eager=True)
    except Exception as exc:  # Spark wraps the reader's error; its deepest cause names the file
        raise StorageFault(f"{plan.measure.reads}: cannot be read for {plan.window_start} to {plan.window_end} "
                           f"(exclusive): {error_line(exc)}. Restore the damaged file from the table's history or "
                           "re-run that day's ingest and aggregate; nothing was spent") from exc


def _compute(spark: SparkSession, plan: ReleasePlan,
             materialise: bool = True) -> tuple[DataFrame, dict, str, int]:
    """The noisy release table (lazy), its input versions, the domain's description and its size.

    Generic over the plan's measure: read, cut, restrict to the domain, segments, bound, aggregate, then
    zero-fill and noise or partition selection.
    """
    measure, bounder = plan.measure, plan.bounder
    cut, inputs, cells, bins = domain_cut(spark, plan)
    keys = measure.keys(plan.segments)
    counts = measure.aggregate(bounder.bound(cut, keys), keys)
    if materialise and MATERIALISE_BEFORE_SPEND:
        # Read every input and compute the true counts now, before the spend: a file that cannot be read fails
        # here with nothing spent, and the span from spend to stored draw is only the noise and the write.
        counts = _materialised(counts, plan)
    if plan.domain == PARTITION_SELECTION:
        noisy = select_partitions(counts, plan.epsilon, plan.delta, plan.sensitivity, plan.max_per_key)
        tau = selection_threshold(plan.epsilon, plan.delta, plan.sensitivity, plan.max_per_key)
        noisy = noisy.withColumnRenamed(measure.places[0], "h3_cell")
        domain = (f"DP partition selection over {' x '.join(measure.places)} keys inside the area ({len(cells)} "
                  f"cells): a key is released when its noisy count reaches {tau}; other keys are left out")
        return noisy, inputs, domain, 0
    zones = parse_zones_text(plan.zones) if plan.zones else ()
    places = list(range(len(zones))) if zones else cells  # zone indices stand in the place column
    domain_df = public_domain(spark, places, bins, measure.places)
    size = len(places) ** len(measure.places) * len(bins)
    for column in plan.segment_columns:
        values = plan.segment_values(column)
        domain_df = domain_df.crossJoin(spark.createDataFrame([(v,) for v in values], f"{column.name} string"))
        size *= len(values)
    filled = zero_fill(domain_df, counts, tuple(keys))
    if materialise and MATERIALISE_BEFORE_SPEND:  # the zero-filled domain too: after the spend only noise is left
        filled = filled.localCheckpoint(eager=True)
    noisy = noisy_column(filled, "value", plan.epsilon, plan.noise_sensitivity, plan.mechanism, plan.delta or None)
    noisy = noisy.withColumnRenamed(measure.places[0], "h3_cell")
    extra = f" x {' x '.join(plan.segments)} values from public lists" if plan.segments else ""
    places = (f"{len(cells)} cells of the contract area" if len(measure.places) == 1 else
              f"{len(cells)} x {len(cells)} (origin, destination) pairs of the contract area's cells")
    if zones:
        places = (f"{len(zones)} zones of the contract ({sum(len(c) for _, c in zones)} cells; each person-level "
                  "row counted in its cell's zone)")
    domain = f"zero-fill over the public domain: {places} x {len(bins)} bins{extra}"
    return noisy, inputs, domain, size


def make_release(spark: SparkSession, plan: ReleasePlan) -> dict[str, Any]:
    """Make (or reuse) the release of a plan; see the module docstring for the order of stages.

    Parameters
    ----------
    spark : SparkSession
        The process's session.
    plan : ReleasePlan
        What to release.

    Returns
    -------
    dict
        The release log row (``release_id``, ``ledger_entry_id``, ``inputs``, ``stages``, ``rows``,
        ``gold_version``) plus ``reused`` (True when a stored release was found and nothing was spent).

    Raises
    ------
    ReleaseRefused
        A segment release without its look-back of history in one pseudonym-key period (``require_history``).
    ledger.BudgetExceeded
        The spend does not fit a budget; nothing was drawn or written.
    """
    # One writer per release: a concurrent request waits here, then finds the stored release and reuses it.
    with exclusive(f"release-{plan.release_id}") as held:
        return _make_release_locked(spark, plan, held)


def _make_release_locked(spark: SparkSession, plan: ReleasePlan, held: Held) -> dict[str, Any]:
    from pyspark.sql import functions as F

    # Everything that can fail is checked before the spend: storage, history, inputs present, domain.
    preflight([(tables.RELEASES.path(), "gold/releases"), (tables.RELEASE_LOG.path(), "ops/releases"),
               (ledger.ledger_path(), "ledger/privacy_budget")])
    existing = stored_release(plan.release_id)
    if existing is not None:
        _check_logged_draw(existing)  # verified, never assumed: a restored log may have lost the draw's commit
        log.info("release %s already stored: reused, nothing spent", plan.release_id)
        return {**existing, "reused": True}
    recovered = _recover_stored_draw(spark, plan)
    if recovered is not None:
        return {**recovered, "reused": True}
    require_history(plan)  # the look-back first: its refusal says when deliveries resume
    require_inputs(plan)
    noisy, inputs, domain, size = _compute(spark, plan)
    faults.reached("release.spend")
    held.check()  # a holder that lost its lease spends nothing: the one that took it over makes the release
    note = _settle_lost_spends(plan.release_id)  # no rows are stored (checked above), so earlier spends drew nothing
    entry = ledger.record_spend(plan.spend(), note=note)
    # Noise is drawn only now, by the write below (the frame above is lazy).
    columns = {c: (F.col(c) if c in noisy.columns else F.lit(None).cast("string")) for c in SEGMENT_COLUMNS}
    table = noisy.select(
        F.lit(plan.release_id).alias("release_id"), F.lit(entry["entry_id"]).alias("ledger_entry_id"),
        F.lit(plan.metric).alias("metric"), F.col("h3_cell").cast("long").alias("h3_cell"),
        (F.col("destination_h3") if "destination_h3" in noisy.columns else F.lit(None)).cast("long")
        .alias("destination_h3"),
        "bin_start", F.lit(plan.bin_minutes).cast("int").alias("bin_minutes"),
        *[columns[c].alias(c) for c in SEGMENT_COLUMNS], F.col("value").cast("long").alias("value"),
    )
    try:
        faults.reached("release.gold")
        held.check()  # ... and draws nothing after losing it (readers keep only the newest spend's rows)
        gold_version = lake.write(table, tables.RELEASES.path(), mode="replace_partitions",
                                  partition_by=["release_id"], replace=[{"release_id": plan.release_id}])
    except Exception as exc:  # the spend stands; retrying would spend again, so this is final
        raise SpentNotStored(
            f"release {plan.release_id} of contract {plan.contract_id}: epsilon {plan.epsilon:g} was spent (ledger "
            f"entry {entry['entry_id']}) but the noisy table was not stored ({type(exc).__name__}: {exc}). The "
            "spend is not given back; fix the cause, then rerun, which spends again and draws anew") from exc
    stored = _fenced_rows(plan.release_id, ledger.read_entries())
    faults.reached("release.draw")
    ledger.record_draw(entry, stored.num_rows, draw_digest(stored))
    rows = stored.num_rows
    row = _log_row(plan, entry, inputs, _stages(plan, domain), rows, gold_version)
    faults.reached("release.log")
    tables.RELEASE_LOG.append([row])
    log.info("release %s (%s): %d rows (domain %d), %s epsilon %g, ledger %s, gold/releases v%d",
             plan.release_id, plan.metric, rows, size, plan.mechanism, plan.epsilon, entry["entry_id"], gold_version)
    return {**row, "reused": False}


def _log_row(plan: ReleasePlan, entry: dict, inputs: dict, stages: list[str], rows: int,
             gold_version: int) -> dict[str, Any]:
    return {
        "release_id": plan.release_id, "ledger_entry_id": entry["entry_id"], "contract_id": plan.contract_id,
        "contract_version": plan.contract_version, "plan": plan.to_json(), "inputs": json.dumps(inputs),
        "stages": json.dumps(stages), "rows": rows, "gold_version": gold_version,
        "created_at": dt.datetime.now(dt.UTC), "ledger_seq": int(entry["seq"]), "ledger_head": entry["row_hash"],
    }


def _check_logged_draw(logged: dict[str, Any]) -> None:
    """Refuse to reuse a logged release whose draw ``gold/releases`` no longer holds as logged.

    Raises
    ------
    StorageFault
        The partition is missing or holds another number of rows or another spend's rows (a table restored
        to an earlier version, files removed), naming the table, the version the log names and what to do.
    """
    release_id, version = logged["release_id"], logged.get("gold_version")
    # fenced by the newest spend and checked against its draw row; a table whose log lost every commit is empty
    empty = pa.table({"ledger_entry_id": pa.array([], pa.string())})
    stored = read_release(release_id) if tables.RELEASES.exists() else empty
    entry_ids = set(stored.column("ledger_entry_id").to_pylist()) if stored.num_rows else set()
    if stored.num_rows != int(logged["rows"]) or entry_ids != {logged["ledger_entry_id"]}:
        raise StorageFault(
            f"gold/releases holds {stored.num_rows} rows of release {release_id}, but ops/releases logged "
            f"{logged['rows']} rows of spend {logged['ledger_entry_id']} at gold/releases version {version}: the "
            f"table lost that commit (a restored or truncated Delta log, removed files). Restore gold/releases to "
            f"version {version} or later from the object store's versions or a backup, then publish again; "
            "nothing was delivered and nothing spent")


def _spends_of(release_id: str):
    entries = ledger.read_entries()
    if entries.empty:
        return entries
    return entries[(entries["kind"] == "spend") & (entries["release_id"] == release_id)]


def _recover_stored_draw(spark: SparkSession, plan: ReleasePlan) -> dict[str, Any] | None:
    """The release log row of a draw stored in ``gold/releases`` with no ``ops/releases`` row (a crash
    between the two commits), written now; None when no draw of this release is stored.

    The draw is found from ``gold/releases`` itself and checked against the ledger: its rows name the spend
    that paid for it, so it is reused as it is, never drawn again.
    """
    if not tables.RELEASES.exists():
        return None
    stored = read_release(plan.release_id)
    if stored.num_rows == 0:
        return None
    entry_ids = set(stored.column("ledger_entry_id").to_pylist())
    spends = _spends_of(plan.release_id)
    paid = spends[spends["entry_id"].isin(entry_ids)] if not spends.empty else spends
    if len(entry_ids) != 1 or paid.empty:
        raise StorageFault(f"gold/releases holds release {plan.release_id} under ledger entries {sorted(entry_ids)}, "
                           "which are not one spend of that release in the ledger: the table was written outside "
                           "the pipeline; investigate before any further publish")
    entry = paid.iloc[-1].to_dict()
    if ledger.draw_of(ledger.read_entries(), entry["entry_id"]) is None:  # the crash came before the draw row
        ledger.record_draw(entry, stored.num_rows, draw_digest(stored))
    _, inputs, domain, _ = _compute(spark, plan, materialise=False)  # the domain's description, input versions
    stages = [*_stages(plan, domain),
              "recovered after a crash: the stored draw was found in gold/releases and recorded in ops/releases "
              "(input versions as read at recovery); nothing was spent or drawn again"]
    row = _log_row(plan, entry, inputs, stages, stored.num_rows, tables.RELEASES.version())
    tables.RELEASE_LOG.append([row])
    log.warning("release %s: stored draw of ledger entry %s had no ops/releases row; recorded now, nothing spent",
                plan.release_id, entry["entry_id"])
    return row


def _settle_lost_spends(release_id: str) -> str | None:
    """Record every spend of a release not yet recorded ``lost`` as lost (the caller found none of its rows
    stored, under the release's lock); return the note of the spend that follows them, or None when there
    were none."""
    lost = ledger.spends_not_lost(ledger.read_entries(), release_id)
    for spend_row in lost.to_dict("records"):
        ledger.record_lost(spend_row, "no row of it is in gold/releases (a crash or storage fault after the "
                                      "spend); files of the lost draw may survive unreferenced")
    earlier = _spends_of(release_id)
    if earlier.empty:
        return None
    return (f"redraw: {len(earlier)} earlier spend(s) of this release ({', '.join(earlier['entry_id'])}) stored no "
            "draw and are recorded lost; this spend counts in full beside them")


def draw_digest(stored: pa.Table) -> str:
    """sha256 of a stored draw: its rows in a canonical order, columns by name, as CSV (the partition
    column ``release_id`` left out, since readers may or may not return it)."""
    columns = sorted(c for c in stored.column_names if c != "release_id")
    table = stored.select(columns)
    table = pa.table({c: (table[c].cast(table[c].type.value_type) if pa.types.is_dictionary(table[c].type)
                          else table[c]) for c in columns})
    table = table.sort_by([(c, "ascending") for c in columns])
    out = io.BytesIO()
    pa_csv.write_csv(table, out)
    return hashlib.sha256(out.getvalue()).hexdigest()


def _fenced_rows(release_id: str, entries) -> pa.Table:
    """The stored rows of a release, fenced by the ledger: all must carry the entry id of its newest spend.

    Raises
    ------
    StorageFault
        The partition mixes spends, or holds the rows of an older spend than the newest one.
    """
    stored = tables.RELEASES.read_arrow(partitions={"release_id": release_id})
    if stored.num_rows == 0:
        return stored
    entry_ids = set(stored.column("ledger_entry_id").to_pylist())
    spends = entries[(entries["kind"] == "spend") & (entries["release_id"] == release_id)] if len(entries) else entries
    newest = str(spends.iloc[-1]["entry_id"]) if not spends.empty else None
    if entry_ids != {newest}:
        held = sorted(map(str, entry_ids))
        raise StorageFault(f"gold/releases holds release {release_id} under ledger entries {held}, but the newest "
                           f"spend of that release is {newest}: rows of another spend, written by a "
                           "writer that had lost its lock or outside the pipeline, are never read; restore the "
                           "partition from the table's history or remove it, then publish again")
    return stored


def read_release(release_id: str) -> pa.Table:
    """Read a stored release back (the only way products get their values), fenced by the ledger: its rows
    must all carry the entry id of the newest spend of that release, and match the ``draw`` row of that
    spend (row count and sha256) where one is recorded (releases stored before draws were recorded have none).

    Raises
    ------
    StorageFault
        The partition mixes spends, holds the rows of an older spend than the newest one (a writer that
        lost its lock wrote after the one that took it over), or rows that differ from the recorded draw
        (changed after it was stored): nothing is read from it.
    """
    entries = ledger.read_entries()
    stored = _fenced_rows(release_id, entries)
    if stored.num_rows == 0:
        return stored
    entry_id = str(stored.column("ledger_entry_id")[0])
    draw = ledger.draw_of(entries, entry_id)
    if draw is not None and (draw["rows"] != stored.num_rows or draw["sha256"] != draw_digest(stored)):
        raise StorageFault(f"gold/releases holds release {release_id} with {stored.num_rows} rows that differ from "
                           f"the draw its spend {entry_id} paid for (ledger seq {draw['seq']}: {draw['rows']} rows, "
                           f"sha256 {draw['sha256'][:16]}...): the stored values were changed after the draw and are "
                           "never read; restore the partition from the table's history")
    return stored


def verified_draw(release_id: str) -> dict[str, Any] | None:
    """The ledger's ``draw`` row of a stored release (``seq``, ``rows``, ``sha256``, ``spend``) after checking
    the stored rows against it (what an audit states); None when the release has no draw row (stored before
    draws were recorded) or no rows.

    Raises
    ------
    StorageFault
        The stored rows are not the newest spend's or differ from its draw (``read_release``).
    """
    stored = read_release(release_id)
    if stored.num_rows == 0:
        return None
    entry_id = str(stored.column("ledger_entry_id")[0])
    draw = ledger.draw_of(ledger.read_entries(), entry_id)
    return None if draw is None else {**draw, "spend": entry_id}


def verify_draws() -> list[str]:
    """Check every stored release that has a ``draw`` row against it (``cde audit ledger``); return the
    problems (empty when every stored draw matches the row its spend recorded)."""
    entries = ledger.read_entries()
    problems = []
    drawn = entries.loc[entries["kind"] == "draw", "release_id"].unique() if len(entries) else []
    for release_id in drawn:
        try:
            read_release(str(release_id))
        except StorageFault as exc:
            problems.append(str(exc))
    return problems
