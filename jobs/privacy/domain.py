"""The public release domain: contract area cells x time bins (x public segment values).

Every key of the domain gets a value, zero-filled before noise, so which keys exist reveals nothing.
The domain comes from the contract and the calendar, never from the data.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from jobs.common.h3cells import cell_to_int, polygon_cells
from jobs.common.timebins import day_bins
from jobs.contracts.zones import cell_to_zone_index

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def domain_cells(area: dict, h3_resolution: int) -> list[str]:
    """Return the H3 cells of a contract area (a GeoJSON geometry) at the contract resolution."""
    cells = polygon_cells(area, h3_resolution)
    if not cells:
        raise ValueError(f"the contract area holds no H3 cell centre at resolution {h3_resolution}")
    return cells


def domain_bins(window_start: dt.date, window_end: dt.date, bin_minutes: int) -> list[dt.datetime]:
    """Return the UTC start of every local bin of the local dates ``[window_start, window_end)``."""
    bins = []
    day = window_start
    while day < window_end:
        bins.extend(day_bins(day, bin_minutes))
        day += dt.timedelta(days=1)
    return bins


def public_domain(spark: SparkSession, cells: list[str] | list[int], bins: list[dt.datetime],
                  places: tuple[str, ...] = ("h3_cell",)) -> DataFrame:
    """Return the domain as a DataFrame of each place column (long; every cell, or every pair of cells for
    origin and destination) x ``bin_start`` (timestamp). Integer ``cells`` are taken as they are (the zone
    indices of a zone-level release)."""
    cell_df = spark.createDataFrame([(c if isinstance(c, int) else cell_to_int(c),) for c in cells], "_cell long")
    domain = spark.createDataFrame([(b,) for b in bins], "bin_start timestamp")
    for place in places:
        domain = cell_df.withColumnRenamed("_cell", place).crossJoin(domain)
    return domain


def zero_fill(domain: DataFrame, counts: DataFrame, keys: tuple[str, ...] = ("h3_cell", "bin_start")) -> DataFrame:
    """Give every domain key its count, 0 where there is none; counts outside the domain are dropped."""
    from pyspark.sql import functions as F

    joined = domain.join(counts, on=list(keys), how="left")
    return joined.withColumn("value", F.coalesce(F.col("value"), F.lit(0)).cast("long"))


def restrict_to_domain(spark: SparkSession, cut: DataFrame, places: tuple[str, ...], cells: list[str],
                       bins: list[dt.datetime] | None, bin_minutes: int) -> DataFrame:
    """Keep only the rows a release can use: every place column inside the area's cells and, when ``bins``
    is given, the bin inside the window.

    Bounding comes after this, so a person's rows outside the area or window do not use up their
    contribution bound (bounding city-wide first, then filtering, drops in-area rows for nothing).
    """
    from pyspark.sql import functions as F

    area = spark.createDataFrame([(cell_to_int(c),) for c in cells], "_cell long")
    for place in places:
        cut = cut.join(F.broadcast(area.withColumnRenamed("_cell", place)), place, "left_semi")
    if bins:
        last = bins[-1] + dt.timedelta(minutes=bin_minutes)
        cut = cut.filter((F.col("bin_start") >= F.lit(bins[0])) & (F.col("bin_start") < F.lit(last)))
    return cut


def to_zones(spark: SparkSession, cut: DataFrame, places: tuple[str, ...], zones) -> DataFrame:
    """Replace each place column's cell by the index of the contract zone holding it (a zone-level release);
    rows in cells of no zone are dropped, before bounding, like rows outside the area.

    Parameters
    ----------
    zones : sequence of (str, sequence of str)
        Zone ids with their cells, in zone-index order (``zones.parse_zones_text``).
    """
    from pyspark.sql import functions as F

    mapping = spark.createDataFrame(list(cell_to_zone_index(zones).items()), "_cell long, _zone long")
    for place in places:
        cut = (cut.join(F.broadcast(mapping.withColumnRenamed("_cell", place)), place, "inner")
               .drop(place).withColumnRenamed("_zone", place))
    return cut
