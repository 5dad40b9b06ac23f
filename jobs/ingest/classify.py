"""The classification rules of ingest: every record gets the first quarantine reason that applies, or none.

Reasons in the order of docs/architecture.md, fixed interfaces; the first that applies wins. Shared by every feed; what
a feed adds (type checks, references, a policy reason) comes from its ``FeedSpec``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd

from jobs.common import settings
from jobs.common.timebins import local_date_column
from jobs.ingest.pseudonym import key_period, pseudonym_struct
from jobs.ingest.spec import FeedSpec

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

# Reasons in the order they are tested (docs/architecture.md, fixed interfaces); the first that applies wins.
REASONS = ("unparseable", "opted_out", "bad_type", "out_of_window", "unknown_reference", "out_of_region",
           "randomised_mac", "duplicate")
# Only these count towards the quarantined-share limit (opt-outs, policy exclusions and duplicates are
# not bad data).
INVALID_REASONS = ("unparseable", "bad_type", "out_of_window", "unknown_reference", "out_of_region")
# Free-text details longer than this are cut (they never hold supplier text, but stay bounded).
DETAIL_CHARS = 200


def _locate(spark: SparkSession, typed: DataFrame, spec: FeedSpec,
            date: dt.date) -> tuple[DataFrame, Column, Column, Column]:
    """Join every reference; return the frame and the unknown / out-of-region conditions and the unknown detail."""
    from pyspark.sql import functions as F

    unknown, outside = F.lit(False), F.lit(False)
    detail = F.lit(None).cast("string")
    for ref in spec.references:
        s = ref.suffix
        frame = ref.load(date) if ref.dated else ref.load()
        if "problem" not in frame.columns:
            frame = frame.assign(problem=None)
        table = spark.createDataFrame(frame[["ref_id", "h3_cell", "in_region", "problem"]],
                                      "ref_id string, h3_cell long, in_region boolean, problem string").select(
            F.col("ref_id").alias(f"_ref{s}"), F.col("h3_cell").alias(f"h3_cell{s}"),
            F.col("in_region").alias(f"_in_region{s}"), F.col("problem").alias(f"_problem{s}"))
        typed = typed.join(F.broadcast(table), typed[ref.column] == F.col(f"_ref{s}"), "left")
        present = F.coalesce(F.col(ref.column), F.lit("")) != ""
        missing = F.col(f"_ref{s}").isNull() & (present if ref.optional else F.lit(True))
        problem = F.col(f"_ref{s}").isNotNull() & F.col(f"_problem{s}").isNotNull()
        unknown = unknown | missing | problem
        detail = F.coalesce(detail, F.when(problem, F.col(f"_problem{s}")),
                            F.when(missing, F.lit("id not in the reference data")))
        outside = outside | (F.col(f"_ref{s}").isNotNull() & ~problem & ~F.col(f"_in_region{s}"))
        if ref.point:  # a record without an id placed by its own coordinates
            lat, lon = (F.col(c) for c in ref.point)
            by_point = ~present & lat.isNotNull() & lon.isNotNull()
            typed = typed.withColumn(f"h3_cell{s}", F.when(by_point, point_cell(lat, lon))
                                     .otherwise(F.col(f"h3_cell{s}")))
            outside = outside | (by_point & ~point_in_region(lat, lon))
    return typed, unknown, outside, detail


def point_cell(lat: Column, lon: Column) -> Column:
    """Spark expression: the finest-resolution H3 cell (``long``) of a latitude and longitude."""
    from pyspark.sql.functions import pandas_udf

    resolution = settings.FINEST_H3_RESOLUTION

    @pandas_udf("long")
    def cells(lats: pd.Series, lons: pd.Series) -> pd.Series:
        import h3  # on the executors

        # Most records have a cell and no coordinates: only the rows with both are placed here.
        out = pd.Series(pd.NA, index=lats.index, dtype="Int64")
        given = lats.notna() & lons.notna()
        out[given] = [h3.str_to_int(h3.latlng_to_cell(a, b, resolution))
                      for a, b in zip(lats[given], lons[given], strict=True)]
        return out

    return cells(lat, lon)


def point_in_region(lat: Column, lon: Column) -> Column:
    """Spark expression: the point lies in the region's bounding box (as reference places are judged)."""
    min_lon, min_lat, max_lon, max_lat = settings.REGION_BBOX
    return lon.between(min_lon, max_lon) & lat.between(min_lat, max_lat)


