"""Synthetic ESS operator files (the ``mno`` feed): events and network topology in the ESS / Eurostat MNO schema.

Written from the simulated world's network events, in the schema Eurostat's MultiMNO pipeline reads: events as
Parquet with a binary ``user_id``, a naive UTC ``timestamp`` text, integer ``mcc`` and ``plmn``, text ``mnc``
and ``cell_id``, float coordinates; the topology as Parquet with each cell's physical properties and validity
dates. ``damage`` adds what a supplier's files carry (nulls, malformed codes, unparseable times, unknown cells,
cells retired the day before, outbound roaming records, coordinates outside the region, exact duplicates, a
column the schema does not name, a CSV part with text ids in upper case) and returns how many of each, so a
test can account for every record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.simulate.population import HOME_MCC
from jobs.simulate.towers import SignalServing

EVENT_SCHEMA = pa.schema([("user_id", pa.binary()), ("timestamp", pa.string()), ("mcc", pa.int32()),
                          ("mnc", pa.string()), ("plmn", pa.int32()), ("cell_id", pa.string()),
                          ("latitude", pa.float32()), ("longitude", pa.float32()), ("loc_error", pa.float32())])
CELL_SCHEMA = pa.schema([
    ("cell_id", pa.string()), ("latitude", pa.float32()), ("longitude", pa.float32()), ("altitude", pa.float32()),
    ("antenna_height", pa.float32()), ("directionality", pa.int32()), ("azimuth_angle", pa.float32()),
    ("elevation_angle", pa.float32()), ("horizontal_beam_width", pa.float32()),
    ("vertical_beam_width", pa.float32()), ("power", pa.float32()), ("range", pa.float32()),
    ("frequency", pa.int32()), ("technology", pa.string()), ("valid_date_start", pa.string()),
    ("valid_date_end", pa.string()), ("cell_type", pa.string())])


def cgi(cell_id: str) -> str:
    """A 15-digit cell global identity for a simulated cell id ``MCC-MNC-SITE-SECTOR`` (MCC, MNC, 10 digits)."""
    mcc, mnc, site, sector = cell_id.split("-")
    return f"{int(mcc):03d}{int(mnc):02d}{int(site):09d}{int(sector)}"


def user_id(imsi: str) -> bytes:
    """The operator's binary device id of a simulated subscriber (16 bytes)."""
    return hashlib.sha256(imsi.encode()).digest()[:16]


def ess_topology(towers: pd.DataFrame, valid_from: dt.date) -> pd.DataFrame:
    """The simulated network's cells in the ESS cell schema, valid from ``valid_from`` with no end.

    ``horizontal_beam_width`` is the antenna's 3 dB beam width, as the schema means it and as the signal network
    radiates (``SignalServing.BEAM_3DB_DEG``), not the 120-degree sector ``towers.csv`` states."""
    n = len(towers)
    return pd.DataFrame({
        "cell_id": [cgi(c) for c in towers["cell_id"]], "latitude": towers["lat"].astype("float32"),
        "longitude": towers["lon"].astype("float32"), "altitude": np.float32(10.0),
        "antenna_height": np.float32(25.0), "directionality": np.int32(1),
        "azimuth_angle": towers["azimuth_deg"].astype("float32"), "elevation_angle": np.float32(-3.0),
        "horizontal_beam_width": np.float32(SignalServing.BEAM_3DB_DEG), "vertical_beam_width": np.float32(10.0),
        "power": np.float32(20.0), "range": towers["range_m"].astype("float32"), "frequency": np.int32(1800),
        "technology": "LTE", "valid_date_start": valid_from.isoformat(), "valid_date_end": [None] * n,
        "cell_type": "macrocell"})


def ess_events(events: pd.DataFrame) -> pd.DataFrame:
    """Simulated network events (``telco.simulate_day``) in the ESS event schema: naive UTC timestamps."""
    ids = {imsi: user_id(imsi) for imsi in events["imsi"].unique()}
    return pd.DataFrame({
        "user_id": events["imsi"].map(ids), "timestamp": events["instant"].dt.strftime("%Y-%m-%dT%H:%M:%S"),
        "mcc": events["home_mcc"].astype("int32"), "mnc": "01", "plmn": pd.array([None] * len(events), "Int32"),
        "cell_id": [cgi(c) for c in events["cell_id"]], "latitude": np.float32(np.nan),
        "longitude": np.float32(np.nan), "loc_error": np.float32(np.nan)})


