"""Telco feed: network events (CSV) -> ``bronze/telco_events``.

Supplier format (UTF-8 CSV with header, ``lake/landing/telco/<YYYY-MM-DD>/*.csv``):

| field | format |
|---|---|
| ``imsi`` | 15 digits (never stored: pseudonymised at the door) |
| ``event_ts`` | ISO-8601 with ``Z`` or an offset (``+01:00`` or ``+0100``) |
| ``cell_id`` | string, a ``cell_id`` of ``reference/towers.csv`` |
| ``event_type`` | ``call`` / ``sms`` / ``data`` / ``handover`` / ``attach`` |
| ``home_mcc`` | 3 digits; 238 is Denmark |
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.ingest.reference import load_towers
from jobs.ingest.runner import FeedSpec, timestamp_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

EVENT_TYPES = ("call", "sms", "data", "handover", "attach")


def type_check(records: DataFrame) -> DataFrame:
    """Add typed columns and ``type_error`` (the first field that fails, or null) to telco records.

    Parameters
    ----------
    records : DataFrame
        Raw records (string fields ``imsi, event_ts, cell_id, event_type, home_mcc``).

    Returns
    -------
    DataFrame
        The records plus ``event_ts_utc`` (timestamp), ``event_type_clean``, ``home_mcc_clean`` and
        ``type_error``.
    """
    from pyspark.sql import functions as F

    ts = timestamp_column(F.col("event_ts"))
    etype = F.lower(F.col("event_type"))
    checks = [
        (~F.col("imsi").rlike(r"^[0-9]{15}$"), "imsi: not 15 digits"),
        (ts.isNull(), "event_ts: not ISO-8601 with Z or an offset"),
        (F.coalesce(F.col("cell_id"), F.lit("")) == "", "cell_id: empty"),
        (~etype.isin(*EVENT_TYPES), "event_type: not one of " + " | ".join(EVENT_TYPES)),
        (~F.col("home_mcc").rlike(r"^[0-9]{3}$"), "home_mcc: not 3 digits"),
    ]
    error = F.lit(None).cast("string")
    for failed, message in reversed(checks):
        error = F.when(F.coalesce(failed, F.lit(True)), F.lit(message)).otherwise(error)
    return records.select(
        "*",
        ts.alias("event_ts_utc"),
        etype.alias("event_type_clean"),
        F.col("home_mcc").alias("home_mcc_clean"),
        error.alias("type_error"),
    )


def bronze_columns() -> list:
    """The typed columns telco bronze keeps (besides the common ones the runner adds)."""
    from pyspark.sql import functions as F

    return [
        F.col("cell_id"),
        F.col("event_type_clean").alias("event_type"),
        F.col("home_mcc_clean").alias("home_mcc"),
    ]


SPEC = FeedSpec(
    name="telco",
    fields=("imsi", "event_ts", "cell_id", "event_type", "home_mcc"),
    identifier="imsi",
    reference_key="cell_id",
    load_reference=load_towers,
    type_check=type_check,
    bronze_columns=bronze_columns,
)
