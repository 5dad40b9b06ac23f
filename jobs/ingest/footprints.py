"""Cell footprints: where a phone served by a cell may be, as weights over H3 cells (issue 35, the estimate).

A cell's event does not say where the phone was, only that this cell served it. The footprint turns the
network topology (either feed: ``towers.csv`` or the ESS snapshot of a day) into, for each cell, weights over
the H3 resolution-10 tiles around it that sum to 1: the probability that a phone the cell serves is in each
tile. The steps follow the ESS methodology's cell footprint (as Eurostat's MultiMNO computes it), with the
propagation model written out here:

1. Received signal in a tile at distance ``d`` from the site and ``phi`` degrees off the cell's azimuth:
   ``S = S_edge - 10 * PATH_LOSS_EXPONENT * log10(d / range) - A(phi)``, so the signal falls as a power of
   distance (exponent 3.5, an urban value) and crosses ``S_edge`` (the dominance midpoint, -92 dBm) at the
   cell's stated range; ``A(phi) = min(12 * (phi / beam_width)^2, FRONT_TO_BACK_DB)`` is the horizontal
   antenna pattern of 3GPP TR 36.814 (3 dB down at half the beam width, at most 25 dB), with the antenna's
   3 dB beam width (an ESS topology's ``horizontal_beam_width``; ``towers.csv`` states the sector's width, of
   which a three-sector site's antenna covers 65/120 at 3 dB); an omnidirectional cell (no azimuth, or a beam
   of 360) has ``A = 0``. A cell without a range gets its cell type's default.
2. Signal dominance: ``1 / (1 + exp(-(S - S_edge) / STEEPNESS_DB))`` (logistic, 5 dB), so a tile at the stated
   range is served half the time by that cell's strength alone.
3. Pruning: tiles farther than ``MAX_RANGE_FACTOR`` times the range, or with dominance under
   ``MIN_DOMINANCE``, are dropped.
4. Connection probability per tile: each cell's dominance divided by the sum over the cells reaching the tile.
5. Footprint: a cell's connection probabilities over its tiles, normalised to sum to 1 (a uniform prior over
   tiles: where people are more often is not known from the network alone); weights under
   ``MIN_WEIGHT`` are dropped and the rest renormalised.

The size of a footprint at a product's resolution (how many cells of that resolution hold 90% of its weight)
says which resolution the network supports: a product whose cells are much smaller than the footprints that
feed it is placing people by assumption, not by data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import h3
import numpy as np
import pandas as pd
import pyarrow as pa

from jobs.common import lake, tables
from jobs.common.h3cells import parent_array
from jobs.errors import ReferenceDataError
from jobs.ingest.network import cells_on, snapshot_cells
from jobs.ingest.reference import read_towers

FOOTPRINT_RESOLUTION = 10
M_PER_DEG_LAT = 110_540.0
# Default ranges (m) by ESS cell type when a cell states none.
DEFAULT_RANGE_M = {"macrocell": 1_500.0, "microcell": 500.0, "picocell": 200.0, "femtocell": 50.0}
FALLBACK_RANGE_M = 1_000.0
# towers.csv states a sector's coverage width; the antenna radiating it is narrower at its 3 dB points: 65 degrees
# for the 120-degree sectors of a three-sector site (3GPP TR 36.942), about 33 for the 60-degree sectors of a six.
ANTENNA_BEAM_PER_SECTOR_WIDTH = 65.0 / 120.0
# A product cell is supported by the network when the median footprint holds 90% of its weight in at most
# this many cells of the product's resolution (a hexagon and its six neighbours).
MAX_MEDIAN_CELLS = 7.0


@dataclasses.dataclass(frozen=True)
class PropagationModel:
    """The constants of the footprint model (module docstring); one instance per published figure."""

    path_loss_exponent: float = 3.5
    edge_dbm: float = -92.0
    steepness_db: float = 5.0
    front_to_back_db: float = 25.0
    max_range_factor: float = 2.0
    min_dominance: float = 0.01
    min_weight: float = 1e-4


MODEL = PropagationModel()


def _tiles_around(lat: float, lon: float, radius_m: float) -> np.ndarray:
    """Resolution-10 tiles whose centres may lie within ``radius_m`` of a point (a disk of rings)."""
    spacing = math.sqrt(3) * h3.average_hexagon_edge_length(FOOTPRINT_RESOLUTION, "m")
    rings = int(math.ceil(radius_m / spacing)) + 1
    centre = h3.latlng_to_cell(lat, lon, FOOTPRINT_RESOLUTION)
    return np.array([h3.str_to_int(c) for c in h3.grid_disk(centre, rings)], dtype="int64")


def _tile_centres(tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    points = [h3.cell_to_latlng(h3.int_to_str(int(t))) for t in tiles]
    return np.array([p[0] for p in points]), np.array([p[1] for p in points])


def signal_dbm(distance_m: np.ndarray, off_azimuth_deg: np.ndarray, range_m: float, beam_width_deg: float | None,
               model: PropagationModel = MODEL) -> np.ndarray:
    """Received signal (dBm) of one cell at distances and angles off its azimuth (step 1 of the module docstring)."""
    loss = 10.0 * model.path_loss_exponent * np.log10(np.maximum(distance_m, 1.0) / range_m)
    if beam_width_deg is None or not beam_width_deg < 360:
        pattern = np.zeros_like(distance_m)
    else:
        pattern = np.minimum(12.0 * (off_azimuth_deg / beam_width_deg) ** 2, model.front_to_back_db)
    return model.edge_dbm - loss - pattern


def dominance(signal: np.ndarray, model: PropagationModel = MODEL) -> np.ndarray:
    """Signal dominance in [0, 1]: a logistic function of the signal around the edge level (step 2)."""
    return 1.0 / (1.0 + np.exp(-(signal - model.edge_dbm) / model.steepness_db))


def cell_dominance(cells: pd.DataFrame, model: PropagationModel = MODEL) -> pd.DataFrame:
    """Every cell's dominance over the tiles around it, pruned (steps 1 to 3).

    Parameters
    ----------
    cells : pandas.DataFrame
        ``cell_id, latitude, longitude, azimuth, beam_width, range_m`` (azimuth and beam width NaN for an
        omnidirectional cell; range NaN takes ``FALLBACK_RANGE_M``).

    Returns
    -------
    pandas.DataFrame
        ``cell_id, h3_cell, dominance``.
    """
    parts = []
    for cell in cells.itertuples(index=False):
        range_m = float(cell.range_m) if cell.range_m == cell.range_m else FALLBACK_RANGE_M
        tiles = _tiles_around(cell.latitude, cell.longitude, model.max_range_factor * range_m)
        lat, lon = _tile_centres(tiles)
        north = (lat - cell.latitude) * M_PER_DEG_LAT
        east = (lon - cell.longitude) * 111_320.0 * math.cos(math.radians(cell.latitude))
        distance = np.hypot(north, east)
        directional = cell.azimuth == cell.azimuth and cell.beam_width == cell.beam_width
        bearing = np.degrees(np.arctan2(east, north)) % 360.0
        off = np.abs((bearing - (cell.azimuth if directional else 0.0) + 180.0) % 360.0 - 180.0)
        signal = signal_dbm(distance, off, range_m, float(cell.beam_width) if directional else None, model)
        dom = dominance(signal, model)
        keep = (distance <= model.max_range_factor * range_m) & (dom >= model.min_dominance)
        parts.append(pd.DataFrame({"cell_id": cell.cell_id, "h3_cell": tiles[keep], "dominance": dom[keep]}))
    if not parts:
        return pd.DataFrame({"cell_id": pd.Series(dtype=str), "h3_cell": pd.Series(dtype="int64"),
                             "dominance": pd.Series(dtype=float)})
    return pd.concat(parts, ignore_index=True)


def footprints(cells: pd.DataFrame, model: PropagationModel = MODEL) -> pd.DataFrame:
    """Each cell's footprint: weights over resolution-10 tiles summing to 1 per cell (steps 1 to 5).

    Returns
    -------
    pandas.DataFrame
        ``cell_id, h3_cell, weight`` (``h3_cell`` as a 64-bit integer).
    """
    dom = cell_dominance(cells, model)
    if dom.empty:
        return dom.rename(columns={"dominance": "weight"})
    connection = dom["dominance"] / dom.groupby("h3_cell")["dominance"].transform("sum")
    weight = connection / connection.groupby(dom["cell_id"]).transform("sum")
    result = dom[["cell_id", "h3_cell"]].assign(weight=weight)
    result = result[result["weight"] >= model.min_weight]
    result["weight"] = result["weight"] / result.groupby("cell_id")["weight"].transform("sum")
    return result.reset_index(drop=True)


def footprint_cells(footprint: pd.DataFrame, resolution: int, mass: float = 0.9) -> pd.Series:
    """Per cell, how many H3 cells of ``resolution`` hold ``mass`` of its footprint's weight (its size there)."""
    parents = footprint.assign(parent=parent_array(footprint["h3_cell"].to_numpy(), resolution))
    by_parent = parents.groupby(["cell_id", "parent"])["weight"].sum().sort_values(ascending=False)

    def cells_for(weights: pd.Series) -> int:
        return int(np.searchsorted(np.cumsum(weights.to_numpy()), mass - 1e-9) + 1)

    return by_parent.groupby(level="cell_id").apply(cells_for)


