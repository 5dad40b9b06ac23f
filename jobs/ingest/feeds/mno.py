"""ESS operator feed: mobile network events in the ESS / Eurostat MNO event schema -> ``bronze/mno_events``.

The format Eurostat's MultiMNO pipeline reads (github.com/eurostat/multimno, its bronze event and network data
objects; the ESS methodological framework for MNO data). Supplier files: Parquet or UTF-8 CSV with a header
(by suffix, ``.parquet`` / ``.csv``) under ``lake/landing/mno/<YYYY-MM-DD>/``; the day's network topology in
the ESS cell schema under ``lake/landing/reference/mno_network/<YYYY-MM-DD>/`` (``jobs.ingest.network``).

| field | format |
|---|---|
| ``user_id`` | the device's id in any encoding (Parquet binary, or text); never stored |
| ``timestamp`` | ISO-8601, with an offset or without one (then in the feed's stated zone) |
| ``mcc`` | home network country code, 3 digits (100-999) |
| ``mnc`` | home network code, 2 or 3 digits as text |
| ``plmn`` | optional: 5 or 6 digits, only on outbound roaming records |
| ``cell_id`` | optional: a ``cell_id`` of the day's topology, valid on that day |
| ``latitude``, ``longitude`` | optional: WGS84 degrees placing a record without a cell |
| ``loc_error`` | optional: metres, non-negative |

``user_id`` is pseudonymised at the door: a binary id is read as its lower-case hex, and ids are compared
without case (a CSV supplier may write the same bytes in either case). A timestamp without an offset is wall
time in the zone the supplier's feed settings state (``timestamps_without_offset`` in the supplier registry),
UTC by default as the ESS model has it. ``mcc`` and ``mnc`` name the device's home network on domestic and
inbound roaming records; ``plmn`` is set instead on outbound roaming records (the operator's subscribers
abroad), which lie outside the region and are quarantined as such.
A record has a network domain (``plmn``, or ``mcc`` and ``mnc``) and, unless it is outbound, a place (a cell,
or coordinates). Columns the schema does not name (such as ``is_modified``) are ignored and listed in the run
record. The run record and the Data Docs carry the ESS quality warnings: network (``jobs.ingest.network``)
and events (``jobs.ingest.event_quality``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.ingest.presence import instants_from_events, presence_from_events
from jobs.ingest.spec import FeedSpec, IdentifierRule, Reference, first_error, naive_timestamp_column

if TYPE_CHECKING:
    import datetime as dt

    from pyspark.sql import Column, DataFrame, SparkSession

NAME = "mno"
# Hex of a binary id is lower-case; a CSV supplier may write the same bytes in either case.
USER_ID_RULE = IdentifierRule(lower=True)


def _network(date: dt.date):
    from jobs.ingest.network import load_network  # loads pandas, pyarrow, h3, shapely: only when called

    return load_network(date)


def _naive_zone() -> str:
    from jobs.contracts.suppliers import load_registry  # reads the registry file: only when a run starts

    return load_registry().naive_time_zone(NAME)


def _text(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.trim(F.col(name))


def _given(column: Column) -> Column:
    from pyspark.sql import functions as F

    return F.coalesce(column, F.lit("")) != ""


def _number(name: str) -> Column:
    """A numeric text as double (null when empty or not a number)."""
    from pyspark.sql import functions as F

    return F.when(_text(name).rlike(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"),
                  _text(name).try_cast("double"))


def type_check(records: DataFrame) -> DataFrame:
    """Add ``event_ts_utc``, ``identifier_value``, typed columns and ``type_error`` to ESS event records."""
    from pyspark.sql import functions as F

    ts = naive_timestamp_column(_text("timestamp"), _naive_zone())
    outbound = _given(_text("plmn"))
    mcc = F.regexp_replace(_text("mcc"), r"\.0+$", "")  # an integer column exported through floats
    lat, lon, loc_error = _number("latitude"), _number("longitude"), _number("loc_error")
    has_point = lat.between(-90, 90) & lon.between(-180, 180)
    error = first_error([
        (~_given(_text("user_id")), "user_id: empty"),
        (ts.isNull(), "timestamp: not ISO-8601 (with an offset, or without one in the feed's stated zone)"),
        (~outbound & ~(_given(mcc) & _given(_text("mnc"))), "mcc, mnc, plmn: no network domain (plmn, or mcc "
                                                             "and mnc)"),
        (outbound & ~_text("plmn").rlike(r"^[0-9]{5,6}$"), "plmn: not 5 or 6 digits"),
        (~outbound & ~mcc.rlike(r"^[1-9][0-9]{2}$"), "mcc: not 3 digits (100-999)"),
        (~outbound & ~_text("mnc").rlike(r"^[0-9]{2,3}$"), "mnc: not 2 or 3 digits"),
        (_given(_text("latitude")) & ~F.coalesce(lat.between(-90, 90), F.lit(False)),
         "latitude: not a number in [-90, 90]"),
        (_given(_text("longitude")) & ~F.coalesce(lon.between(-180, 180), F.lit(False)),
         "longitude: not a number in [-180, 180]"),
        (_given(_text("loc_error")) & ~F.coalesce(loc_error >= 0, F.lit(False)),
         "loc_error: not a non-negative number"),
        (~outbound & ~_given(_text("cell_id")) & ~F.coalesce(has_point, F.lit(False)),
         "cell_id, latitude, longitude: no location (a cell, or both coordinates)"),
    ])
    home = F.when(outbound, F.substring(_text("plmn"), 1, 3)).otherwise(mcc)
    # the cell id trimmed, empty as null: the reference join and bronze read it
    records = records.withColumn("cell_id", F.when(_given(_text("cell_id")), _text("cell_id")))
    return records.select(
        "*", ts.alias("event_ts_utc"), USER_ID_RULE.spark(_text("user_id")).alias("identifier_value"),
        home.alias("home_mcc_clean"), F.when(~outbound, _text("mnc")).alias("mnc_clean"),
        F.when(outbound, _text("plmn")).alias("plmn_clean"),
        lat.alias("latitude_value"), lon.alias("longitude_value"), loc_error.alias("loc_error_value"),
        error.alias("type_error"))


def bronze_columns() -> list:
    """The ESS columns of bronze (besides the common ones); ``home_mcc`` is the device's home country code."""
    from pyspark.sql import functions as F

    return [F.col("cell_id"), F.col("home_mcc_clean").alias("home_mcc"),
            F.col("mnc_clean").alias("mnc"), F.col("plmn_clean").alias("plmn"),
            F.col("loc_error_value").alias("loc_error")]


