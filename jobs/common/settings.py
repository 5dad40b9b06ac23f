"""Settings: the policy's constants, and every ``CDE_*`` environment variable, read and checked here only.

``REGISTRY`` names each variable with its default and what it does (docs/reference/settings.md is generated
from it); ``setting(name)`` reads one now, so a test or a task that sets a variable sees it. Nothing else in
the code reads a ``CDE_*`` variable (a test holds that). Airflow tasks run from other working directories,
so every path here is absolute.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from jobs.common.objectstore import is_remote, lake_path
from jobs.common.regions import DEFAULT_REGION, REGIONS_DIR, load_region
from jobs.errors import KeyRefused

if TYPE_CHECKING:
    from jobs.common.objectstore import S3Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# The finest H3 resolution anything is stored or released at (docs/architecture.md, contracts).
FINEST_H3_RESOLUTION = 10
# Global privacy caps per person per accounting window (docs/architecture.md, the privacy model): a policy, no looser
# than epsilon 60 and delta 1e-6 in any 30 days (2 a day on average; Google's Community Mobility Reports spent 2.64 a
# day). Every audit states them per delivery, per window and per year.
ACCOUNTING_PERIOD_DAYS = 30
POLICY_EPSILON_CAP = 60.0
POLICY_DELTA_CAP = 1e-6


@dataclasses.dataclass(frozen=True)
class Setting:
    """One ``CDE_*`` environment variable: its default, what it does and how its text is checked.

    Attributes
    ----------
    name : str
        The variable.
    default : str or None
        Its value when unset (as text; None: no value).
    group : str
        Where it acts (lake, privacy, spark, airflow, delivery, keys, tests).
    description : str
        What it does, for docs/reference/settings.md.
    parse : callable
        Text to value; raises ``ValueError`` saying what is wrong (the variable is named by ``setting``).
    secret : bool
        A key: never printed, never logged.
    """

    name: str
    default: str | None
    group: str
    description: str
    parse: Callable[[str], Any] = str
    secret: bool = False


def _number(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("is not a number") from None
        if not low < value <= high:
            raise ValueError(f"must be above {low:g} and at most {high:g} (the policy maximum)")
        return value

    return parse


def _whole(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.strip().isdigit() or int(text) < low:
            raise ValueError(f"give a whole number, {low} or more")
        return int(text)

    return parse


def _mode(allowed: int) -> Callable[[str], int]:
    """A permission mode (octal text such as ``0640``), refused when it grants bits outside ``allowed``
    (never anything for others, never execute on files)."""

    def parse(text: str) -> int:
        try:
            mode = int(text, 8)
        except ValueError:
            raise ValueError("is not an octal mode such as 0640") from None
        owner = allowed & 0o700
        if mode & ~allowed or mode & owner != owner:
            raise ValueError(f"the owner needs {owner:04o}, and nothing beyond {allowed:04o} is allowed (never any "
                             "bit for others)")
        return mode

    return parse


def _flag(text: str) -> bool:
    if text.lower() not in ("0", "1", "true", "false"):
        raise ValueError("give 1 or 0 (true or false)")
    return text.lower() in ("1", "true")


def _addresses(text: str) -> list[str]:
    return [a.strip() for a in text.split(",") if a.strip()]


_POLICY = f"at most the policy's {POLICY_EPSILON_CAP:g}"
REGISTRY: dict[str, Setting] = {s.name: s for s in (
    Setting("CDE_REGIONS", None, "lake", "the folder of regions (default: regions/ in the repository)"),
    Setting("CDE_REGION", DEFAULT_REGION, "lake", "the region (regions/<name>/region.yaml): time zone, bounding box, "
            "boundary and areas; read when a process starts (cde regions add writes one)"),
    Setting("CDE_LAKE", None, "lake", "the lake root: a local folder, or s3://bucket/prefix for an S3-compatible "
            "object store (default: lake/ in the repository)"),
    Setting("CDE_CONTRACTS", None, "lake", "the folder of contract YAML files (default: contracts/ in the "
            "repository)"),
    Setting("CDE_SUPPLIER_REGISTRY", None, "lake", "the supplier registry file (default: reference/suppliers.yaml)"),
    Setting("CDE_BUYER_REGISTRY", None, "lake", "the buyer registry file (default: reference/buyers.yaml)"),
    Setting("CDE_SECRETS", None, "keys", "the local folder for key files and buyers' sharing profiles (default: "
            "_secrets/ in a local lake; required when the lake is in a bucket unless the keys come from the "
            "variables below)"),
    Setting("CDE_PSEUDONYM_KEY", None, "keys", "the master key of pseudonyms (at least 32 bytes), from a secret "
            "store; else a key file in CDE_SECRETS made once", secret=True),
    Setting("CDE_SHARING_URL_KEY", None, "keys", "the key that signs Delta Sharing file URLs (hex, at least 32 "
            "bytes), shared by servers behind one load balancer; else a key file made once", secret=True),
    Setting("CDE_PORTAL_DB", None, "portal", "the portal's database URL (SQLAlchemy: postgresql+psycopg://... ; "
            "required when the lake is in a bucket); default a SQLite file portal.sqlite3 in CDE_SECRETS",
            secret=True),
    Setting("CDE_APPROVER_TOKEN", None, "portal", "a privacy officer's token from the portal (Approver tokens page): "
            "the identity cde contracts approve records; a typed name is refused", secret=True),
    Setting("CDE_PORTAL_SESSION_HOURS", "12", "portal", "how long a portal login lasts", _number(0.0, 24 * 30)),
    Setting("CDE_SHARING_ENDPOINT", "http://127.0.0.1:8765/delta-sharing", "portal", "the Delta Sharing "
            "server's URL as buyers reach it (written into the profiles the portal hands out)"),
    Setting("CDE_AIRFLOW_URL", "http://127.0.0.1:8080", "portal", "the Airflow UI the operator's page links to"),
    Setting("CDE_GLOBAL_EPSILON_CAP", str(POLICY_EPSILON_CAP), "privacy", "global epsilon cap per person per "
            f"{ACCOUNTING_PERIOD_DAYS} days ({_POLICY}: an operator may tighten, never loosen)",
            _number(0.0, POLICY_EPSILON_CAP)),
    Setting("CDE_GLOBAL_DELTA_CAP", str(POLICY_DELTA_CAP), "privacy", "global delta cap per person per "
            f"{ACCOUNTING_PERIOD_DAYS} days (at most the policy's {POLICY_DELTA_CAP:g})",
            _number(0.0, POLICY_DELTA_CAP)),
    Setting("CDE_CAMERA_EPSILON_CAP", str(POLICY_EPSILON_CAP), "privacy", "global epsilon cap of event-level "
            f"(camera) releases per {ACCOUNTING_PERIOD_DAYS} days ({_POLICY})", _number(0.0, POLICY_EPSILON_CAP)),
    Setting("CDE_WIFI_EPSILON_CAP", str(POLICY_EPSILON_CAP), "privacy", "global epsilon cap per wifi device on a "
            f"network per {ACCOUNTING_PERIOD_DAYS} days ({_POLICY})", _number(0.0, POLICY_EPSILON_CAP)),
    Setting("CDE_FILE_MODE", "0640", "delivery", "permissions of delivered and audit files (group-readable at "
            "most)", _mode(0o660)),
    Setting("CDE_DIR_MODE", "0750", "delivery", "permissions of delivery and audit folders", _mode(0o770)),
    Setting("CDE_MIN_FREE_MB", "64", "delivery", "free space (MB) a folder must have before a release or "
            "delivery spends anything (0 turns the check off)", _number(-1.0, 1e9)),
    Setting("CDE_WEBHOOK_ATTEMPTS", "4", "delivery", "tries of a buyer's webhook before it is recorded as failed",
            _whole(1)),
    Setting("CDE_WEBHOOK_BACKOFF_SECONDS", "5", "delivery", "seconds before the second try, doubling after",
            _number(-1.0, 3600.0)),
    Setting("CDE_WEBHOOK_ALLOW_LOCAL", "0", "tests", "1 lets webhooks reach loopback and private addresses "
            "(tests only: in production that is an SSRF hole)", _flag),
    Setting("CDE_ALERT_EMAIL", "", "delivery", "comma-separated addresses told of every missed delivery, beside "
            "the suppliers' contacts", _addresses),
    Setting("CDE_ALERT_FROM", "cde-alerts@localhost", "delivery", "the sender of SLA alert e-mails"),
    Setting("CDE_JARS_DIR", None, "spark", "the folder of the pinned Spark jars (default: .jars/, filled by make "
            "from jars.lock)"),
    Setting("CDE_SPARK_MASTER", "local[*]", "spark", "the Spark master: local[*], or spark://host:7077 for a "
            "standalone cluster (make cluster)"),
    Setting("CDE_SHUFFLE_PARTITIONS", "32", "spark", "Spark SQL shuffle partitions (adaptive execution coalesces "
            "small ones)", _whole(1)),
    Setting("CDE_SPARK_UI", "false", "spark", "true starts the Spark UI of each job", lambda t: str(_flag(t)).lower()),
    Setting("CDE_SPARK_DRIVER_MEMORY", "2g", "spark", "the Spark driver's memory"),
    Setting("CDE_DELTA_SNAPSHOT_PARTITIONS", "2", "spark", "tasks that replay a Delta table's log (Delta's 50 cost "
            "6 of every 9 s per small write here)", _whole(1)),
    Setting("CDE_SPARK_LOG_LEVEL", "ERROR", "spark", "Spark's log level (WARN, INFO, DEBUG for diagnosis)"),
    Setting("CDE_SPARK_POOL_SLOTS", None, "airflow", "slots of Airflow's spark pool: JVMs at once (default: one "
            "per core)", _whole(1)),
    Setting("CDE_LOCK_LEASE_SECONDS", "120", "lake", "how long an object-store lease lasts without renewal",
            _number(0.0, 86_400.0)),
    Setting("CDE_CRASH_AT", None, "tests", "kill the process at this named write (crash-safety tests only; "
            "jobs/common/faults.py lists the points)"),
)}


def setting(name: str) -> Any:
    """The value of a ``CDE_*`` setting, read from the environment now, checked and parsed.

    Returns None for an unset variable without a default.

    Raises
    ------
    ValueError
        The variable's text is not valid (the message names the variable and says why).
    KeyError
        ``name`` is not a registered setting (every ``CDE_*`` variable is registered here).
    """
    entry = REGISTRY[name]
    text = os.environ.get(name) or entry.default
    if text is None:
        return None
    try:
        return entry.parse(text)
    except ValueError as exc:
        if entry.secret:  # a parser's message may quote the text
            raise ValueError(f"{name}=(secret) is not a valid value") from None
        raise ValueError(f"{name}={text!r} {exc}") from None


# The region every feed and contract lies in (``CDE_REGION``, ``regions/<name>/region.yaml``): its time zone
# makes the local days, bins and schedules, its bounding box (min_lon, min_lat, max_lon, max_lat) bounds every
# place. Read once per process: a region is where a deployment runs, not something a run changes.
def regions_dir() -> Path:
    """Return the folder of regions (``CDE_REGIONS`` overrides ``regions/``)."""
    return Path(setting("CDE_REGIONS") or REGIONS_DIR).resolve()


REGION = load_region(setting("CDE_REGION"), regions_dir())
LOCAL_TZ_NAME = REGION.time_zone
LOCAL_TZ = ZoneInfo(LOCAL_TZ_NAME)
REGION_BBOX = REGION.bbox


# Operators may tighten the caps (``CDE_GLOBAL_EPSILON_CAP``, ``CDE_GLOBAL_DELTA_CAP``, ...), never loosen
# them past the policy.
GLOBAL_EPSILON_CAP = setting("CDE_GLOBAL_EPSILON_CAP")
GLOBAL_DELTA_CAP = setting("CDE_GLOBAL_DELTA_CAP")
CAMERA_EPSILON_CAP = setting("CDE_CAMERA_EPSILON_CAP")
# Wifi ids are per device and network (one person may hold several): their own cap, per device-network.
WIFI_EPSILON_CAP = setting("CDE_WIFI_EPSILON_CAP")
# Permissions of what leaves for buyers and auditors (outbox, audit) and of gold products: group-readable
# at most, never world-readable.
FILE_MODE = setting("CDE_FILE_MODE")  # owner rw
DIR_MODE = setting("CDE_DIR_MODE")
# A release or delivery is refused before any spend when a folder it writes has less free space than this.
MIN_FREE_MB = setting("CDE_MIN_FREE_MB")
PRIVACY_UNITS = ("person", "device-network", "event")


def epsilon_cap(unit: str) -> float:
    """The global epsilon cap of one privacy unit's class in the ledger (a release over several units counts
    in each class)."""
    return {"person": GLOBAL_EPSILON_CAP, "device-network": WIFI_EPSILON_CAP, "event": CAMERA_EPSILON_CAP}[unit]
MIN_K = 10
# Home / work anchors look back this many local days; the segments they give, in order.
ANCHOR_WINDOW_DAYS = 14
SEGMENT_NAMES = ("resident", "commuter", "visitor", "tourist")
# Pseudonym keys rotate on local-day boundaries every this many days. Anchors never span a rotation, so a
# segment product is dark for its look-back (13 days) after each one: 90 days keeps that to 14% of days
# (30 days made it 43%). The cost: inside the lake one pseudonym links up to 90 days of a person's
# presence instead of 30 (nothing leaves the lake with a pseudonym; the audit states the period).
KEY_ROTATION_DAYS = 90
# Days each layer keeps its data (cde retention apply; the Art. 30 record states them).
RETENTION_DAYS = {"landing": 3, "quarantine": 14, "bronze": 30, "silver": 60}


def lake_root() -> Path | S3Path:
    """Return the lake root: ``CDE_LAKE`` if set, else ``lake/`` at the repository root.

    ``CDE_LAKE=s3://bucket/prefix`` puts the whole lake on an S3-compatible object store
    (``jobs/common/objectstore.py``).

    Returns
    -------
    Path or S3Path
        Absolute path of the lake root, or its ``s3://`` location.
    """
    return lake_path(setting("CDE_LAKE") or REPO_ROOT / "lake")


def lake_is_remote() -> bool:
    """True when the lake lives on an object store (``CDE_LAKE=s3://...``)."""
    return is_remote(lake_root())


def table_path(layer: str, name: str) -> Path:
    """Return the folder of the Delta table ``<layer>/<name>`` under the lake root."""
    return lake_root() / layer / name


def landing_path(feed: str, date: str | None = None) -> Path:
    """Return ``lake/landing/<feed>/`` or ``lake/landing/<feed>/<date>/``."""
    base = lake_root() / "landing" / feed
    return base / date if date else base


def reference_path(name: str) -> Path:
    """Return the path of a reference file such as ``towers.csv``."""
    return lake_root() / "landing" / "reference" / name


def contracts_dir() -> Path:
    """Return the folder holding contract YAML files (``CDE_CONTRACTS`` overrides)."""
    return Path(setting("CDE_CONTRACTS") or REPO_ROOT / "contracts").resolve()


def buyer_registry_path() -> Path:
    """Return the buyer registry file (``CDE_BUYER_REGISTRY`` overrides): how each buyer is told of a delivery."""
    return Path(setting("CDE_BUYER_REGISTRY") or REPO_ROOT / "reference" / "buyers.yaml").resolve()


def supplier_registry_path() -> Path:
    """Return the supplier registry file (``CDE_SUPPLIER_REGISTRY`` overrides): who owns each source and who
    may approve contracts that read it."""
    return Path(setting("CDE_SUPPLIER_REGISTRY") or REPO_ROOT / "reference" / "suppliers.yaml").resolve()


def secrets_dir() -> Path:
    """Return the local folder holding secret key files (``CDE_SECRETS`` overrides).

    Kept under the lake root by default in a ``_secrets`` folder, which no table lives in. A lake on an object
    store never holds a key: there the key comes from ``CDE_PSEUDONYM_KEY`` (Secrets Manager in the cloud) or
    a local ``CDE_SECRETS`` folder.

    Raises
    ------
    KeyRefused
        The lake is on an object store and ``CDE_SECRETS`` is not set.
    """
    if setting("CDE_SECRETS"):
        return Path(setting("CDE_SECRETS")).resolve()
    if lake_is_remote():
        raise KeyRefused(f"the lake {lake_root()} is on an object store, which never holds keys or tokens: set the "
                         "key's variable from the secret store (CDE_PSEUDONYM_KEY, CDE_SHARING_URL_KEY) or "
                         "CDE_SECRETS (a local folder for key files and buyers' profiles)")
    return lake_root() / "_secrets"
