"""Releases: noisy tables over a public domain, written once to ``gold/releases`` and never redrawn.

The order of a release is fixed (DESIGN.md section 6), and the audit lists it:

1. plan the release and derive its id from everything that defines it;
2. reuse a stored release with that id (no new spend), else
3. check and record the spend in the ledger (refused before any noise is drawn);
4. read person-level presence (silver, a recorded version) for the window and sources;
5. map to the contract cut, bound each person-day (L0 pairs, once per pair), count;
6. zero-fill over the public domain (contract area cells x local bins);
7. draw discrete noise in the executors and write the noisy table once to ``gold/releases``;
8. record the release (ledger entry, input versions) in ``ops/releases``.

Everything downstream (products, files, audits) reads the stored release back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from jobs.common import lake, settings
from jobs.common.h3cells import cell_to_int
from jobs.privacy import ledger
from jobs.privacy.bounding import bound_distinct_pairs
from jobs.privacy.domain import domain_bins, domain_cells, public_domain, zero_fill
from jobs.privacy.noise import noise_scale, noisy_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from jobs.publish.contracts import Contract

log = logging.getLogger(__name__)

SUPPORTED_METRICS = ("unique_people", "footfall", "od_trips", "camera_count")
UNIT_BY_SOURCE = {"telco": "person", "ticket": "person", "wifi": "device-network", "camera": "event"}
SEGMENT_COLUMNS = ("segment", "country", "mode")
RELEASE_SCHEMA_COLUMNS = ("release_id", "ledger_entry_id", "metric", "h3_cell", "destination_h3", "bin_start",
                          "bin_minutes", "segment", "country", "mode", "value")

RELEASE_LOG_SCHEMA = pa.schema([
    ("release_id", pa.string()), ("ledger_entry_id", pa.string()), ("contract_id", pa.string()),
    ("contract_version", pa.string()), ("plan", pa.string()), ("inputs", pa.string()),
    ("stages", pa.string()), ("rows", pa.int64()), ("gold_version", pa.int64()),
    ("created_at", pa.timestamp("us", tz="UTC")),
])


def segment_values(column: str) -> list[str]:
    """Public lists of segment values (never taken from the data)."""
    if column == "segment":
        from jobs.aggregate.anchors import SEGMENTS

        return list(SEGMENTS)
    if column == "country":
        import pycountry

        return sorted(c.alpha_2 for c in pycountry.countries)
    if column == "mode":
        from jobs.ingest.ticket import MODES

        return list(MODES)
    raise ValueError(f"unknown segment column {column!r}")


@dataclasses.dataclass(frozen=True)
class ReleasePlan:
    """Everything that defines one release; its id is a hash of these fields."""

    contract_id: str
    contract_version: str
    metric: str
    sources: tuple[str, ...]
    area: str  # canonical GeoJSON text of the contract area
    h3_resolution: int
    bin_minutes: int
    window_start: dt.date
    window_end: dt.date
    epsilon: float
    delta: float
    mechanism: str
    max_pairs_per_day: int
    budget_epsilon_per_period: float
    segments: tuple[str, ...] = ()
    max_events_per_pair: int = 4
    max_trips_per_day: int = 4

    @property
    def days(self) -> int:
        """Local days covered."""
        return (self.window_end - self.window_start).days

    @property
    def segmented(self) -> bool:
        """Segments from anchors: a person's data can move them between segments."""
        return any(s in ("segment", "country") for s in self.segments)

    @property
    def lookback_days(self) -> int:
        """Days before the window whose data reaches the release (the anchor window of segments)."""
        from jobs.aggregate.anchors import DEFAULT_WINDOW_DAYS

        return DEFAULT_WINDOW_DAYS - 1 if self.segmented else 0

    @property
    def sensitivity(self) -> int:
        """L1 bound of one privacy unit over the release (per day bound x days x sources; x2 if segmented).

        Camera counts are event-level: one passage changes one count by one.
        """
        if self.metric == "camera_count":
            return 1
        per_day = {"unique_people": self.max_pairs_per_day,
                   "footfall": self.max_pairs_per_day * self.max_events_per_pair,
                   "od_trips": self.max_trips_per_day}[self.metric]
        return per_day * self.days * len(self.sources) * (2 if self.segmented else 1)

    @property
    def unit(self) -> str:
        """The privacy unit of the release (``person`` unless every source is device- or event-level)."""
        units = {UNIT_BY_SOURCE[s] for s in self.sources}
        return units.pop() if len(units) == 1 else "person"

    @property
    def rho(self) -> float:
        """zCDP cost: epsilon^2 / 2 for pure epsilon; for the discrete Gaussian L2^2 / (2 sigma^2)."""
        if self.mechanism == "geometric":
            return self.epsilon ** 2 / 2
        sigma = noise_scale(self.epsilon, self.sensitivity, self.mechanism, self.delta)["scale"]
        return self.sensitivity ** 2 / (2 * sigma ** 2)

    @property
    def release_id(self) -> str:
        """Deterministic id: the same plan always names the same stored release."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)
        return "rel-" + hashlib.sha256(text.encode()).hexdigest()[:20]

    def to_json(self) -> str:
        """The plan as JSON (for the release log and audits)."""
        return json.dumps({**dataclasses.asdict(self), "release_id": self.release_id,
                           "sensitivity": self.sensitivity, "unit": self.unit,
                           "lookback_days": self.lookback_days}, sort_keys=True, default=str)


def plan_for(contract: Contract, metric: str, window_start: dt.date, window_end: dt.date) -> ReleasePlan:
    """Build the release plan of a contract's metric over local dates ``[window_start, window_end)``."""
    if metric not in SUPPORTED_METRICS:
        raise NotImplementedError(
            f"contract {contract.id}: metric {metric!r} has no release yet (supported: {SUPPORTED_METRICS})")
    allowed = {"od_trips": {"mode"}, "camera_count": set()}.get(metric, {"segment", "country"})
    wrong = [s for s in contract.segments if s not in allowed]
    if wrong:
        raise NotImplementedError(f"contract {contract.id}: {metric} cannot be split by {wrong} "
                                  f"(possible: {sorted(allowed) or 'none'})")
    sources = tuple(sorted(contract.sources))
    if metric == "camera_count":
        sources = ("camera",)
    elif "camera" in sources:
        sources = tuple(s for s in sources if s != "camera")
    # OD domains are sparse: partition selection needs a delta; it is pure geometric noise otherwise.
    delta = contract.delta if (contract.mechanism == "gaussian_discrete" or metric == "od_trips") else 0.0
    return ReleasePlan(
        contract_id=contract.id, contract_version=contract.version, metric=metric,
        sources=sources, area=json.dumps(contract.area, sort_keys=True),
        h3_resolution=contract.h3_resolution, bin_minutes=contract.bin_minutes,
        window_start=window_start, window_end=window_end, epsilon=contract.epsilon, delta=delta,
        mechanism="geometric" if metric == "od_trips" else contract.mechanism,
        max_pairs_per_day=contract.max_cells_per_day,
        budget_epsilon_per_period=contract.budget_epsilon_per_period,
        segments=tuple(contract.segments), max_events_per_pair=contract.max_events_per_pair,
        max_trips_per_day=contract.max_trips_per_day,
    )