def supported_resolution(footprint: pd.DataFrame, max_median_cells: float = MAX_MEDIAN_CELLS) -> int:
    """The finest resolution (6 to 10) at which the median footprint covers at most ``max_median_cells`` cells."""
    for resolution in range(FOOTPRINT_RESOLUTION, 5, -1):
        if footprint_cells(footprint, resolution).median() <= max_median_cells:
            return resolution
    return 6


def towers_cells(towers: pd.DataFrame) -> pd.DataFrame:
    """The footprint input of ``towers.csv`` rows (``lat, lon, azimuth_deg, beamwidth_deg, range_m``).

    ``beamwidth_deg`` is the sector's width (the wedge its centroid placement uses); the antenna pattern needs the
    antenna's 3 dB beam width, ``ANTENNA_BEAM_PER_SECTOR_WIDTH`` of it (an ESS topology states that width
    itself, as ``horizontal_beam_width``).
    """
    sector = pd.to_numeric(towers["beamwidth_deg"], errors="coerce")
    return pd.DataFrame({
        "cell_id": towers["cell_id"].astype(str), "latitude": pd.to_numeric(towers["lat"], errors="coerce"),
        "longitude": pd.to_numeric(towers["lon"], errors="coerce"),
        "azimuth": pd.to_numeric(towers["azimuth_deg"], errors="coerce").where(sector < 360),
        "beam_width": (sector * ANTENNA_BEAM_PER_SECTOR_WIDTH).where(sector < 360),
        "range_m": pd.to_numeric(towers["range_m"], errors="coerce")})