def damage(events: pd.DataFrame, topology: pd.DataFrame, date: dt.date, seed: int,
           share: float = 0.002) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Damage a supplier's day as real files are damaged; return events, topology and the count of each kind.

    Each kind touches ``share`` of the events (at least one). The topology gains a cell retired the day before
    (events on it are not valid that day), a cell without a position, and one with a beam width of 720.

    Returns
    -------
    tuple
        The damaged events (with ``is_modified``, a column the schema does not name), the topology, and
        ``{kind: records}`` for ``null_user_id``, ``bad_timestamp``, ``bad_mcc``, ``bad_mnc``, ``no_domain``,
        ``unknown_cell``, ``retired_cell``, ``unplaced_cell``, ``outbound``, ``outside_region``,
        ``placed_by_coordinates``, ``duplicate``.
    """
    rng = np.random.default_rng([seed, date.toordinal(), 35])
    events = events.reset_index(drop=True).copy()
    kinds = ["null_user_id", "bad_timestamp", "bad_mcc", "bad_mnc", "no_domain", "unknown_cell", "retired_cell",
             "unplaced_cell", "outbound", "outside_region", "placed_by_coordinates"]
    per_kind = max(int(len(events) * share), 1)
    chosen = rng.choice(len(events), size=per_kind * len(kinds), replace=False).reshape(len(kinds), per_kind)
    rows = dict(zip(kinds, chosen, strict=True))
    retired = f"{HOME_MCC}99999999901"
    unplaced = f"{HOME_MCC}99999999902"
    site = topology.iloc[0]
    extra = topology.iloc[[0, 0, 0]].reset_index(drop=True)
    extra["cell_id"] = [retired, unplaced, f"{HOME_MCC}99999999903"]
    extra["valid_date_start"] = (date - dt.timedelta(days=30)).isoformat()
    extra.loc[0, "valid_date_end"] = (date - dt.timedelta(days=1)).isoformat()
    extra.loc[1, ["latitude", "longitude"]] = np.nan
    extra.loc[2, "horizontal_beam_width"] = 720.0
    topology = pd.concat([topology, extra], ignore_index=True)
    events["user_id"] = events["user_id"].astype(object)
    events.loc[rows["null_user_id"], "user_id"] = None
    events.loc[rows["bad_timestamp"], "timestamp"] = "06/03/2026 08:00"
    events.loc[rows["bad_mcc"], "mcc"] = 23
    events.loc[rows["bad_mnc"], "mnc"] = "1"
    events.loc[rows["no_domain"], ["mcc", "mnc"]] = [None, None]
    events.loc[rows["unknown_cell"], "cell_id"] = f"{HOME_MCC}01000000000"
    events.loc[rows["retired_cell"], "cell_id"] = retired
    events.loc[rows["unplaced_cell"], "cell_id"] = unplaced
    events.loc[rows["outbound"], ["mcc", "mnc", "cell_id"]] = [None, None, None]
    events.loc[rows["outbound"], "plmn"] = int(f"{HOME_MCC}01")
    for kind, (lat, lon) in (("outside_region", (48.85, 2.35)), ("placed_by_coordinates",
                                                                 (float(site["latitude"]), float(site["longitude"])))):
        events.loc[rows[kind], ["cell_id", "latitude", "longitude", "loc_error"]] = [None, lat, lon, 50.0]
    duplicates = events.drop(index=[i for r in rows.values() for i in r]).sample(per_kind, random_state=seed)
    events = pd.concat([events, duplicates], ignore_index=True)
    events["is_modified"] = False
    counts = {kind: per_kind for kind in kinds}
    counts["duplicate"] = per_kind
    return events, topology, counts


def write_ess_day(events: pd.DataFrame, topology: pd.DataFrame, landing: Path, reference: Path,
                  csv_rows: int = 0) -> list[Path]:
    """Write a day's events (Parquet, the last ``csv_rows`` as a CSV part with upper-case hex ids) and topology.

    Returns
    -------
    list of Path
        The event files written.
    """
    landing.mkdir(parents=True, exist_ok=True)
    reference.mkdir(parents=True, exist_ok=True)
    schema = EVENT_SCHEMA
    if "is_modified" in events.columns:
        schema = schema.append(pa.field("is_modified", pa.bool_()))
    cut = len(events) - csv_rows
    parquet_path = landing / "events_part-0000.parquet"
    pq.write_table(pa.Table.from_pandas(events.iloc[:cut], schema=schema, preserve_index=False), parquet_path,
                   row_group_size=100_000)
    written = [parquet_path]
    if csv_rows:
        part = events.iloc[cut:].copy()
        part["user_id"] = [None if v is None else v.hex().upper() for v in part["user_id"]]
        csv_path = landing / "events_part-0001.csv"
        part.to_csv(csv_path, index=False)
        written.append(csv_path)
    pq.write_table(pa.Table.from_pandas(topology, schema=CELL_SCHEMA, preserve_index=False),
                   reference / "cells.parquet")
    return written