def release_log_path():
    """Folder of ``ops/releases``: one row per stored release."""
    return settings.table_path("ops", "releases")


def stored_release(release_id: str) -> dict[str, Any] | None:
    """Return the release log row of a stored release, or None."""
    path = release_log_path()
    if not lake.exists(path):
        return None
    rows = [r for r in lake.read_arrow(path).to_pylist() if r["release_id"] == release_id]
    return rows[-1] if rows else None


def _stages(plan: ReleasePlan, domain: str) -> list[str]:
    reads = {"unique_people": "silver/presence", "footfall": "silver/presence", "od_trips": "silver/trips",
             "camera_count": "bronze/camera_events"}[plan.metric]
    bound = {
        "unique_people": f"per person and day at most {plan.max_pairs_per_day} (cell, bin) pairs, once per pair",
        "footfall": f"per person and day at most {plan.max_pairs_per_day} (cell, bin) pairs, at most "
                    f"{plan.max_events_per_pair} events each",
        "od_trips": f"per person and day at most {plan.max_trips_per_day} trips",
        "camera_count": "none needed: cameras carry no identity (event-level: one passage changes one count by one)",
    }[plan.metric]
    stages = [
        f"read {reads} for {plan.window_start} to {plan.window_end} (exclusive), sources {', '.join(plan.sources)}",
        f"map to H3 resolution {plan.h3_resolution} and {plan.bin_minutes}-minute local bins",
    ]
    if plan.segmented:
        stages.append(f"join each person-day's {' and '.join(plan.segments)} from silver/anchors (a "
                      f"{plan.lookback_days + 1}-day window; a person can move between segments, so the bound "
                      "is doubled)")
    stages += [
        f"bound contributions: {bound}; excess dropped by a keyed hash",
        f"compute {plan.metric} per key",
        domain,
        f"{plan.mechanism} noise, epsilon {plan.epsilon:g}"
        + (f", delta {plan.delta:g}" if plan.delta else "")
        + f", L1 sensitivity {plan.sensitivity}, drawn in the executors",
        "write the noisy table once to gold/releases; every product reads it back",
    ]
    return stages


