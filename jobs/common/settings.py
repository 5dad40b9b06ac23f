"""Settings read from the environment, resolved once to absolute paths.

Airflow tasks run from other working directories, so every path here is absolute.
"""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo

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
GLOBAL_EPSILON_CAP = 60.0
GLOBAL_DELTA_CAP = 1e-6
CAMERA_EPSILON_CAP = 60.0
# Wifi ids are per device and network (one person may hold several): their own cap, per device-network.
WIFI_EPSILON_CAP = 60.0
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


def lake_root() -> Path:
    """Return the lake root: ``CDE_LAKE`` if set, else ``lake/`` at the repository root.

    Returns
    -------
    Path
        Absolute path of the lake root.
    """
    return Path(os.environ.get("CDE_LAKE") or REPO_ROOT / "lake").resolve()


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


def supplier_registry_path() -> Path:
    """Return the supplier registry file (``CDE_SUPPLIER_REGISTRY`` overrides): who owns each source and who
    may approve contracts that read it."""
    return Path(os.environ.get("CDE_SUPPLIER_REGISTRY") or REPO_ROOT / "reference" / "suppliers.yaml").resolve()


def secrets_dir() -> Path:
    """Return the folder holding secret key files (``CDE_SECRETS`` overrides).

    Kept under the lake root by default in a ``_secrets`` folder, which no table lives in.
    """
    return Path(os.environ.get("CDE_SECRETS") or lake_root() / "_secrets").resolve()
