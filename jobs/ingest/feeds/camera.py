"""Camera feed: people counts per camera and interval (CSV) -> ``bronze/camera_events``.

Supplier format (UTF-8 CSV with header, ``lake/landing/camera/<YYYY-MM-DD>/*.csv``):

| field | format |
|---|---|
| ``camera_id`` | string, a ``camera_id`` of ``reference/cameras.csv`` |
| ``interval_start`` | ISO-8601 with ``Z`` or an offset |
| ``interval_minutes`` | integer, 1 to 1440 |
| ``count_in``, ``count_out`` | non-negative integers |
| ``class`` | optional: ``pedestrian``, ``cyclist``, ``vehicle`` or ``other`` |

Cameras carry no identity (they already count), so releases from them get event-level differential
privacy (one passage changes one count by one) with their own cap in the ledger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.ingest.spec import FeedSpec, Reference, first_error, timestamp_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

CLASSES = ("pedestrian", "cyclist", "vehicle", "other")
_COUNT = r"^[0-9]{1,9}$"


def _cameras():
    from jobs.ingest.reference import load_points  # loads numpy, pandas, pyarrow, shapely: only when called

    return load_points("cameras.csv", "camera_id", ("direction",))


def type_check(records: DataFrame) -> DataFrame:
    """Add ``event_ts_utc``, typed columns and ``type_error`` to camera records."""
    from pyspark.sql import functions as F

    ts = timestamp_column(F.col("interval_start"))
    minutes = F.when(F.col("interval_minutes").rlike(r"^[0-9]{1,4}$"), F.col("interval_minutes").try_cast("int"))
    klass = F.lower(F.col("class"))
    error = first_error([
        (F.coalesce(F.col("camera_id"), F.lit("")) == "", "camera_id: empty"),
        (ts.isNull(), "interval_start: not ISO-8601 with Z or an offset"),
        (minutes.isNull() | (minutes < 1) | (minutes > 1440), "interval_minutes: not an integer from 1 to 1440"),
        (~F.col("count_in").rlike(_COUNT), "count_in: not a non-negative integer"),
        (~F.col("count_out").rlike(_COUNT), "count_out: not a non-negative integer"),
        (F.col("class").isNotNull() & (F.col("class") != "") & ~klass.isin(*CLASSES),
         "class: not one of " + " | ".join(CLASSES)),
    ])
    return records.select("*", ts.alias("event_ts_utc"), minutes.alias("minutes_int"),
                          F.when(klass != "", klass).alias("class_clean"), error.alias("type_error"))


def bronze_columns() -> list:
    """The camera columns of bronze (besides the common ones)."""
    from pyspark.sql import functions as F

    return [F.col("camera_id"), F.col("minutes_int").alias("interval_minutes"),
            F.col("count_in").try_cast("long").alias("count_in"),
            F.col("count_out").try_cast("long").alias("count_out"),
            F.col("class_clean").alias("object_class")]


SPEC = FeedSpec(
    name="camera",
    placement=("each count at its camera's position, in one resolution-10 H3 cell"),
    fields=("camera_id", "interval_start", "interval_minutes", "count_in", "count_out"),
    optional_fields=("class",),
    file_format="csv",
    identifier=None,
    type_check=type_check,
    references=(Reference("camera_id", _cameras),),
    bronze_columns=bronze_columns,
    unit="event",
    data_subjects="none: cameras deliver counts without identity",
    personal_data="counts in and out per camera and interval",
)
