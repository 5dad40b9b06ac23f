"""H3 helpers: cells as 64-bit integers inside Spark, hex strings at the edges (files, contracts).

Keeping cells as ``long`` columns makes joins and shuffles cheap (docs/architecture.md, performance), and the
parent of a cell is pure bit arithmetic, so Spark computes it without a Python UDF.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import h3
import numpy as np

if TYPE_CHECKING:
    from pyspark.sql import Column

_RES_SHIFT = 52
_RES_MASK = 0xF << _RES_SHIFT
_MAX_RES = 15


def cell_to_int(cell: str) -> int:
    """Return the 64-bit integer of an H3 cell given as a hex string."""
    return h3.str_to_int(cell)


def int_to_cell(value: int) -> str:
    """Return the hex string of an H3 cell given as a 64-bit integer."""
    return h3.int_to_str(int(value))


def parent_column(cell: Column, resolution: int) -> Column:
    """Spark expression for the parent of an H3 cell (``long`` column) at a coarser ``resolution``.

    H3 stores the resolution in bits 52-55 and one 3-bit digit per finer resolution; the parent has its
    resolution field set and every digit below it set to 7 (unused), exactly as ``h3.cell_to_parent``.

    Parameters
    ----------
    cell : Column
        H3 cells as 64-bit integers, at ``resolution`` or finer.
    resolution : int
        Target resolution, 0 to 15.

    Returns
    -------
    Column
        The parent cells as 64-bit integers.
    """
    from pyspark.sql import functions as F

    if not 0 <= resolution <= _MAX_RES:
        raise ValueError(f"H3 resolution must be 0..15, not {resolution}")
    unused_digits = (1 << ((_MAX_RES - resolution) * 3)) - 1
    cleared = cell.bitwiseAND(F.lit(~_RES_MASK))
    return cleared.bitwiseOR(F.lit((resolution << _RES_SHIFT) | unused_digits))


def parent_array(cells: np.ndarray, resolution: int) -> np.ndarray:
    """The parents at a coarser ``resolution`` of H3 cells given as int64 (numpy), by the bit rule of
    ``parent_column``."""
    if not 0 <= resolution <= _MAX_RES:
        raise ValueError(f"H3 resolution must be 0..15, not {resolution}")
    unused_digits = (1 << ((_MAX_RES - resolution) * 3)) - 1
    bits = np.asarray(cells, dtype="int64").view("uint64")
    cleared = bits & np.uint64(~_RES_MASK & 0xFFFFFFFFFFFFFFFF)
    parents = cleared | np.uint64((resolution << _RES_SHIFT) | unused_digits)
    return parents.view("int64")


def hex_column(cell: Column) -> Column:
    """Spark expression turning a ``long`` H3 column into its lower-case hex string."""
    from pyspark.sql import functions as F

    return F.lower(F.hex(cell))


def polygon_cells(geojson_geometry: dict, resolution: int) -> list[str]:
    """Return the H3 cells whose centres lie inside a GeoJSON Polygon or MultiPolygon.

    Parameters
    ----------
    geojson_geometry : dict
        A GeoJSON geometry (``{"type": "Polygon", "coordinates": [...]}``), lon/lat order.
    resolution : int
        H3 resolution of the cells.

    Returns
    -------
    list of str
        Sorted hex cell ids: the spatial part of a public release domain.
    """
    shape = h3.geo_to_h3shape(geojson_geometry)
    return sorted(h3.h3shape_to_cells(shape, resolution))


def cell_polygon(cell: str) -> list[list[float]]:
    """Return the closed boundary ring of a cell as GeoJSON ``[lon, lat]`` pairs."""
    ring = [[lng, lat] for lat, lng in h3.cell_to_boundary(cell)]
    return ring + [ring[0]]
