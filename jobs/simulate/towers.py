"""Synthetic mobile network: three-sector sites on a jittered grid, denser in the centre."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from jobs.simulate.population import HOME_MCC, WORLD_X, WORLD_Y, to_lat_lon

SECTOR_AZIMUTHS = (0.0, 120.0, 240.0)
SECTOR_BEAMWIDTH = 120.0


def make_towers(seed: int, spacing_m: float = 800.0) -> pd.DataFrame:
    """Return the tower reference table in the supplier format.

    Parameters
    ----------
    seed : int
        Simulator seed.
    spacing_m : float
        Grid spacing of sites outside the centre (halved inside 3 km of the centre).

    Returns
    -------
    pandas.DataFrame
        ``cell_id, site_id, lat, lon, azimuth_deg, beamwidth_deg, range_m`` plus the site position in
        metres (``x``, ``y``), which the simulator uses and the reference file omits.
    """
    rng = np.random.default_rng(seed + 7)
    xs = np.arange(WORLD_X[0], WORLD_X[1] + 1, spacing_m)
    ys = np.arange(WORLD_Y[0], WORLD_Y[1] + 1, spacing_m)
    gx, gy = np.meshgrid(xs, ys)
    sites = np.column_stack([gx.ravel(), gy.ravel()])
    inner_xs = np.arange(-3_000, 3_001, spacing_m / 2)
    ix, iy = np.meshgrid(inner_xs, inner_xs)
    inner = np.column_stack([ix.ravel(), iy.ravel()]) + spacing_m / 4
    sites = np.vstack([sites, inner])
    sites = sites + rng.normal(0, spacing_m / 8, sites.shape)
    near_centre = np.hypot(sites[:, 0], sites[:, 1]) < 3_000
    range_m = np.where(near_centre, 500.0, 1_000.0) * rng.uniform(0.9, 1.3, len(sites))
    rows = []
    for site, ((x, y), rng_m) in enumerate(zip(sites, range_m, strict=True)):
        for sector, az in enumerate(SECTOR_AZIMUTHS, start=1):
            rows.append((f"{HOME_MCC}-01-{10_000 + site}-{sector}", f"SITE{site:04d}", x, y, az, SECTOR_BEAMWIDTH,
                         round(float(rng_m))))
    df = pd.DataFrame(rows, columns=["cell_id", "site_id", "x", "y", "azimuth_deg", "beamwidth_deg",
                                     "range_m"])
    lat, lon = to_lat_lon(df["x"].to_numpy(), df["y"].to_numpy())
    df["lat"] = np.round(lat, 6)
    df["lon"] = np.round(lon, 6)
    return df


class ServingCell:
    """Find the serving cell of a position: the nearest site, and the sector facing the position."""

    def __init__(self, towers: pd.DataFrame):
        sites = towers.drop_duplicates("site_id")
        self._site_xy = sites[["x", "y"]].to_numpy()
        self._tree = cKDTree(self._site_xy)
        by_site = towers.groupby("site_id", sort=False)["cell_id"].apply(list)
        self._cells = np.array([by_site[s] for s in sites["site_id"]], dtype=object)

    def cells(self, x: np.ndarray, y: np.ndarray, person: np.ndarray | None = None,
              seconds: np.ndarray | None = None) -> np.ndarray:
        """Return the serving ``cell_id`` for each position (metres); ``person`` and ``seconds`` are unused (the
        nearest site's facing sector has no memory)."""
        _, site = self._tree.query(np.column_stack([x, y]))
        dx = x - self._site_xy[site, 0]
        dy = y - self._site_xy[site, 1]
        bearing = (np.degrees(np.arctan2(dx, dy)) + 360.0) % 360.0  # 0 = north, clockwise
        sector = (((bearing + SECTOR_BEAMWIDTH / 2) % 360.0) // SECTOR_BEAMWIDTH).astype(int)
        sector = np.minimum(sector, len(SECTOR_AZIMUTHS) - 1)
        return np.array([self._cells[s][k] for s, k in zip(site, sector, strict=True)], dtype=object)


class SignalServing:
    """Serving cells chosen by received signal, as a network chooses them (not by the pipeline's model).

    Each phone hears the sectors of the ``CANDIDATE_SITES`` nearest sites. Received power (dBm): ``TX_POWER_DBM
    - (128.1 + 37.6 * log10(d_km)) - A(phi) + X``: the 3GPP urban macro path loss (TR 36.814), the 3GPP
    horizontal antenna pattern ``A(phi) = min(12 * (phi / 65)^2, 20)`` and log-normal shadowing ``X`` of
    ``SHADOWING_DB`` standard deviation per cell, continuous in space and changing over about
    ``SHADOWING_GRID_M`` (a place keeps its shadow). The serving cell is the strongest, except that a phone
    stays on its previous cell while that cell is within ``HYSTERESIS_DB`` of the strongest (handover
    hysteresis): so a cell serves beyond its wedge and its site's Voronoi cell, and the pipeline's footprints
    are an estimate of this, not a copy.
    """

    TX_POWER_DBM = 43.0
    BEAM_3DB_DEG = 65.0
    PATTERN_FLOOR_DB = 20.0
    SHADOWING_DB = 8.0
    SHADOWING_GRID_M = 50.0
    HYSTERESIS_DB = 3.0
    CANDIDATE_SITES = 4

    def __init__(self, towers: pd.DataFrame, seed: int = 0):
        sites = towers.drop_duplicates("site_id")
        self._site_xy = sites[["x", "y"]].to_numpy()
        self._tree = cKDTree(self._site_xy)
        by_site = towers.groupby("site_id", sort=False)
        self._cells = np.array([list(by_site.get_group(s)["cell_id"]) for s in sites["site_id"]], dtype=object)
        self._azimuths = np.array([list(by_site.get_group(s)["azimuth_deg"]) for s in sites["site_id"]], dtype=float)
        self._seed = np.uint64(seed)

    def _node_normal(self, cell_index: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
        """A fixed standard normal per (cell, grid node): a stateless hash (splitmix64) turned normal."""
        from scipy.special import ndtri

        with np.errstate(over="ignore"):
            z = (cell_index.astype("uint64") * np.uint64(0x9E3779B97F4A7C15)
                 ^ gx.astype("int64").view("uint64") * np.uint64(0xBF58476D1CE4E5B9)
                 ^ gy.astype("int64").view("uint64") * np.uint64(0x94D049BB133111EB) ^ self._seed)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
        return ndtri(((z >> np.uint64(11)).astype(float) + 0.5) / float(1 << 53))

    def _shadowing(self, cell_index: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Shadowing (dB) per cell, continuous in space: the grid nodes' normals interpolated bilinearly and
        rescaled to unit variance, so a place keeps its shadow and it changes over about a grid square."""
        fx, fy = x / self.SHADOWING_GRID_M, y / self.SHADOWING_GRID_M
        gx, gy = np.floor(fx), np.floor(fy)
        tx, ty = fx - gx, fy - gy
        total, weights = 0.0, 0.0
        for dx, dy, w in ((0, 0, (1 - tx) * (1 - ty)), (1, 0, tx * (1 - ty)), (0, 1, (1 - tx) * ty), (1, 1, tx * ty)):
            total = total + w * self._node_normal(cell_index, gx + dx, gy + dy)
            weights = weights + w * w
        return self.SHADOWING_DB * total / np.sqrt(weights)

    def signals(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Received power (n, candidates) and the candidates' (site, sector) indices as site * 3 + sector."""
        _, site = self._tree.query(np.column_stack([x, y]), k=self.CANDIDATE_SITES)
        dx = x[:, None] - self._site_xy[site, 0]
        dy = y[:, None] - self._site_xy[site, 1]
        distance_km = np.maximum(np.hypot(dx, dy), 10.0) / 1000.0
        bearing = np.degrees(np.arctan2(dx, dy)) % 360.0
        sectors = self._azimuths.shape[1]
        power, index = [], []
        for sector in range(sectors):
            off = np.abs((bearing - self._azimuths[site, sector] + 180.0) % 360.0 - 180.0)
            pattern = np.minimum(12.0 * (off / self.BEAM_3DB_DEG) ** 2, self.PATTERN_FLOOR_DB)
            cell_index = site * sectors + sector
            loss = 128.1 + 37.6 * np.log10(distance_km)
            power.append(self.TX_POWER_DBM - loss - pattern + self._shadowing(cell_index, x[:, None], y[:, None]))
            index.append(cell_index)
        return np.concatenate(power, axis=1), np.concatenate(index, axis=1)

    def cells(self, x: np.ndarray, y: np.ndarray, person: np.ndarray | None = None,
              seconds: np.ndarray | None = None) -> np.ndarray:
        """The serving ``cell_id`` of each position; with ``person`` and ``seconds``, each phone's events in time
        order keep their previous cell while it is within the hysteresis of the strongest."""
        power, index = self.signals(np.asarray(x, float), np.asarray(y, float))
        best = np.argmax(power, axis=1)
        chosen = index[np.arange(len(best)), best]
        if person is not None and seconds is not None and len(chosen):
            order = np.lexsort((seconds, person))
            strongest = power[np.arange(len(best)), best]
            previous_person, previous_cell = -1, -1
            for i in order:
                if person[i] == previous_person:
                    held = np.flatnonzero(index[i] == previous_cell)
                    if len(held) and power[i, held[0]] >= strongest[i] - self.HYSTERESIS_DB:
                        chosen[i] = previous_cell
                previous_person, previous_cell = person[i], chosen[i]
        sectors = self._azimuths.shape[1]
        return np.array([self._cells[c // sectors][c % sectors] for c in chosen], dtype=object)
