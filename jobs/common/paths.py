"""Every place in the lake that is not a Delta table: one function per folder or file, one list of them all.

The tables are ``jobs/common/tables.py``'s; everything else a job writes or reads under the lake root is
named here, so no module rebuilds a path from its parts and the reference (docs/reference/lake.md) is
generated from ``LAKE_PATHS``. All of them work on a local lake and on one in a bucket (``settings.lake_root``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from jobs.common import settings


@dataclasses.dataclass(frozen=True)
class LakePath:
    """One documented place under the lake root.

    Attributes
    ----------
    pattern : str
        Its path below the lake root, with ``<placeholders>``.
    written_by : str
        The stage or command that writes it.
    description : str
        What it holds and who reads it.
    """

    pattern: str
    written_by: str
    description: str


LAKE_PATHS: tuple[LakePath, ...] = (
    LakePath("landing/<feed>/<date>/", "the supplier (simulate here)", "the supplier's files of one local day"),
    LakePath("landing/reference/", "the supplier (simulate here)", "reference data: towers, access points, "
             "cameras, stops"),
    LakePath("ingest_staging/<feed>/<date>/<run_id>/", "ingest", "a batch between staging and commit; removed "
             "when committed, or when stale"),
    LakePath("data_docs/<feed>/<date>/", "ingest", "Great Expectations Data Docs of a run's validation"),
    LakePath("data_docs/_assets/", "ingest", "the Data Docs' scripts and styles, vendored (they render offline)"),
    LakePath("outbox/<buyer>/<contract_id>/<delivery_id>/", "publish", "a delivery: data files, manifest.json, "
             "datapackage.json, README.md"),
    LakePath("outbox/.staging/", "publish", "a delivery being written; swapped into place whole"),
    LakePath("audit/<contract_id>/", "publish, cde audit", "the audit of each delivery (HTML and JSON) and the "
             "record of processing; attempts/ keeps every delivery attempt's audit, named by its manifest"),
    LakePath("advice/<contract_id>/<advice_id>.json", "cde contracts advise", "DP advice on bounds (spent once, "
             "stored)"),
    LakePath("ops/locks/", "publish, Spark writers", "lock files (or object-store leases) of releases and tables"),
    LakePath("ops/contract_endings.json", "cde contracts end", "contracts ended early, with their purge"),
    LakePath("ops/backfill_approvals.json", "cde contracts backfill", "delivery windows outside a contract's "
             "schedule that a supplier's approver allowed, with who, when and why"),
    LakePath("ops/sharing_recipients.json", "cde sharing", "Delta Sharing recipients: token fingerprints, expiry"),
    LakePath("ops/sharing_profiles/", "cde sharing add-recipient", "buyers' profile files (0600, a token each) "
             "of a local lake; a lake in a bucket keeps them in CDE_SECRETS"),
    LakePath("ops/sharing_reads.jsonl", "the sharing server", "every read of a shared table"),
    LakePath("ops/sharing_refusals.jsonl", "the sharing server", "every refused request (401, 403, 404): status, path, "
             "table, the token's fingerprint, address"),
    LakePath("ops/notifications.jsonl", "publish", "every buyer notification (webhook, e-mail) and its outcome"),
    LakePath("ops/sla_alerts.jsonl", "delivery_sla DAG, cde audit deliveries", "missed deliveries alerted"),
    LakePath("ops/pseudonym_key_fingerprint.json", "ingest", "the fingerprint of the key the lake is built under"),
    LakePath("demo_airflow.log", "make demo", "Airflow's output of the demo's DAG run"),
    LakePath("simulation/", "simulate", "the simulated world's people and its run (for evaluation only)"),
    LakePath("simulation/run.json", "simulate", "the simulator's marker: only a lake holding it is evaluated against "
             "a truth"),
    LakePath("_secrets/", "ingest, cde sharing", "local key files and buyers' profiles (CDE_SECRETS moves it; "
             "never in a bucket)"),
)


def outbox(buyer: str | None = None, contract_id: str | None = None, delivery: str | None = None) -> Path:
    """``outbox/``, or a buyer's, a contract's or one delivery's folder in it (give the leading parts)."""
    folder = settings.lake_root() / "outbox"
    for part in (buyer, contract_id, delivery):
        if part is None:
            break
        folder = folder / part
    return folder


def outbox_staging() -> Path:
    """``outbox/.staging/``: deliveries being written."""
    return outbox() / ".staging"


def audit_dir(contract_id: str) -> Path:
    """``audit/<contract_id>/``."""
    return settings.lake_root() / "audit" / contract_id


def advice_dir(contract_id: str) -> Path:
    """``advice/<contract_id>/``."""
    return settings.lake_root() / "advice" / contract_id


def ops_file(name: str) -> Path:
    """A file or folder of ``ops/`` (``contract_endings.json``, ``locks``, ...): it must be in ``LAKE_PATHS``.

    Raises
    ------
    KeyError
        ``ops/<name>`` is not a documented place.
    """
    known = {p.pattern.removeprefix("ops/").rstrip("/") for p in LAKE_PATHS if p.pattern.startswith("ops/")}
    if name not in known:
        raise KeyError(f"ops/{name} is not in the lake's list of places (jobs/common/paths.py): {sorted(known)}")
    return settings.lake_root() / "ops" / name


def ingest_staging(feed: str | None = None) -> Path:
    """``ingest_staging/``, or a feed's folder in it."""
    folder = settings.lake_root() / "ingest_staging"
    return folder / feed if feed else folder


def data_docs(feed: str | None = None) -> Path:
    """``data_docs/``, or a feed's folder in it."""
    folder = settings.lake_root() / "data_docs"
    return folder / feed if feed else folder


def demo_log() -> Path:
    """``demo_airflow.log``: Airflow's output of the demo's run."""
    return settings.lake_root() / "demo_airflow.log"


#: the file the simulator writes in every lake it makes: evaluation and the simulated clock need it
SIMULATION_MARKER = "run.json"


def is_simulated_lake() -> bool:
    """True when the simulator made this lake (its marker ``simulation/run.json`` exists)."""
    return simulation(SIMULATION_MARKER).exists()


def simulation(name: str | None = None) -> Path:
    """``simulation/``, or a file in it (``people.parquet``, ``run.json``)."""
    folder = settings.lake_root() / "simulation"
    return folder / name if name else folder