def abroad() -> Column:
    """Outbound roaming records: the operator's subscribers abroad, outside the region by definition."""
    return _given(_text("plmn"))


def quality(spark: SparkSession, classified: DataFrame, date: dt.date) -> dict:
    """The ESS network and event quality warnings of a run (``jobs.ingest.event_quality``)."""
    from jobs.ingest.event_quality import run_warnings  # reads bronze history: only when a run is staged

    return run_warnings(spark, classified, date, _network(date))


SPEC = FeedSpec(
    name=NAME,
    placement=("each event at the centroid of its cell's coverage wedge (the site for an omnidirectional "
               "cell), or at the record's own coordinates, in one resolution-10 H3 cell"),
    fields=("user_id", "timestamp", "mcc", "mnc"),
    optional_fields=("plmn", "cell_id", "latitude", "longitude", "loc_error"),
    file_format="suffix",
    identifier="user_id",
    identifier_rule=USER_ID_RULE,
    type_check=type_check,
    references=(Reference("cell_id", _network, optional=True, dated=True,
                          point=("latitude_value", "longitude_value")),),
    bronze_columns=bronze_columns,
    abroad=abroad,
    presence=presence_from_events,
    instants=instants_from_events,
    trips_from="stays",
    anchors=True,
    quality=quality,
    data_subjects="mobile network subscribers and roaming visitors of an operator sending the ESS event format",
    personal_data="pseudonymised device id, event time, serving cell (or coordinates) placed in H3, home network "
                  "(MCC, MNC)",
)
