"""Metric functions over a contract cut. Pure DataFrame functions on person-level rows that the privacy
release step has already bounded: they never see noise and never publish by themselves."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.common.h3cells import parent_column
from jobs.common.timebins import bin_start_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

PERSON = ("pseudo_id", "source")


def to_cut(presence: DataFrame, h3_resolution: int, bin_minutes: int) -> DataFrame:
    """Map presence rows to a contract cut: H3 parent at ``h3_resolution`` and bins of ``bin_minutes``.

    Parameters
    ----------
    presence : DataFrame
        ``silver.presence`` rows (finest cell and 15-minute bins).
    h3_resolution : int
        Contract resolution, at or coarser than the stored one.
    bin_minutes : int
        15, 60 or 1440.

    Returns
    -------
    DataFrame
        The same rows with ``h3_cell`` and ``bin_start`` replaced by the cut's cell and bin.
    """
    from pyspark.sql import functions as F

    return presence.withColumn("h3_cell", parent_column(F.col("h3_cell"), h3_resolution)).withColumn(
        "bin_start", bin_start_column(F.col("bin_start"), bin_minutes))


def unique_people(bounded: DataFrame, keys: tuple[str, ...] = ("h3_cell", "bin_start")) -> DataFrame:
    """Count distinct people per key (cell, bin, and any segment columns).

    Parameters
    ----------
    bounded : DataFrame
        Person-level rows after contribution bounding (at most one row per person and key).
    keys : tuple of str
        Grouping columns.

    Returns
    -------
    DataFrame
        ``keys`` plus ``value`` (long), the true count (for the noise step only).
    """
    from pyspark.sql import functions as F

    return bounded.groupBy(*keys).agg(F.countDistinct(*PERSON).alias("value"))