def ess_cells(valid: pd.DataFrame) -> pd.DataFrame:
    """The footprint input of an ESS snapshot's cells valid on a day (``network.cells_on``), with position."""
    valid = valid[valid["latitude"].notna() & valid["longitude"].notna()]
    omni = (valid["directionality"] == 0) | valid["azimuth_angle"].isna() | ~(valid["horizontal_beam_width"] < 360)
    cell_type = valid["cell_type"] if "cell_type" in valid.columns else pd.Series(None, index=valid.index)
    default = cell_type.astype("string").str.lower().map(DEFAULT_RANGE_M).astype(float).fillna(FALLBACK_RANGE_M)
    return pd.DataFrame({
        "cell_id": valid["cell_id"].astype(str), "latitude": valid["latitude"], "longitude": valid["longitude"],
        "azimuth": valid["azimuth_angle"].where(~omni), "beam_width": valid["horizontal_beam_width"].where(~omni),
        "range_m": valid["range"].fillna(default)})


def topology_cells(source: str, date: dt.date) -> pd.DataFrame:
    """The footprint input of a feed's topology on a day: ``towers.csv`` (telco) or the ESS snapshot (mno).

    Raises
    ------
    ReferenceDataError
        The feed has no cell topology, or its file is missing or invalid.
    """
    if source == "telco":
        return towers_cells(read_towers())
    if source == "mno":
        cells, *_ = snapshot_cells(date)
        return ess_cells(cells_on(cells, date)[0])
    raise ReferenceDataError(f"{source}: no cell topology (footprints are made for telco and mno)")


def build_footprints(source: str, date: dt.date, model: PropagationModel = MODEL) -> dict:
    """Compute a feed's footprints for a day and replace that day's rows of ``silver/cell_footprints``.

    Returns
    -------
    dict
        ``cells``, ``rows``, ``version`` of the table, ``median_cells`` (per resolution 7 to 10, the median
        number of cells holding 90% of a footprint) and ``supported_resolution``.
    """
    fp = footprints(topology_cells(source, date), model)
    data = pa.Table.from_pandas(fp.assign(source=source, valid_date=date)[tables.CELL_FOOTPRINTS.schema.names],
                                schema=tables.CELL_FOOTPRINTS.schema, preserve_index=False)
    path = tables.CELL_FOOTPRINTS.path()
    predicate = f"source = '{source}' AND valid_date = '{date.isoformat()}'"
    if tables.CELL_FOOTPRINTS.exists():
        version = lake.overwrite_arrow(path, data, predicate=predicate, partition_by=["source"])
    else:
        version = lake.create_arrow(path, data, partition_by=["source"])
    medians = {r: float(footprint_cells(fp, r).median()) for r in range(6, FOOTPRINT_RESOLUTION + 1)}
    supported = next((r for r in range(FOOTPRINT_RESOLUTION, 5, -1) if medians[r] <= MAX_MEDIAN_CELLS), 6)
    built = dt.datetime.now(dt.timezone.utc)
    tables.FOOTPRINT_SIZES.append([{"source": source, "valid_date": date, "resolution": r, "median_cells": m,
                                    "supported_resolution": supported, "built_at": built} for r, m in medians.items()])
    return {"cells": int(fp["cell_id"].nunique()), "rows": len(fp), "version": version, "median_cells": medians,
            "supported_resolution": supported}


