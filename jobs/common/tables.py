"""The table catalog: one declaration per table of the lake (path, partitions, schema, retention).

``lake.py`` stays the I/O layer; this module says what the tables are. No module reads another's table by
path: it asks the catalog (``table("ops/ingest_runs")``) or uses a typed reader below
(``ingest_runs()``, ``release_windows()``, ...). Schemas of the small driver-side tables live here; the
Spark-written tables (bronze, silver, gold/releases) take the schema of the frames that write them.

| table | partitions | retention | written by |
|---|---|---|---|
| ``bronze/<feed>_events`` | event_date | 30 days | ingest |
| ``quarantine/<feed>`` | event_date | 14 days | ingest |
| ``silver/presence``, ``stays``, ``trips``, ``anchors`` | event_date, source | 60 days | aggregate |
| ``gold/releases`` | release_id | gold | releases |
| ``gold/<contract_id>`` | delivery_id | gold | publish |
| ``ledger/privacy_budget`` | - | kept | releases (delta-rs; ``jobs/privacy/ledger.py``) |
| ``ops/ingest_runs`` | feed | kept | ingest |
| ``ops/silver_builds`` | source | kept | aggregate |
| ``ops/releases`` | - | kept | releases |
| ``ops/optouts`` | source | kept | ``cde optout`` |
| ``ops/contract_approvals`` | - | kept | ``cde contracts approve`` |
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from jobs.common import lake, settings
from jobs.errors import StorageFault

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession


@dataclasses.dataclass(frozen=True)
class Table:
    """One Delta table of the lake.

    Attributes
    ----------
    layer, name : str
        ``lake/<layer>/<name>/``.
    partitions : tuple of str
        Partition columns.
    schema : pyarrow.Schema or None
        Schema of driver-written tables; None where Spark frames define it.
    retention : str
        How long rows are kept (``retention_days`` of the layer, or ``kept``).
    produced_by : str
        The stage that writes it (for error messages: "run <stage> first").
    """

    layer: str
    name: str
    partitions: tuple[str, ...] = ()
    schema: pa.Schema | None = None
    retention: str = "kept"
    produced_by: str = ""

    @property
    def qualified(self) -> str:
        """``<layer>/<name>``."""
        return f"{self.layer}/{self.name}"

    def path(self) -> Path:
        """Folder of the table under the current lake root."""
        return settings.table_path(self.layer, self.name)

    def exists(self) -> bool:
        """Whether the table has been created."""
        return lake.exists(self.path())

    def version(self) -> int | None:
        """Latest version, or None."""
        return lake.version(self.path())

    def read(self, spark: SparkSession, *, version: int | None = None,
             partitions: dict[str, Any] | None = None) -> DataFrame:
        """Read with Spark (large tables), pruning partitions."""
        return lake.read(spark, self.path(), version=version, partitions=partitions)

    def read_arrow(self, *, version: int | None = None, partitions: dict[str, Any] | None = None) -> pa.Table:
        """Read a small table on the driver; an empty table of the schema when it does not exist yet."""
        if not self.exists():
            if self.schema is None:
                raise FileNotFoundError(f"no {self.qualified} at {self.path()}: {self.produced_by} first")
            return self.schema.empty_table()
        try:
            return lake.read_arrow(self.path(), version=version, partitions=partitions)
        except Exception as exc:  # a damaged log or file: one line naming the table, never a kernel trace
            raise self.damaged(exc) from exc

    def damaged(self, exc: Exception) -> Exception:
        """The error to raise for a failure reading or writing this table: a ``StorageFault`` naming it and
        what to do for a damaged Delta log or file; anything else (a lost commit race) unchanged."""
        from deltalake.exceptions import CommitFailedError, DeltaError  # only when a read or write failed

        if isinstance(exc, CommitFailedError) or not isinstance(exc, (DeltaError, OSError)) \
                or isinstance(exc, StorageFault):
            return exc
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)[:300]
        return StorageFault(f"{self.qualified}: the Delta table at {self.path()} cannot be read or written "
                            f"({type(exc).__name__}: {first}); restore its _delta_log and files from the object "
                            "store's versions or a backup, then rerun")

    def append(self, rows: list[dict[str, Any]]) -> int:
        """Append rows (dicts of the schema's fields) to a driver-written table; return the new version."""
        if self.schema is None:
            raise TypeError(f"{self.qualified} is written by Spark, not appended to from the driver")
        data = pa.Table.from_pylist([{k: row.get(k) for k in self.schema.names} for row in rows],
                                    schema=self.schema)
        # A table made before columns were added to its declaration gains them (old rows read as null).
        try:
            grows = self.exists() and lake.column_names(self.path()) != self.schema.names
            return lake.append_arrow(self.path(), data, partition_by=list(self.partitions),
                                     schema_mode="merge" if grows else None)
        except Exception as exc:  # a damaged log: one line naming the table
            raise self.damaged(exc) from exc

    def partition_values(self, column: str) -> list[str]:
        """Distinct values of a partition column, from the table's log (no data file is read)."""
        if not self.exists():
            return []
        from deltalake import DeltaTable

        return sorted({p[column] for p in DeltaTable(str(self.path())).partitions() if p.get(column) is not None})


INGEST_RUNS = Table("ops", "ingest_runs", ("feed",), pa.schema([
    ("run_id", pa.string()), ("feed", pa.string()), ("event_date", pa.date32()),
    ("status", pa.string()), ("message", pa.string()),
    ("started_at", pa.timestamp("us", tz="UTC")), ("finished_at", pa.timestamp("us", tz="UTC")),
    ("files", pa.int64()), ("records_in", pa.int64()), ("accepted", pa.int64()),
    ("quarantined", pa.int64()), ("quarantined_by_reason", pa.string()), ("invalid_share", pa.float64()),
    ("expectations", pa.string()), ("data_docs", pa.string()), ("late_records", pa.int64()),
    ("bronze_version", pa.int64()), ("quarantine_version", pa.int64()),
    # columns of the landing files the feed's schema does not name (JSON list), and the feed's quality
    # warnings (JSON: the ESS network and event warnings of mno); null in runs recorded before them
    ("extra_columns", pa.string()), ("warnings", pa.string()),
]), produced_by="ingest")
SILVER_BUILDS = Table("ops", "silver_builds", ("source",), pa.schema([
    ("source", pa.string()), ("event_date", pa.date32()), ("built_at", pa.timestamp("us", tz="UTC")),
    ("bronze_version", pa.int64()), ("presence_rows", pa.int64()), ("versions", pa.string()),
]), produced_by="aggregate")
RELEASE_LOG = Table("ops", "releases", (), pa.schema([
    ("release_id", pa.string()), ("ledger_entry_id", pa.string()), ("contract_id", pa.string()),
    ("contract_version", pa.string()), ("plan", pa.string()), ("inputs", pa.string()),
    ("stages", pa.string()), ("rows", pa.int64()), ("gold_version", pa.int64()),
    ("created_at", pa.timestamp("us", tz="UTC")),
    # the ledger head after this release's spend: a cut-off ledger tail loses a row these name
    ("ledger_seq", pa.int64()), ("ledger_head", pa.string()),
]), produced_by="publish")
OPTOUTS = Table("ops", "optouts", ("source",), pa.schema([
    ("source", pa.string()), ("token", pa.string()), ("list_name", pa.string()),
    ("added_at", pa.timestamp("us", tz="UTC")),
]), produced_by="cde optout apply")
CONTRACT_APPROVALS = Table("ops", "contract_approvals", (), pa.schema([
    ("contract_id", pa.string()), ("version", pa.string()), ("supplier", pa.string()),
    ("approver", pa.string()), ("approved_at", pa.timestamp("us", tz="UTC")),
    ("contract_sha256", pa.string()),
    # how the approver was known: "officer" (a portal identity, by login or token), "simulated" (the demo or
    # tests acting for a simulated supplier); null in rows recorded before identities (no identity)
    ("approved_as", pa.string()),
]), produced_by="cde contracts approve")
LEDGER = Table("ledger", "privacy_budget", (), pa.schema([
    ("seq", pa.int64()), ("entry_id", pa.string()), ("kind", pa.string()),
    ("recorded_at", pa.timestamp("us", tz="UTC")),
    ("contract_id", pa.string()), ("contract_version", pa.string()), ("release_id", pa.string()),
    ("sources", pa.string()), ("unit", pa.string()),
    ("window_start", pa.date32()), ("window_end", pa.date32()),
    ("epsilon", pa.float64()), ("delta", pa.float64()), ("rho", pa.float64()),
    ("mechanism", pa.string()), ("sensitivity", pa.int64()), ("lookback_days", pa.int64()),
    ("message", pa.string()), ("prev_hash", pa.string()), ("row_hash", pa.string()),
]), produced_by="publish (the first spend creates it)")
RELEASES = Table("gold", "releases", ("release_id",), retention="gold", produced_by="publish")
SILVER = {name: Table("silver", name, ("event_date", "source"), retention="silver", produced_by="aggregate")
          for name in ("presence", "stays", "trips", "anchors", "instants")}
# Where a phone a cell serves may be (``jobs.ingest.footprints``): derived from the network topology, no person.
CELL_FOOTPRINTS = Table("silver", "cell_footprints", ("source",), pa.schema([
    ("source", pa.string()), ("valid_date", pa.date32()), ("cell_id", pa.string()), ("h3_cell", pa.int64()),
    ("weight", pa.float64()),
]), produced_by="cde footprints")
# How large the footprints are at each resolution (what a delivery's placement statement reads).
FOOTPRINT_SIZES = Table("ops", "footprint_sizes", ("source",), pa.schema([
    ("source", pa.string()), ("valid_date", pa.date32()), ("resolution", pa.int64()),
    ("median_cells", pa.float64()), ("supported_resolution", pa.int64()),
    ("built_at", pa.timestamp("us", tz="UTC")),
]), produced_by="cde footprints")
_STATIC = {t.qualified: t for t in (INGEST_RUNS, SILVER_BUILDS, RELEASE_LOG, OPTOUTS, CONTRACT_APPROVALS, LEDGER,
                                    RELEASES, *SILVER.values(), CELL_FOOTPRINTS, FOOTPRINT_SIZES)}


def declared() -> list[Table]:
    """Every table declared once (bronze, quarantine and products are declared per feed or contract)."""
    return list(_STATIC.values())


def bronze(feed: str) -> Table:
    """``bronze/<feed>_events``."""
    return Table("bronze", f"{feed}_events", ("event_date",), retention="bronze", produced_by=f"ingest {feed}")


def quarantine(feed: str) -> Table:
    """``quarantine/<feed>``."""
    return Table("quarantine", feed, ("event_date",), retention="quarantine", produced_by=f"ingest {feed}")


def product(contract_id: str) -> Table:
    """``gold/<contract_id>``: the released rows of a contract's deliveries."""
    return Table("gold", contract_id, ("delivery_id",), retention="gold", produced_by="publish")


def table(qualified: str) -> Table:
    """The declaration of a table by ``<layer>/<name>`` (bronze and quarantine by feed name)."""
    if qualified in _STATIC:
        return _STATIC[qualified]
    layer, _, name = qualified.partition("/")
    if layer == "bronze" and name.endswith("_events"):
        return bronze(name.removesuffix("_events"))
    if layer == "quarantine":
        return quarantine(name)
    raise KeyError(f"no table {qualified!r} in the catalog")


# ------------------------------------------------------------------------------------------ typed readers


def ingest_runs(feed: str | None = None) -> pd.DataFrame:
    """Every ingest run record (of one feed, when given), as pandas."""
    return INGEST_RUNS.read_arrow(partitions={"feed": feed} if feed else None).to_pandas()


def latest_succeeded_runs(sources: tuple[str, ...], start: dt.date, end: dt.date) -> pd.DataFrame:
    """The latest succeeded ingest run per feed and local date in ``[start, end)``."""
    runs = ingest_runs()
    runs = runs[(runs["status"] == "succeeded") & runs["feed"].isin(sources)]
    runs = runs[(runs["event_date"] >= start) & (runs["event_date"] < end)]
    return runs.sort_values("finished_at").groupby(["feed", "event_date"]).tail(1).sort_values(["feed", "event_date"])


def silver_builds() -> pd.DataFrame:
    """Every silver build record, as pandas."""
    return SILVER_BUILDS.read_arrow().to_pandas()


def release_log_rows(release_id: str | None = None) -> list[dict[str, Any]]:
    """Rows of ``ops/releases`` (of one release id, when given), oldest first."""
    rows = RELEASE_LOG.read_arrow().to_pylist()
    return [r for r in rows if release_id is None or r["release_id"] == release_id]


def release_windows() -> list[tuple[dt.date, dt.date]]:
    """The local-date windows ``[start, end)`` of every stored release."""
    windows = []
    for row in release_log_rows():
        plan = json.loads(row["plan"])
        windows.append((dt.date.fromisoformat(plan["window_start"]), dt.date.fromisoformat(plan["window_end"])))
    return windows


def footprint_size(source: str, date: dt.date, resolution: int) -> dict | None:
    """The latest footprint sizes of a feed's topology valid on or before ``date`` at a resolution (None: none).

    Returns
    -------
    dict or None
        ``valid_date``, ``resolution``, ``median_cells`` (cells of that resolution holding 90% of the median
        footprint's weight) and ``supported_resolution``.
    """
    if not FOOTPRINT_SIZES.exists():
        return None
    rows = lake.read_arrow(FOOTPRINT_SIZES.path(), partitions={"source": [source]}).to_pandas()
    rows = rows[(rows["valid_date"] <= date) & (rows["resolution"] == resolution)]
    if rows.empty:
        return None
    latest = rows.sort_values(["valid_date", "built_at"]).iloc[-1]
    return {"valid_date": latest["valid_date"].isoformat(), "resolution": int(latest["resolution"]),
            "median_cells": float(latest["median_cells"]), "supported_resolution": int(latest["supported_resolution"])}
