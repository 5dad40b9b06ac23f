"""``silver.presence`` rows: one per pseudonymous person, source, local day, 15-minute bin and finest H3 cell.

Each feed spec owns its presence builder (``FeedSpec.presence``), made from the pieces here:

- point events (telco): every event marks its bin and cell (``presence_from_events``);
- wifi: a sighting marks every bin from ``first_seen`` to ``last_seen`` (``jobs/ingest/feeds/wifi.py``);
- ticket: the check-in marks the check-in stop's cell and bin, the check-out the check-out stop's
  (``jobs/ingest/feeds/ticket.py``).

The aggregation layer (``jobs/aggregate/silver.py``) calls the builders and keeps person-level rows; the
privacy release step bounds them, then counts (docs/architecture.md). Nothing here is published.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobs.common.timebins import bin_start_column

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

PRESENCE_BIN_MINUTES = 15
PRESENCE_KEYS = ("pseudo_id", "source", "event_date", "bin_start", "h3_cell", "home_mcc", "key_period")


def presence_points(events: DataFrame, source: str, ts: str, cell: str, bin_minutes: int) -> DataFrame:
    """One presence row per located record: its person, source, day, the bin of ``ts`` and the cell ``cell``."""
    from pyspark.sql import functions as F

    home_mcc = F.col("home_mcc") if "home_mcc" in events.columns else F.lit(None).cast("string")
    return events.filter(F.col(cell).isNotNull() & F.col(ts).isNotNull()).select(
        "pseudo_id", F.lit(source).alias("source"), "event_date",
        bin_start_column(F.col(ts), bin_minutes).alias("bin_start"), F.col(cell).alias("h3_cell"),
        home_mcc.alias("home_mcc"), "key_period")


def count_presence(rows: DataFrame) -> DataFrame:
    """Presence rows counted per person, bin and cell (``events``)."""
    from pyspark.sql import functions as F

    return rows.groupBy(*PRESENCE_KEYS).agg(F.count(F.lit(1)).alias("events"))


def presence_from_events(events: DataFrame, source: str, bin_minutes: int = PRESENCE_BIN_MINUTES) -> DataFrame:
    """Presence of point events (telco): one row per person, bin and cell with the number of events.

    Parameters
    ----------
    events : DataFrame
        Bronze events with ``pseudo_id``, ``key_period``, ``event_ts``, ``event_date``, ``h3_cell`` and
        optionally ``home_mcc``.
    source : str
        Feed name recorded in the ``source`` column.
    bin_minutes : int
        Width of the time bins (15 by default: the finest cut any contract may use).

    Returns
    -------
    DataFrame
        ``pseudo_id, source, event_date, bin_start, h3_cell, home_mcc, key_period, events``.
    """
    return count_presence(presence_points(events, source, "event_ts", "h3_cell", bin_minutes))
