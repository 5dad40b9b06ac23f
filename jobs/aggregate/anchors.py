"""``silver.anchors``: home and work cells per person over a rolling window, and a segment per person-day.

- home: the cell where the person was present on the most nights (22:00-06:00 local) in the window;
- work: the cell present on the most weekdays between 09:00 and 16:00 local;
- window: ``window_days`` local days ending on the day (default 14), never across a pseudonym-key rotation
  (pseudonyms change there, so the window starts at the rotation at the earliest);
- segment per person-day: ``tourist`` (foreign ``home_mcc``; ``country`` from the MCC), ``resident`` (home in
  the area), ``commuter`` (work in the area, home outside or unknown), ``visitor`` (neither).

The area is a GeoJSON polygon (default: the region's ``home_area``, ``regions/<name>/region.yaml``; a region
without one: its boundary, else its box).
A person's segment can change from day to day as the window moves: segmented releases carry twice the daily
bound as their sensitivity (docs/architecture.md, the privacy model).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from jobs.common import settings
from jobs.common.h3cells import cell_to_int, parent_column, polygon_cells
from jobs.ingest.pseudonym import _EPOCH, key_period

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SEGMENTS = settings.SEGMENT_NAMES
DEFAULT_WINDOW_DAYS = settings.ANCHOR_WINDOW_DAYS
DEFAULT_MIN_NIGHTS = 3
DEFAULT_MIN_WORKDAYS = 2
AREA_RESOLUTION = 9
DEFAULT_AREA = settings.REGION.folder / settings.REGION.home_area if settings.REGION.home_area else None
MCC_TABLE = Path(__file__).with_name("mcc_countries.csv")


@cache
def mcc_countries() -> dict[str, str]:
    """MCC -> ISO 3166-1 alpha-2, from ``mcc_countries.csv`` (ITU-T E.212; see the file's header)."""
    lines = [line for line in MCC_TABLE.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    return {row["mcc"]: row["country"] for row in csv.DictReader(lines)}


def window_start(date: dt.date, window_days: int = DEFAULT_WINDOW_DAYS) -> dt.date:
    """First local day of the anchor window of ``date``: never before the key period's first day."""
    period_first = _EPOCH + dt.timedelta(days=key_period(date) * settings.KEY_ROTATION_DAYS)
    return max(date - dt.timedelta(days=window_days - 1), period_first)


def area_cells(area_path: Path | None = DEFAULT_AREA) -> list[int]:
    """H3 cells (resolution 9, as integers) of the segment area (None: the region's boundary, else its box)."""
    if area_path is not None:
        doc = json.loads(Path(area_path).read_text(encoding="utf-8"))
        geometry = doc.get("geometry", doc)
    elif settings.REGION.boundary is not None:
        geometry = settings.REGION.boundary
    else:
        west, south, east, north = settings.REGION_BBOX
        geometry = {"type": "Polygon",
                    "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]]}
    return [cell_to_int(c) for c in polygon_cells(geometry, AREA_RESOLUTION)]


def _top_cell(rows: DataFrame, count_name: str) -> DataFrame:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    per_cell = rows.groupBy("pseudo_id", "source", "h3_cell").agg(
        F.countDistinct("event_date").alias("days"), F.sum("events").alias("n"))
    best = Window.partitionBy("pseudo_id", "source").orderBy(F.col("days").desc(), F.col("n").desc(), "h3_cell")
    total = rows.groupBy("pseudo_id", "source").agg(F.countDistinct("event_date").alias(count_name))
    top = per_cell.withColumn("_r", F.row_number().over(best)).filter("_r = 1").select(
        "pseudo_id", "source", "h3_cell")
    return top.join(total, ["pseudo_id", "source"])


def anchors_for_day(spark: SparkSession, window_presence: DataFrame, date: dt.date,
                    min_nights: int = DEFAULT_MIN_NIGHTS, min_workdays: int = DEFAULT_MIN_WORKDAYS,
                    area: list[int] | None = None) -> DataFrame:
    """Anchors and segments of every person present on ``date``.

    Parameters
    ----------
    spark : SparkSession
        The process's session.
    window_presence : DataFrame
        ``silver.presence`` rows of the window (``window_start(date)`` to ``date``), one source.
    date : datetime.date
        The local day segmented.
    min_nights, min_workdays : int
        Fewest nights / workdays in the window for a home / work cell.
    area : list of int, optional
        Resolution-9 cells of the area (default: ``area_cells()``).

    Returns
    -------
    DataFrame
        ``pseudo_id, source, event_date, key_period, window_start, home_cell, work_cell, nights, workdays,
        segment, country``.
    """
    from pyspark.sql import functions as F

    local = F.from_utc_timestamp("bin_start", settings.LOCAL_TZ_NAME)
    hour, weekday = F.hour(local), F.dayofweek(local)  # 1 = Sunday, 7 = Saturday
    nights = window_presence.filter((hour >= 22) | (hour < 6))
    days = window_presence.filter((hour >= 9) & (hour < 16) & (weekday >= 2) & (weekday <= 6))
    home = _top_cell(nights, "nights").filter(F.col("nights") >= min_nights).withColumnRenamed("h3_cell", "home_cell")
    work = _top_cell(days, "workdays").filter(F.col("workdays") >= min_workdays).withColumnRenamed(
        "h3_cell", "work_cell")
    area_df = spark.createDataFrame([(c,) for c in (area if area is not None else area_cells())], "area_cell long")
    today = window_presence.filter(F.col("event_date") == F.lit(date)).groupBy(
        "pseudo_id", "source", "event_date", "key_period").agg(F.first("home_mcc", ignorenulls=True).alias("home_mcc"))
    mcc_map = F.create_map(*[F.lit(x) for kv in mcc_countries().items() for x in kv])
    joined = (today.join(home, ["pseudo_id", "source"], "left").join(work, ["pseudo_id", "source"], "left")
              .join(F.broadcast(area_df.withColumnRenamed("area_cell", "_home_in")),
                    parent_column(F.col("home_cell"), AREA_RESOLUTION) == F.col("_home_in"), "left")
              .join(F.broadcast(area_df.withColumnRenamed("area_cell", "_work_in")),
                    parent_column(F.col("work_cell"), AREA_RESOLUTION) == F.col("_work_in"), "left"))
    country = F.coalesce(mcc_map[F.col("home_mcc")], F.when(F.col("home_mcc").isNotNull(), F.lit("ZZ")))
    # a home network of another country (the region's domestic_mcc) makes a tourist
    foreign = F.col("home_mcc").isNotNull() & ~F.col("home_mcc").isin(*settings.REGION.domestic_mcc)
    segment = (F.when(foreign, F.lit("tourist"))
               .when(F.col("_home_in").isNotNull(), F.lit("resident"))
               .when(F.col("_work_in").isNotNull(), F.lit("commuter"))
               .otherwise(F.lit("visitor")))
    return joined.select(
        "pseudo_id", "source", "event_date", "key_period", F.lit(window_start(date)).alias("window_start"),
        "home_cell", "work_cell", F.coalesce("nights", F.lit(0)).cast("long").alias("nights"),
        F.coalesce("workdays", F.lit(0)).cast("long").alias("workdays"), segment.alias("segment"),
        country.alias("country"))
