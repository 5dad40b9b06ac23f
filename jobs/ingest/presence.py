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

from jobs.common.timebins import bin_start_column, local_date_column

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


INSTANT_MINUTES = 15
# How far from an instant a record may be and still say where its person was. MultiMNO's present population
# uses one hour (``tolerance_period_s = 3600``); measured on the simulated signal network
# (bench/present_population.py, 100,000 people), one hour leaves about a fifth of the people present out of
# every instant (78.5% of the true total over the inner city) while six hours counts 96.1% of it and places them
# better (median error 11% at resolution 9, 13% at 8, against 18% and 17%): between records people mostly stay.
INSTANT_TOLERANCE_MINUTES = 360


def instants_from_events(events: DataFrame, source: str,
                         tolerance_minutes: int = INSTANT_TOLERANCE_MINUTES) -> DataFrame:
    """Where each person was at each quarter-hour instant: the serving cell of their record nearest in time.

    A person is present at an instant when one of their records lies within ``tolerance_minutes`` of it;
    the record nearest in time decides the cell (a tie goes to the earlier record), as the ESS present
    population does. Instants are kept only on the records' own local day, so a day's
    partition holds that day's instants alone.

    Parameters
    ----------
    events : DataFrame
        Bronze events with ``pseudo_id``, ``key_period``, ``event_ts``, ``event_date``, ``h3_cell`` and
        ``cell_id`` (null for records placed by their coordinates); optionally ``home_mcc``.
    source : str
        Feed name recorded in the ``source`` column.
    tolerance_minutes : int
        Largest distance in time between an instant and the record placing it.

    Returns
    -------
    DataFrame
        ``pseudo_id, source, event_date, instant, cell_id, h3_cell, home_mcc, key_period, gap_seconds``:
        one row per person and instant they were seen near.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    step, tolerance = INSTANT_MINUTES * 60, tolerance_minutes * 60
    home_mcc = F.col("home_mcc") if "home_mcc" in events.columns else F.lit(None).cast("string")
    located = events.filter(F.col("event_ts").isNotNull() & F.col("h3_cell").isNotNull()).select(
        "pseudo_id", "event_date", "key_period", "event_ts", "cell_id", "h3_cell", home_mcc.alias("home_mcc"),
        F.unix_timestamp("event_ts").alias("_s"))
    # Each record places the instants nearer to it than to its neighbours in time (its Voronoi interval,
    # a tie going to the earlier record), within the tolerance: every instant is placed once, with no
    # candidate rows to rank, however far apart a person's records are.
    order = Window.partitionBy("pseudo_id", "event_date").orderBy("event_ts", "cell_id", "h3_cell")
    after_previous = (F.lag("_s").over(order) + F.col("_s")) / 2
    up_to_next = (F.col("_s") + F.lead("_s").over(order)) / 2
    first = F.greatest(F.floor(after_previous / step) + 1, F.ceil((F.col("_s") - tolerance) / step))
    last = F.least(F.floor(up_to_next / step), F.floor((F.col("_s") + tolerance) / step))
    bounds = located.select("*", F.coalesce(first, F.ceil((F.col("_s") - tolerance) / step)).alias("_first"),
                            F.coalesce(last, F.floor((F.col("_s") + tolerance) / step)).alias("_last"))
    placed = bounds.filter(F.col("_first") <= F.col("_last")).select(
        "*", F.explode(F.sequence("_first", "_last")).alias("_step"))
    placed = (placed.withColumn("instant", F.timestamp_seconds(F.col("_step") * step))
              .filter(local_date_column(F.col("instant")) == F.col("event_date")))
    return placed.select(
        "pseudo_id", F.lit(source).alias("source"), "event_date", "instant", "cell_id", "h3_cell", "home_mcc",
        "key_period", F.abs(F.col("_s") - F.col("_step") * step).cast("int").alias("gap_seconds"))