def classify(spark: SparkSession, spec: FeedSpec, records: DataFrame, date: dt.date,
             opted_out: frozenset[bytes] = frozenset()) -> DataFrame:
    """Type-check, pseudonymise, locate and give each record its quarantine reason (or null).

    Parameters
    ----------
    spark : SparkSession
        The process's session.
    spec : FeedSpec
        The feed.
    records : DataFrame
        Raw records from ``read_records``.
    date : datetime.date
        The local date of the landing folder: the run window.
    opted_out : frozenset of bytes
        Identifier tokens of people who opted out.

    Returns
    -------
    DataFrame
        One row per record with ``reason``, ``detail``, ``pseudo_id``, ``key_period``, ``event_ts``,
        ``event_date``, the H3 columns and the feed's typed columns; raw identifiers are gone.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    typed = spec.type_check(records)
    period = key_period(date)
    if spec.identifier:
        ident = pseudonym_struct(F.col("identifier_value"), spec.name, period, opted_out)
        typed = typed.withColumn("_ident", ident)
        pseudo, opted = F.col("_ident.pseudo_id"), F.col("_ident.opted_out")
    else:
        pseudo, opted = F.lit(None).cast("long"), F.lit(False)
    located, unknown, outside, unknown_detail = _locate(spark, typed, spec, date)
    abroad = spec.abroad() if spec.abroad else F.lit(False)
    local_date = local_date_column(F.col("event_ts_utc"))
    policy = spec.policy_reason() if spec.policy_reason else F.lit(None).cast("string")
    rules = [
        (F.col("parse_error").isNotNull(), "unparseable", F.col("parse_error")),
        (opted, "opted_out", F.lit("identifier on the opt-out list")),
        (F.col("type_error").isNotNull(), "bad_type", F.col("type_error")),
        (local_date != F.lit(date), "out_of_window",
         F.concat(F.lit("local date "), local_date.cast("string"), F.lit(f" is not {date.isoformat()}"))),
        (unknown, "unknown_reference", unknown_detail),
        (abroad, "out_of_region", F.lit("outbound roaming record: the subscriber is abroad")),
        (outside, "out_of_region", F.lit("location outside the region")),
        (policy.isNotNull(), "randomised_mac", F.lit("probe from a randomised MAC: not a person")),
    ]
    reason, detail = F.lit(None).cast("string"), F.lit(None).cast("string")
    for condition, name, text in reversed(rules):
        reason = F.when(F.coalesce(condition, F.lit(False)), F.lit(name)).otherwise(reason)
        detail = F.when(F.coalesce(condition, F.lit(False)), text).otherwise(detail)
    classified = located.select("*", reason.alias("_reason"), F.substring(detail, 1, DETAIL_CHARS).alias("_detail"),
                                pseudo.alias("pseudo_id"))
    # Duplicates: the same record as one accepted before it (by file and line), compared as normalised values
    # (pseudonym, UTC instant, the feed's typed and trimmed columns), so 09:13:33+01:00 is 08:13:33Z. Only
    # accepted records can be duplicates (a quarantined line keeps its reason); equal values give equal
    # earlier reasons, so ranking within all rows is enough.
    normal = [F.col("pseudo_id"), F.col("event_ts_utc"), *spec.bronze_columns()]
    first = Window.partitionBy(F.xxhash64(*normal), *normal).orderBy("source_file", "line_number")
    is_dup = F.col("_reason").isNull() & (F.row_number().over(first) > 1)
    ranked = classified.withColumn("_dup", is_dup)
    h3_columns = [f"h3_cell{r.suffix}" for r in spec.references]
    return ranked.select(
        F.when(F.col("_dup"), F.lit("duplicate")).otherwise(F.col("_reason")).alias("reason"),
        F.when(F.col("_dup"), F.lit("same record as an earlier line")).otherwise(F.col("_detail")).alias("detail"),
        "pseudo_id",
        F.lit(period).cast("int").alias("key_period"),
        F.col("event_ts_utc").alias("event_ts"),
        F.lit(date).cast("date").alias("event_date"),
        *h3_columns,
        *spec.bronze_columns(),
        "source_file", "line_number", "raw_length", "raw_hash",
    )
