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

from jobs.aggregate.metrics import to_cut, unique_people
from jobs.common import lake, settings
from jobs.privacy import ledger
from jobs.privacy.bounding import bound_distinct_pairs
from jobs.privacy.domain import domain_bins, domain_cells, public_domain, zero_fill
from jobs.privacy.noise import noise_scale, noisy_column

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jobs.publish.contracts import Contract

log = logging.getLogger(__name__)

SUPPORTED_METRICS = ("unique_people",)
UNIT_BY_SOURCE = {"telco": "person", "ticket": "person", "wifi": "device-network", "camera": "event"}

RELEASE_LOG_SCHEMA = pa.schema([
    ("release_id", pa.string()), ("ledger_entry_id", pa.string()), ("contract_id", pa.string()),
    ("contract_version", pa.string()), ("plan", pa.string()), ("inputs", pa.string()),
    ("stages", pa.string()), ("rows", pa.int64()), ("gold_version", pa.int64()),
    ("created_at", pa.timestamp("us", tz="UTC")),
])


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

    @property
    def days(self) -> int:
        """Local days covered."""
        return (self.window_end - self.window_start).days

    @property
    def sensitivity(self) -> int:
        """L1 bound of one person: ``L0 x days``, summed over sources (one person may be in each)."""
        return self.max_pairs_per_day * self.days * len(self.sources)

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
                           "sensitivity": self.sensitivity, "unit": self.unit}, sort_keys=True, default=str)


def plan_for(contract: Contract, metric: str, window_start: dt.date, window_end: dt.date) -> ReleasePlan:
    """Build the release plan of a contract's metric over local dates ``[window_start, window_end)``."""
    if metric not in SUPPORTED_METRICS:
        raise NotImplementedError(
            f"contract {contract.id}: metric {metric!r} has no release yet (supported: {SUPPORTED_METRICS})")
    return ReleasePlan(
        contract_id=contract.id, contract_version=contract.version, metric=metric,
        sources=tuple(sorted(contract.sources)), area=json.dumps(contract.area, sort_keys=True),
        h3_resolution=contract.h3_resolution, bin_minutes=contract.bin_minutes,
        window_start=window_start, window_end=window_end, epsilon=contract.epsilon,
        delta=contract.delta if contract.mechanism == "gaussian_discrete" else 0.0,
        mechanism=contract.mechanism, max_pairs_per_day=contract.max_cells_per_day,
        budget_epsilon_per_period=contract.budget_epsilon_per_period,
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


def _stages(plan: ReleasePlan, cells: int, bins: int) -> list[str]:
    return [
        f"read silver/presence for {plan.window_start} to {plan.window_end} (exclusive), sources "
        f"{', '.join(plan.sources)}",
        f"map each presence row to H3 resolution {plan.h3_resolution} and {plan.bin_minutes}-minute local bins",
        f"bound contributions: per person and day at most {plan.max_pairs_per_day} (cell, bin) pairs, once per "
        "pair; excess dropped by a keyed hash",
        f"count distinct people per (cell, bin) ({plan.metric})",
        f"zero-fill over the public domain: {cells} cells of the contract area x {bins} bins",
        f"add {plan.mechanism} noise, epsilon {plan.epsilon:g}, L1 sensitivity {plan.sensitivity} "
        f"({plan.max_pairs_per_day} pairs x {plan.days} day(s) x {len(plan.sources)} source(s)), in the executors",
        "write the noisy table once to gold/releases; every product reads it back",
    ]


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

    presence_path = settings.table_path("silver", "presence")
    if not lake.exists(presence_path):
        raise FileNotFoundError(f"no silver/presence at {presence_path}: run aggregate first")
    presence_version = lake.version(presence_path)
    cells = domain_cells(json.loads(plan.area), plan.h3_resolution)
    bins = domain_bins(plan.window_start, plan.window_end, plan.bin_minutes)

    entry = ledger.record_spend(ledger.Spend(
        contract_id=plan.contract_id, contract_version=plan.contract_version, release_id=plan.release_id,
        sources=plan.sources, unit=plan.unit, window_start=plan.window_start, window_end=plan.window_end,
        epsilon=plan.epsilon, delta=plan.delta, rho=plan.rho, mechanism=plan.mechanism,
        sensitivity=plan.sensitivity, budget_epsilon_per_period=plan.budget_epsilon_per_period,
    ))

    dates = [(plan.window_start + dt.timedelta(days=i)).isoformat() for i in range(plan.days)]
    presence = lake.read(spark, presence_path, version=presence_version,
                         partitions={"event_date": dates, "source": list(plan.sources)})
    cut = to_cut(presence, plan.h3_resolution, plan.bin_minutes)
    bounded = bound_distinct_pairs(cut, plan.max_pairs_per_day)
    counts = unique_people(bounded)
    filled = zero_fill(public_domain(spark, cells, bins), counts)
    noisy = noisy_column(filled, "value", plan.epsilon, plan.sensitivity, plan.mechanism,
                         plan.delta or None)
    table = noisy.select(
        F.lit(plan.release_id).alias("release_id"), F.lit(entry["entry_id"]).alias("ledger_entry_id"),
        F.lit(plan.metric).alias("metric"), "h3_cell", "bin_start",
        F.lit(plan.bin_minutes).cast("int").alias("bin_minutes"),
        F.lit(None).cast("string").alias("segment"), "value",
    )
    releases_path = settings.table_path("gold", "releases")
    gold_version = lake.write(table, releases_path, mode="replace_partitions", partition_by=["release_id"],
                              replace=[{"release_id": plan.release_id}])
    rows = len(cells) * len(bins)
    inputs = {"silver/presence": presence_version}
    stages = _stages(plan, len(cells), len(bins))
    row = {
        "release_id": plan.release_id, "ledger_entry_id": entry["entry_id"], "contract_id": plan.contract_id,
        "contract_version": plan.contract_version, "plan": plan.to_json(), "inputs": json.dumps(inputs),
        "stages": json.dumps(stages), "rows": rows, "gold_version": gold_version,
        "created_at": dt.datetime.now(dt.UTC),
    }
    lake.append_arrow(release_log_path(), pa.Table.from_pylist([row], schema=RELEASE_LOG_SCHEMA))
    log.info("release %s: %d cells x %d bins, %s epsilon %g, ledger %s, gold/releases v%d",
             plan.release_id, len(cells), len(bins), plan.mechanism, plan.epsilon, entry["entry_id"],
             gold_version)
    return {**row, "reused": False}


def read_release(release_id: str) -> pa.Table:
    """Read a stored release back (the only way products get their values)."""
    return lake.read_arrow(settings.table_path("gold", "releases"), partitions={"release_id": release_id})