def footprint_units(footprint: pd.DataFrame, resolution: int, units: int) -> pd.DataFrame:
    """Each cell's footprint at ``resolution`` in whole units of ``1/units`` of a person, ``units`` per cell.

    Weights are summed per parent cell and rounded by largest remainder: the floors, then one more unit to
    the parents with the largest fractions (ties: the smaller parent), so every cell's units sum to exactly
    ``units`` and no parent is off by a unit or more.

    Parameters
    ----------
    footprint : pandas.DataFrame
        ``cell_id, h3_cell, weight`` (weights summing to 1 per cell), plus any columns that identify the
        footprint (``source``, ``valid_date``), kept.
    resolution : int
        H3 resolution of the product (at or coarser than the footprints').
    units : int
        Units of one person (100: hundredths).

    Returns
    -------
    pandas.DataFrame
        The identifying columns, ``cell_id``, ``h3_cell`` (the parent, 64-bit integer) and ``units`` (> 0).
    """
    ids = [c for c in footprint.columns if c not in ("h3_cell", "weight")]
    parents = footprint.assign(h3_cell=parent_array(footprint["h3_cell"].to_numpy(), resolution))
    grouped = parents.groupby([*ids, "h3_cell"], as_index=False)["weight"].sum()
    grouped["weight"] = grouped["weight"] / grouped.groupby(ids)["weight"].transform("sum")
    exact = grouped["weight"].to_numpy() * units
    floors = np.floor(exact + 1e-9)
    grouped = grouped.assign(units=floors.astype("int64"), _fraction=exact - floors)
    missing = units - grouped.groupby(ids)["units"].transform("sum")
    order = grouped.sort_values([*ids, "_fraction", "h3_cell"], ascending=[True] * len(ids) + [False, True])
    rank = order.groupby(ids).cumcount().reindex(grouped.index)
    grouped["units"] = grouped["units"] + (rank < missing).astype("int64")
    return grouped[grouped["units"] > 0].drop(columns=["weight", "_fraction"]).reset_index(drop=True)


def footprints_on(source: str, dates: list[dt.date]) -> tuple[pd.DataFrame, dict[dt.date, dt.date]]:
    """A feed's footprints serving ``dates``: for each date, the latest built on or before it.

    Returns
    -------
    pandas.DataFrame
        ``valid_date, cell_id, h3_cell, weight`` (``h3_cell`` at resolution 10), each footprint version used
        once, however many of the dates it serves.
    dict
        Each date's footprint version (its ``valid_date``).

    Raises
    ------
    ReferenceDataError
        A date has no footprint on or before it (naming the command that builds one).
    """
    stored = (lake.read_arrow(tables.CELL_FOOTPRINTS.path(), partitions={"source": [source]}).to_pandas()
              if tables.CELL_FOOTPRINTS.exists() else pd.DataFrame(columns=["valid_date"]))
    built = sorted(set(stored["valid_date"]))
    serving = {}
    for date in dates:
        earlier = [d for d in built if d <= date]
        if not earlier:
            raise ReferenceDataError(f"{source} {date}: no cell footprints on or before that day; run "
                                     f"`cde footprints --source {source} --date {date}` first")
        serving[date] = earlier[-1]
    used = stored[stored["valid_date"].isin(set(serving.values()))]
    return used[["valid_date", "cell_id", "h3_cell", "weight"]].reset_index(drop=True), serving


def ensure_footprints(source: str, date: dt.date) -> dict | None:
    """Build a feed's footprints for a day unless footprints that serve it exist (called by aggregation).

    An ESS topology is dated (cells have validity dates), so every ``mno`` day gets its own footprints; a
    ``towers.csv`` is not, so the latest footprints built on or before the day serve it until ``cde footprints``
    rebuilds them after the file changes.

    Returns
    -------
    dict or None
        ``build_footprints``'s figures, or None when nothing was built.
    """
    built = (set(lake.read_arrow(tables.FOOTPRINT_SIZES.path(), partitions={"source": [source]})
                 .column("valid_date").to_pylist()) if tables.FOOTPRINT_SIZES.exists() else set())
    dated = source == "mno"
    if (date in built) if dated else any(d <= date for d in built):
        return None
    return build_footprints(source, date)
