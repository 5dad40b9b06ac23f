"""Reference data: where each supplier id (cell, AP, camera, stop) is, as an H3 cell.

Reference files are small; they are read on the driver, validated (an error names the file, row and field)
and joined to the events as a broadcast table.

Telco placement: a sector covers a wedge from its site, centred on ``azimuth_deg``, ``beamwidth_deg``
wide and ``range_m`` long. An event is placed at the centroid of that wedge (built with shapely in metres
around the site), in the H3 cell holding the centroid at the finest resolution. For a 120-degree sector
the centroid lies about 0.55 x range from the site along the azimuth.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import h3
import numpy as np
import pandas as pd
from shapely.geometry import Polygon

from jobs.common import settings
from jobs.errors import ReferenceDataError

M_PER_DEG_LAT = 110_540.0


def _require(df: pd.DataFrame, path: Path, columns: list[str]) -> None:
    names = [c.strip().lower() for c in df.columns]
    missing = [c for c in columns if c not in names]
    if missing:
        raise ReferenceDataError(f"{path}: missing column(s) {', '.join(missing)}")
    df.columns = names


def _numeric(df: pd.DataFrame, path: Path, column: str, low: float, high: float) -> pd.Series:
    values = pd.to_numeric(df[column], errors="coerce")
    bad = values.isna() | (values < low) | (values > high)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ReferenceDataError(
            f"{path}: row {row + 2}, field {column}: {df[column].iloc[row]!r} is not a number in "
            f"[{low}, {high}]"
        )
    return values.astype(float)


def sector_centroid(lat: float, lon: float, azimuth_deg: float, beamwidth_deg: float,
                    range_m: float) -> tuple[float, float]:
    """Return (lat, lon) of the centroid of a sector's coverage wedge.

    Parameters
    ----------
    lat, lon : float
        Site position.
    azimuth_deg : float
        Direction of the sector's centre, degrees clockwise from north.
    beamwidth_deg : float
        Width of the wedge in degrees (360 for an omni cell: the centroid is the site).
    range_m : float
        Radius of the wedge in metres.

    Returns
    -------
    tuple of float
        Latitude and longitude of the centroid.
    """
    m_per_deg_lon = 111_320.0 * math.cos(math.radians(lat))
    if beamwidth_deg >= 360:
        return lat, lon
    start = azimuth_deg - beamwidth_deg / 2
    steps = max(int(beamwidth_deg // 5), 2)
    arc = [
        (range_m * math.sin(math.radians(start + beamwidth_deg * k / steps)),
         range_m * math.cos(math.radians(start + beamwidth_deg * k / steps)))
        for k in range(steps + 1)
    ]
    centroid = Polygon([(0.0, 0.0), *arc]).centroid
    return lat + centroid.y / M_PER_DEG_LAT, lon + centroid.x / m_per_deg_lon


def in_region(lat: pd.Series, lon: pd.Series) -> pd.Series:
    """True where a point lies inside the service region (settings.REGION_BBOX)."""
    min_lon, min_lat, max_lon, max_lat = settings.REGION_BBOX
    return (lon >= min_lon) & (lon <= max_lon) & (lat >= min_lat) & (lat <= max_lat)


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    """Read a reference CSV; every unusable file is a ``ReferenceDataError`` naming it and what to do."""
    fix = "the supplier's reference file belongs there (UTF-8 CSV, header and one row per id)"
    if not path.exists():
        raise ReferenceDataError(f"{path}: reference file not found; {fix}")
    if path.is_dir():
        raise ReferenceDataError(f"{path}: is a folder, not a reference file; {fix}")
    try:
        df = pd.read_csv(io.BytesIO(path.read_bytes()), dtype=str, encoding="utf-8-sig", keep_default_na=False)
    except UnicodeDecodeError as exc:
        raise ReferenceDataError(f"{path}: not UTF-8 (byte {exc.start}); re-export it as UTF-8") from exc
    except pd.errors.EmptyDataError:
        raise ReferenceDataError(f"{path}: empty file; {fix}") from None
    except (pd.errors.ParserError, OSError) as exc:
        raise ReferenceDataError(f"{path}: cannot be read as CSV ({str(exc).splitlines()[0]}); {fix}") from None
    _require(df, path, columns)
    if df.empty:
        raise ReferenceDataError(f"{path}: has a header but no rows; {fix}")
    return df


def _ids(df: pd.DataFrame, path: Path, column: str) -> pd.Series:
    ids = df[column].str.strip()
    if (ids == "").any():
        row = int(np.flatnonzero((ids == "").to_numpy())[0])
        raise ReferenceDataError(f"{path}: row {row + 2}, field {column}: empty")
    dupes = ids.duplicated()
    if dupes.any():
        raise ReferenceDataError(f"{path}: field {column}: {ids[dupes].iloc[0]!r} appears twice")
    return ids


def _placed(ids: pd.Series, lat: pd.Series, lon: pd.Series, resolution: int) -> pd.DataFrame:
    cells = [h3.str_to_int(h3.latlng_to_cell(a, b, resolution)) for a, b in zip(lat, lon, strict=True)]
    return pd.DataFrame({
        "ref_id": ids.to_numpy(),
        "h3_cell": pd.Series(cells, dtype="int64").to_numpy(),
        "in_region": in_region(lat.reset_index(drop=True), lon.reset_index(drop=True)).to_numpy(),
    })


TOWER_COLUMNS = ["cell_id", "site_id", "lat", "lon", "azimuth_deg", "beamwidth_deg", "range_m"]


def read_towers(path: Path | None = None) -> pd.DataFrame:
    """``towers.csv`` read and checked for its columns (text values; ``ReferenceDataError`` naming the file)."""
    return _read(path or settings.reference_path("towers.csv"), TOWER_COLUMNS)


def load_towers(path: Path | None = None, resolution: int = settings.FINEST_H3_RESOLUTION) -> pd.DataFrame:
    """Read and validate ``towers.csv`` and place every sector in an H3 cell (its wedge's centroid).

    Parameters
    ----------
    path : Path, optional
        Reference file; defaults to ``lake/landing/reference/towers.csv``.
    resolution : int
        H3 resolution of the placement.

    Returns
    -------
    pandas.DataFrame
        ``ref_id`` (the ``cell_id``), ``h3_cell`` (int64), ``in_region`` (bool).
    """
    path = path or settings.reference_path("towers.csv")
    df = read_towers(path)
    ids = _ids(df, path, "cell_id")
    lat = _numeric(df, path, "lat", -90, 90)
    lon = _numeric(df, path, "lon", -180, 180)
    az = _numeric(df, path, "azimuth_deg", 0, 360)
    bw = _numeric(df, path, "beamwidth_deg", 1, 360)
    rng = _numeric(df, path, "range_m", 1, 100_000)
    centres = [sector_centroid(*v) for v in zip(lat, lon, az, bw, rng, strict=True)]
    return _placed(ids, pd.Series([c[0] for c in centres]), pd.Series([c[1] for c in centres]), resolution)


def load_points(name: str, id_column: str, extra_columns: tuple[str, ...] = (),
                resolution: int = settings.FINEST_H3_RESOLUTION, path: Path | None = None) -> pd.DataFrame:
    """Read and validate a point reference (``aps.csv``, ``cameras.csv``, ``stops.csv``) and place it in H3.

    Parameters
    ----------
    name : str
        File name under ``lake/landing/reference/``.
    id_column : str
        Column holding the supplier id.
    extra_columns : tuple of str
        Further required columns (kept out of the result; checked for presence).
    resolution : int
        H3 resolution of the placement.
    path : Path, optional
        Overrides the file location.

    Returns
    -------
    pandas.DataFrame
        ``ref_id``, ``h3_cell`` (int64), ``in_region`` (bool).
    """
    path = path or settings.reference_path(name)
    df = _read(path, [id_column, "lat", "lon", *extra_columns])
    ids = _ids(df, path, id_column)
    return _placed(ids, _numeric(df, path, "lat", -90, 90), _numeric(df, path, "lon", -180, 180), resolution)
