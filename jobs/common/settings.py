"""Settings read from the environment, resolved once to absolute paths.

Airflow tasks run from other working directories, so every path here is absolute.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from jobs.common.objectstore import is_remote, lake_path
from jobs.errors import KeyRefused

if TYPE_CHECKING:
    from jobs.common.objectstore import S3Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_TZ_NAME = "Europe/Copenhagen"
LOCAL_TZ = ZoneInfo(LOCAL_TZ_NAME)

# The finest H3 resolution anything is stored or released at (DESIGN.md section 7).
FINEST_H3_RESOLUTION = 10
# The region every feed and contract must lie in: greater Copenhagen (lon/lat bounding box).
REGION_BBOX = (12.30, 55.55, 12.75, 55.80)  # min_lon, min_lat, max_lon, max_lat
# Global privacy caps per person per accounting window (DESIGN.md section 6): a policy, no looser than
# epsilon 60 and delta 1e-6 in any 30 days (2 a day on average; Google's Community Mobility Reports spent
# 2.64 a day). Every audit states them per delivery, per window and per year.
ACCOUNTING_PERIOD_DAYS = 30
POLICY_EPSILON_CAP = 60.0
POLICY_DELTA_CAP = 1e-6


def _env_number(name: str, default: float, low: float, high: float) -> float:
    """A number from the environment, checked to lie in ``(low, high]``; the error names the variable."""
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None
    if not low < value <= high:
        raise ValueError(f"{name}={text!r} must be above {low:g} and at most {high:g} (the policy maximum)")
    return value


def _env_mode(name: str, default: int, allowed: int) -> int:
    """A permission mode from the environment (octal text such as ``0640``), refused when it grants bits
    outside ``allowed`` (never anything for others, never execute on files)."""
    text = os.environ.get(name)
    if not text:
        return default
    try:
        mode = int(text, 8)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not an octal mode such as 0640") from None
    owner = allowed & 0o700
    if mode & ~allowed or mode & owner != owner:
        raise ValueError(f"{name}={text!r}: the owner needs {owner:04o}, and nothing beyond {allowed:04o} is "
                         "allowed (never any bit for others)")
    return mode


# Operators may tighten the caps (``CDE_GLOBAL_EPSILON_CAP``, ``CDE_GLOBAL_DELTA_CAP``, ...), never loosen
# them past the policy.
GLOBAL_EPSILON_CAP = _env_number("CDE_GLOBAL_EPSILON_CAP", POLICY_EPSILON_CAP, 0.0, POLICY_EPSILON_CAP)
GLOBAL_DELTA_CAP = _env_number("CDE_GLOBAL_DELTA_CAP", POLICY_DELTA_CAP, 0.0, POLICY_DELTA_CAP)
CAMERA_EPSILON_CAP = _env_number("CDE_CAMERA_EPSILON_CAP", POLICY_EPSILON_CAP, 0.0, POLICY_EPSILON_CAP)
# Wifi ids are per device and network (one person may hold several): their own cap, per device-network.
WIFI_EPSILON_CAP = _env_number("CDE_WIFI_EPSILON_CAP", POLICY_EPSILON_CAP, 0.0, POLICY_EPSILON_CAP)
# Permissions of what leaves for buyers and auditors (outbox, audit) and of gold products: group-readable
# at most, never world-readable (``CDE_FILE_MODE``, ``CDE_DIR_MODE``).
FILE_MODE = _env_mode("CDE_FILE_MODE", 0o640, 0o660)  # owner rw
DIR_MODE = _env_mode("CDE_DIR_MODE", 0o750, 0o770)
# A release or delivery is refused before any spend when a folder it writes has less free space than this.
MIN_FREE_MB = _env_number("CDE_MIN_FREE_MB", 64.0, -1.0, 1e9)
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


def lake_root() -> Path | S3Path:
    """Return the lake root: ``CDE_LAKE`` if set, else ``lake/`` at the repository root.

    ``CDE_LAKE=s3://bucket/prefix`` puts the whole lake on an S3-compatible object store
    (``jobs/common/objectstore.py``).

    Returns
    -------
    Path or S3Path
        Absolute path of the lake root, or its ``s3://`` location.
    """
    return lake_path(os.environ.get("CDE_LAKE") or REPO_ROOT / "lake")


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
    return Path(os.environ.get("CDE_CONTRACTS") or REPO_ROOT / "contracts").resolve()


def buyer_registry_path() -> Path:
    """Return the buyer registry file (``CDE_BUYER_REGISTRY`` overrides): how each buyer is told of a delivery."""
    return Path(os.environ.get("CDE_BUYER_REGISTRY") or REPO_ROOT / "reference" / "buyers.yaml").resolve()


def supplier_registry_path() -> Path:
    """Return the supplier registry file (``CDE_SUPPLIER_REGISTRY`` overrides): who owns each source and who
    may approve contracts that read it."""
    return Path(os.environ.get("CDE_SUPPLIER_REGISTRY") or REPO_ROOT / "reference" / "suppliers.yaml").resolve()


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
    if os.environ.get("CDE_SECRETS"):
        return Path(os.environ["CDE_SECRETS"]).resolve()
    if lake_is_remote():
        raise KeyRefused(f"the lake {lake_root()} is on an object store, which never holds keys or tokens: set the "
                         "key's variable from the secret store (CDE_PSEUDONYM_KEY, CDE_SHARING_URL_KEY) or "
                         "CDE_SECRETS (a local folder for key files and buyers' profiles)")
    return lake_root() / "_secrets"
