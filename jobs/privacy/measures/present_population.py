"""``present_population``: the expected number of people per cell at each bin's instant (its start).

Each person seen within six hours of the instant (``INSTANT_TOLERANCE_MINUTES``) is where the serving cell
of their record nearest in time says (``silver/instants``), spread over that cell's footprint
(``silver/cell_footprints``, the latest built on or before the day) in whole hundredths of a person; a record
placed by its own coordinates keeps its whole mass in its cell. A person adds at most one person per bin
however the mass is spread, so the bound is on bins per person and day (``InstantsPerDay``); values are sums
of hundredths, noised as integers. It is additive over cells but not over bins (a coarser bin is its first
instant, not a sum).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.common.h3cells import parent_column
from jobs.common.timebins import bin_start_column
from jobs.privacy.measures.base import Measure
from jobs.privacy.measures.bounders import UNITS_PER_PERSON, InstantsPerDay

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from jobs.privacy.release import ReleasePlan


def footprint_units_of(plan: ReleasePlan, resolution: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The footprints serving the plan's sources and days at ``resolution``, in units.

    Returns
    -------
    pandas.DataFrame
        ``source, valid_date, cell_id, h3_cell, units``: each footprint version once (a ``towers.csv`` network
        has one for a whole window).
    pandas.DataFrame
        ``source, event_date, valid_date``: the version serving each day.
    """
    import datetime as dt

    import pandas as pd

    # pandas and h3 only when a release runs (the registry stays light at import)
    from jobs.ingest.footprints import footprint_units, footprints_on

    days = [plan.window_start + dt.timedelta(days=i) for i in range(plan.days)]
    units, serving = [], []
    for source in plan.sources:
        versions, chosen = footprints_on(source, days)
        units.append(footprint_units(versions.assign(source=source), resolution, UNITS_PER_PERSON))
        serving.append(pd.DataFrame({"source": source, "event_date": list(chosen),
                                     "valid_date": list(chosen.values())}))
    return (pd.concat(units, ignore_index=True)[["source", "valid_date", "cell_id", "h3_cell", "units"]],
            pd.concat(serving, ignore_index=True))


def spread_instants(spark: SparkSession, instants: DataFrame, units: pd.DataFrame, serving: pd.DataFrame,
                    resolution: int, bin_minutes: int) -> DataFrame:
    """Person-level rows of the instants that start a bin, spread over their cells' footprint units.

    Parameters
    ----------
    instants : DataFrame
        ``silver/instants`` rows.
    units : pandas.DataFrame
        ``source, valid_date, cell_id, h3_cell, units`` (``footprint_units_of``).
    serving : pandas.DataFrame
        ``source, event_date, valid_date``: the footprint version serving each day.
    resolution, bin_minutes : int
        The product's cut.

    Returns
    -------
    DataFrame
        ``pseudo_id, source, event_date, key_period, home_mcc, bin_start, h3_cell, units``; a person's units
        in one bin sum to exactly ``UNITS_PER_PERSON`` (a cell without a footprint, or a record without a
        cell, keeps all of them in its own cell).
    """
    from pyspark.sql import functions as F

    starts = instants.filter(bin_start_column(F.col("instant"), bin_minutes) == F.col("instant")).withColumnRenamed(
        "instant", "bin_start")
    days = spark.createDataFrame(serving[["source", "event_date", "valid_date"]],
                                 "source string, event_date date, valid_date date")
    ordered = units[["source", "valid_date", "cell_id", "h3_cell", "units"]]
    table = spark.createDataFrame(ordered.rename(columns={"h3_cell": "_cell", "units": "_units"}),
                                  "source string, valid_date date, cell_id string, _cell long, _units long")
    # days first (a few rows), so each footprint version is joined once rather than copied per day
    spread = (starts.join(F.broadcast(days), ["source", "event_date"], "left")
              .join(F.broadcast(table), ["source", "valid_date", "cell_id"], "left"))
    own = parent_column(F.col("h3_cell"), resolution)
    return spread.select(
        "pseudo_id", "source", "event_date", "key_period", "home_mcc", "bin_start",
        F.coalesce(F.col("_cell"), own).alias("h3_cell"),
        F.coalesce(F.col("_units"), F.lit(UNITS_PER_PERSON).cast("long")).alias("units"))


def instants_cut(spark: SparkSession, instants: DataFrame, plan: ReleasePlan, cells: list[str]) -> DataFrame:
    """Instants at the contract's cut (the area is applied by the domain)."""
    del cells  # the engine restricts the rows to the area's cells and the window before bounding
    units, serving = footprint_units_of(plan, plan.h3_resolution)
    return spread_instants(spark, instants, units, serving, plan.h3_resolution, plan.bin_minutes)


def _sum_units(bounded: DataFrame, keys: list[str]) -> DataFrame:
    from pyspark.sql import functions as F

    return bounded.groupBy(*keys).agg(F.sum("units").cast("long").alias("value"))


MEASURE = Measure(
    name="present_population",
    description=(f"expected people in the cell at the bin's start, in 1/{UNITS_PER_PERSON} of a person "
                 "(each person spread over the footprint of the cell serving them nearest that instant)"),
    reads="silver/instants",
    reads_sources=lambda feed: feed.instants is not None,
    to_cut=instants_cut,
    bounder=InstantsPerDay,
    aggregate=_sum_units,
    segments=("segment", "country"),
    additive=False,
    value_unit="hundredths of a person",
    units_per_person=UNITS_PER_PERSON,
    placement=("at each bin's start, each person spread over the footprint of the cell serving their record "
               "nearest that instant (cde footprints), in whole hundredths of a person; a record placed by its "
               "own coordinates keeps the person in its cell"),
)
