"""Telco feed: network events (CSV) -> ``bronze/telco_events``.

Supplier format (UTF-8 CSV with header, ``lake/landing/telco/<YYYY-MM-DD>/*.csv``):

| field | format |
|---|---|
| ``imsi`` | 15 digits (never stored: pseudonymised at the door) |
| ``event_ts`` | ISO-8601 with ``Z`` or an offset (``+01:00`` or ``+0100``) |
| ``cell_id`` | string, a ``cell_id`` of ``reference/towers.csv`` |
| ``event_type`` | ``call`` / ``sms`` / ``data`` / ``handover`` / ``attach`` |
| ``home_mcc`` | 3 digits; 238 is Denmark |

An event is placed at the centroid of its sector's coverage wedge (``reference.sector_centroid``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.ingest.presence import instants_from_events, presence_from_events
from jobs.ingest.spec import FeedSpec, Reference, first_error, timestamp_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def _towers():
    from jobs.ingest.reference import load_towers  # loads numpy, pandas, pyarrow, shapely: only when called

    return load_towers()


EVENT_TYPES = ("call", "sms", "data", "handover", "attach")


def type_check(records: DataFrame) -> DataFrame:
    """Add ``event_ts_utc``, ``identifier_value``, typed columns and ``type_error`` to telco records."""
    from pyspark.sql import functions as F

    ts = timestamp_column(F.col("event_ts"))
    etype = F.lower(F.col("event_type"))
    error = first_error([
        (~F.col("imsi").rlike(r"^[0-9]{15}$"), "imsi: not 15 digits"),
        (ts.isNull(), "event_ts: not ISO-8601 with Z or an offset"),
        (F.coalesce(F.col("cell_id"), F.lit("")) == "", "cell_id: empty"),
        (~etype.isin(*EVENT_TYPES), "event_type: not one of " + " | ".join(EVENT_TYPES)),
        (~F.col("home_mcc").rlike(r"^[0-9]{3}$"), "home_mcc: not 3 digits"),
    ])
    return records.select("*", ts.alias("event_ts_utc"), F.col("imsi").alias("identifier_value"),
                          etype.alias("event_type_clean"), error.alias("type_error"))


def bronze_columns() -> list:
    """The telco columns of bronze (besides the common ones)."""
    from pyspark.sql import functions as F

    return [F.col("cell_id"), F.col("event_type_clean").alias("event_type"), F.col("home_mcc")]


SPEC = FeedSpec(
    name="telco",
    placement=("each event at the centroid of its serving sector's coverage wedge (from towers.csv), in "
               'one resolution-10 H3 cell'),
    fields=("imsi", "event_ts", "cell_id", "event_type", "home_mcc"),
    file_format="csv",
    identifier="imsi",
    type_check=type_check,
    references=(Reference("cell_id", _towers),),
    bronze_columns=bronze_columns,
    presence=presence_from_events,
    instants=instants_from_events,
    trips_from="stays",
    anchors=True,
    data_subjects="mobile network subscribers and roaming visitors (phones seen by the supplier's network)",
    personal_data="pseudonymised subscriber id, event time, serving cell placed in H3, event type, home network "
                  "(MCC)",
)