def _dates(plan: ReleasePlan) -> list[str]:
    return [(plan.window_start + dt.timedelta(days=i)).isoformat() for i in range(plan.days)]


def _read_silver(spark: SparkSession, name: str, plan: ReleasePlan) -> tuple[DataFrame, int]:
    path = settings.table_path("silver", name)
    if not lake.exists(path):
        raise FileNotFoundError(f"no silver/{name} at {path}: run aggregate first")
    version = lake.version(path)
    return lake.read(spark, path, version=version,
                     partitions={"event_date": _dates(plan), "source": list(plan.sources)}), version


def _compute(spark: SparkSession, plan: ReleasePlan) -> tuple[DataFrame, dict, str, int]:
    """The noisy release table (lazy), its input versions, the domain's description and its size."""
    from pyspark.sql import functions as F

    from jobs.aggregate import metrics
    from jobs.privacy.bounding import bound_events_per_pair, bound_rows_per_day
    from jobs.privacy.partition_selection import select_partitions, selection_threshold

    cells = domain_cells(json.loads(plan.area), plan.h3_resolution)
    bins = domain_bins(plan.window_start, plan.window_end, plan.bin_minutes)
    inputs: dict[str, int] = {}
    keys = ["h3_cell", "bin_start", *plan.segments]
    if plan.metric == "od_trips":
        trips, inputs["silver/trips"] = _read_silver(spark, "trips", plan)
        cut = metrics.trips_to_cut(trips, plan.h3_resolution, plan.bin_minutes)
        area = spark.createDataFrame([(cell_to_int(c),) for c in cells], "cell long")
        inside = cut.join(F.broadcast(area.withColumnRenamed("cell", "origin_h3")), "origin_h3").join(
            F.broadcast(area.withColumnRenamed("cell", "destination_h3")), "destination_h3")
        if "mode" in plan.segments:  # public list only: trips of unknown mode are not in this domain
            inside = inside.filter(F.col("mode").isin(*segment_values("mode")))
        bounded = bound_rows_per_day(inside, plan.max_trips_per_day, ["start_ts", "origin_h3", "destination_h3"])
        od_keys = ["origin_h3", "destination_h3", "bin_start", *[s for s in plan.segments if s == "mode"]]
        counts = metrics.od_trips(bounded, od_keys)
        noisy = select_partitions(counts, plan.epsilon, plan.delta, plan.sensitivity)
        tau = selection_threshold(plan.epsilon, plan.delta, plan.sensitivity)
        noisy = noisy.withColumnRenamed("origin_h3", "h3_cell")
        domain = (f"DP partition selection over origin-destination pairs inside the area ({len(cells)} cells): "
                  f"a pair is released when its noisy count reaches {tau}; other pairs are left out")
        return noisy, inputs, domain, 0
    if plan.metric == "camera_count":
        path = settings.table_path("bronze", "camera_events")
        if not lake.exists(path):
            raise FileNotFoundError(f"no bronze/camera_events at {path}: ingest the camera feed first")
        inputs["bronze/camera_events"] = lake.version(path)
        camera = lake.read(spark, path, version=inputs["bronze/camera_events"],
                           partitions={"event_date": _dates(plan)})
        counts = metrics.camera_count(metrics.to_cut(camera, plan.h3_resolution, plan.bin_minutes, ts="event_ts"),
                                      keys)
    else:
        presence, inputs["silver/presence"] = _read_silver(spark, "presence", plan)
        cut = metrics.to_cut(presence, plan.h3_resolution, plan.bin_minutes)
        if plan.segmented:
            anchors, inputs["silver/anchors"] = _read_silver(spark, "anchors", plan)
            cut = metrics.with_segments(cut, anchors)
        pair = ["h3_cell", "bin_start", *plan.segments]
        if plan.metric == "unique_people":
            counts = metrics.unique_people(bound_distinct_pairs(cut, plan.max_pairs_per_day, pair), keys)
        else:
            counts = metrics.footfall(bound_events_per_pair(cut, plan.max_pairs_per_day, plan.max_events_per_pair,
                                                            pair), keys)
    domain_df = public_domain(spark, cells, bins)
    size = len(cells) * len(bins)
    for column in plan.segments:
        values = segment_values(column)
        domain_df = domain_df.crossJoin(spark.createDataFrame([(v,) for v in values], f"{column} string"))
        size *= len(values)
    filled = zero_fill(domain_df, counts, tuple(keys))
    noisy = noisy_column(filled, "value", plan.epsilon, plan.sensitivity, plan.mechanism, plan.delta or None)
    extra = f" x {' x '.join(plan.segments)} values from public lists" if plan.segments else ""
    domain = f"zero-fill over the public domain: {len(cells)} cells of the contract area x {len(bins)} bins{extra}"
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
    ledger.BudgetExceeded
        The spend does not fit a budget; nothing was drawn or written.
    """
    from pyspark.sql import functions as F

    existing = stored_release(plan.release_id)
    if existing is not None:
        log.info("release %s already stored: reused, nothing spent", plan.release_id)
        return {**existing, "reused": True}
    # Plan everything that can fail before the spend: inputs present, domain non-empty.
    noisy, inputs, domain, size = _compute(spark, plan)
    entry = ledger.record_spend(ledger.Spend(
        contract_id=plan.contract_id, contract_version=plan.contract_version, release_id=plan.release_id,
        sources=plan.sources, unit=plan.unit, window_start=plan.window_start, window_end=plan.window_end,
        epsilon=plan.epsilon, delta=plan.delta, rho=plan.rho, mechanism=plan.mechanism,
        sensitivity=plan.sensitivity, budget_epsilon_per_period=plan.budget_epsilon_per_period,
        lookback_days=plan.lookback_days,
    ))
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
    releases_path = settings.table_path("gold", "releases")
    gold_version = lake.write(table, releases_path, mode="replace_partitions", partition_by=["release_id"],
                              replace=[{"release_id": plan.release_id}])
    rows = read_release(plan.release_id).num_rows
    stages = _stages(plan, domain)
    row = {
        "release_id": plan.release_id, "ledger_entry_id": entry["entry_id"], "contract_id": plan.contract_id,
        "contract_version": plan.contract_version, "plan": plan.to_json(), "inputs": json.dumps(inputs),
        "stages": json.dumps(stages), "rows": rows, "gold_version": gold_version,
        "created_at": dt.datetime.now(dt.UTC),
    }
    lake.append_arrow(release_log_path(), pa.Table.from_pylist([row], schema=RELEASE_LOG_SCHEMA))
    log.info("release %s (%s): %d rows (domain %d), %s epsilon %g, ledger %s, gold/releases v%d",
             plan.release_id, plan.metric, rows, size, plan.mechanism, plan.epsilon, entry["entry_id"], gold_version)
    return {**row, "reused": False}


def read_release(release_id: str) -> pa.Table:
    """Read a stored release back (the only way products get their values)."""
    return lake.read_arrow(settings.table_path("gold", "releases"), partitions={"release_id": release_id})
