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

    def cells(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return the serving ``cell_id`` for each position (metres)."""
        _, site = self._tree.query(np.column_stack([x, y]))
        dx = x - self._site_xy[site, 0]
        dy = y - self._site_xy[site, 1]
        bearing = (np.degrees(np.arctan2(dx, dy)) + 360.0) % 360.0  # 0 = north, clockwise
        sector = (((bearing + SECTOR_BEAMWIDTH / 2) % 360.0) // SECTOR_BEAMWIDTH).astype(int)
        sector = np.minimum(sector, len(SECTOR_AZIMUTHS) - 1)
        return np.array([self._cells[s][k] for s, k in zip(site, sector, strict=True)], dtype=object)
