"""Ticket feed: transit check-ins and check-outs (CSV) -> ``bronze/ticket_events``.

Supplier format (UTF-8 CSV with header, ``lake/landing/ticket/<YYYY-MM-DD>/*.csv``):

| field | format |
|---|---|
| ``card_id`` | 8 to 20 letters or digits (never stored: pseudonymised at the door) |
| ``check_in_ts`` | ISO-8601 with ``Z`` or an offset |
| ``check_in_stop`` | a ``stop_id`` of ``reference/stops.csv`` |
| ``check_out_ts`` | ISO-8601, not before the check-in; may be empty (no check-out) |
| ``check_out_stop`` | a ``stop_id``; empty exactly when ``check_out_ts`` is empty |
| ``mode`` | ``bus``, ``metro``, ``train``, ``harbour_bus`` or ``bike`` |
| ``product`` | ticket product name (free text, at most 40 characters) |

A trip is placed at its check-in stop (``h3_cell``) and, when there is a check-out, its check-out stop
(``h3_cell_out``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.ingest.presence import PRESENCE_BIN_MINUTES, count_presence, presence_points
from jobs.ingest.spec import FeedSpec, Reference, first_error, timestamp_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

MODES = ("bus", "metro", "train", "harbour_bus", "bike")


def _stops():
    from jobs.ingest.reference import load_points  # loads numpy, pandas, pyarrow, shapely: only when called

    return load_points("stops.csv", "stop_id", ("name", "modes"))


def type_check(records: DataFrame) -> DataFrame:
    """Add ``event_ts_utc``, ``identifier_value``, typed columns and ``type_error`` to ticket records."""
    from pyspark.sql import functions as F

    check_in = timestamp_column(F.col("check_in_ts"))
    out_text = F.coalesce(F.col("check_out_ts"), F.lit(""))
    out_stop = F.coalesce(F.col("check_out_stop"), F.lit(""))
    check_out = timestamp_column(F.col("check_out_ts"))
    mode = F.lower(F.col("mode"))
    error = first_error([
        (~F.col("card_id").rlike(r"^[A-Za-z0-9]{8,20}$"), "card_id: not 8 to 20 letters or digits"),
        (check_in.isNull(), "check_in_ts: not ISO-8601 with Z or an offset"),
        (F.coalesce(F.col("check_in_stop"), F.lit("")) == "", "check_in_stop: empty"),
        ((out_text != "") & check_out.isNull(), "check_out_ts: not ISO-8601 with Z or an offset"),
        ((out_text != "") & (check_out < check_in), "check_out_ts: before check_in_ts"),
        ((out_text == "") != (out_stop == ""), "check_out_stop: given without check_out_ts or the reverse"),
        (~mode.isin(*MODES), "mode: not one of " + " | ".join(MODES)),
        (F.length(F.coalesce(F.col("product"), F.lit(""))) > 40, "product: longer than 40 characters"),
    ])
    return records.select("*", check_in.alias("event_ts_utc"), check_out.alias("check_out_utc"),
                          F.col("card_id").alias("identifier_value"), mode.alias("mode_clean"),
                          error.alias("type_error"))


def bronze_columns() -> list:
    """The ticket columns of bronze (besides the common ones)."""
    from pyspark.sql import functions as F

    return [F.col("check_in_stop"), F.when(F.col("check_out_stop") != "", F.col("check_out_stop"))
            .alias("check_out_stop"), F.col("check_out_utc").alias("check_out_ts"),
            F.col("mode_clean").alias("mode"), F.col("product")]


def presence_from_trips(trips: DataFrame, source: str = "ticket",
                        bin_minutes: int = PRESENCE_BIN_MINUTES) -> DataFrame:
    """Presence of transit trips: the check-in stop at check-in, the check-out stop at check-out.

    A check-out after local midnight stays with the check-in's day (one person-day per trip).
    """
    check_in = presence_points(trips, source, "event_ts", "h3_cell", bin_minutes)
    check_out = presence_points(trips, source, "check_out_ts", "h3_cell_out", bin_minutes)
    return count_presence(check_in.unionByName(check_out))


SPEC = FeedSpec(
    name="ticket",
    placement=("each check-in and check-out at its stop's position, in one resolution-10 H3 cell"),
    fields=("card_id", "check_in_ts", "check_in_stop", "check_out_ts", "check_out_stop", "mode", "product"),
    file_format="csv",
    identifier="card_id",
    type_check=type_check,
    references=(Reference("check_in_stop", _stops), Reference("check_out_stop", _stops, suffix="_out",
                                                              optional=True)),
    bronze_columns=bronze_columns,
    presence=presence_from_trips,
    trips_from="records",
    data_subjects="public transport card holders",
    personal_data="pseudonymised card id, check-in/out times and stops placed in H3, mode, product",
)
