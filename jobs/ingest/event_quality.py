"""ESS quality warnings of an operator's run: the network topology's and the events' (``mno`` feed).

Event quality warnings follow the ESS methodology's idea of comparing a day's event counts with their usual
level: for each cell and local hour, the day's accepted events are compared with the mean of the same cell and
hour over the ``LOOKBACK_DAYS`` days before it that have data (a missing cell-hour on such a day counts 0). A
cell-hour is above (below) its usual level when its count exceeds the mean by more than ``SIGMAS`` times the
larger of the day-to-day standard deviation and the square root of the mean (the spread of a Poisson count);
cell-hours with fewer than ``MIN_EVENTS`` events both that day and usually are not judged (a few people's
bursts swing small counts far). Fewer than ``MIN_DAYS`` earlier days: no comparison, and the record says
so. Warnings never refuse a run: they tell the operator where the network or the export changed.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobs.common import lake, settings, tables

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

LOOKBACK_DAYS = 7
MIN_DAYS = 3
SIGMAS = 3.0
# Cell-hours with fewer events than this, today and usually, are not judged: a few people's bursts of events
# make small counts swing far beyond a Poisson spread.
MIN_EVENTS = 20
EXAMPLES = 5


def network_warnings(network: pd.DataFrame) -> dict[str, Any]:
    """The topology's side of the run record: the snapshot read, cells valid that day, and its warnings."""
    attrs = network.attrs
    return {"snapshot": attrs.get("snapshot"), "fallback": attrs.get("fallback"),
            "cells_valid": int(attrs.get("cells_valid", len(network))),
            "cells_not_valid_that_day": int(attrs.get("cells_other_days", 0)),
            "warnings": [{"warning": text, "cells": n} for text, n in (attrs.get("warnings") or {}).items()]}


def _cell_hours(events: DataFrame, date_column: str | None) -> pd.DataFrame:
    from pyspark.sql import functions as F

    hour = F.hour(F.from_utc_timestamp(F.col("event_ts"), settings.LOCAL_TZ_NAME)).alias("hour")
    keys = [F.col(date_column).cast("string").alias("day")] if date_column else []
    frame = (events.filter(F.col("cell_id").isNotNull()).groupBy(*keys, "cell_id", hour)
             .agg(F.count(F.lit(1)).alias("events")).toPandas())
    return frame.astype({"cell_id": str, "hour": "int64", "events": "int64"})


def compare_with_usual(today: pd.DataFrame, history: pd.DataFrame) -> dict[str, Any]:
    """Cell-hours of a day far from their usual level (see the module docstring).

    Parameters
    ----------
    today : pandas.DataFrame
        ``cell_id, hour, events`` of the day.
    history : pandas.DataFrame
        ``day, cell_id, hour, events`` of the earlier days.

    Returns
    -------
    dict
        ``lookback_days``, ``cell_hours``, ``above_usual``, ``below_usual`` and up to ``EXAMPLES`` examples
        (cell, local hour, events, usual mean), or a ``note`` when there is too little history.
    """
    days = sorted(history["day"].unique()) if len(history) else []
    if len(days) < MIN_DAYS:
        return {"lookback_days": len(days), "note": f"no comparison: {len(days)} earlier day(s) with events in "
                                                    f"the {LOOKBACK_DAYS} before (needs {MIN_DAYS})"}
    wide = history.pivot_table(index=["cell_id", "hour"], columns="day", values="events", aggfunc="sum",
                               fill_value=0).reindex(columns=days, fill_value=0)
    usual = pd.DataFrame({"mean": wide.mean(axis=1), "sd": wide.std(axis=1, ddof=0)})
    merged = usual.join(today.set_index(["cell_id", "hour"])["events"], how="outer").fillna(0.0).reset_index()
    mean, events = merged["mean"].to_numpy(), merged["events"].to_numpy()
    tolerance = SIGMAS * np.maximum(np.maximum(merged["sd"].to_numpy(), np.sqrt(mean)), 1.0)
    judged = (events >= MIN_EVENTS) | (mean >= MIN_EVENTS)
    above = judged & (events > mean + tolerance)
    below = judged & (events < mean - tolerance)
    far = merged[above | below].assign(gap=(np.abs(events - mean) / tolerance)[above | below])
    examples = [{"cell_id": str(row.cell_id), "local_hour": int(row.hour), "events": int(row.events),
                 "usual": round(float(row.mean), 1)}
                for row in far.sort_values("gap", ascending=False).head(EXAMPLES).itertuples(index=False)]
    return {"lookback_days": len(days), "cell_hours": int(judged.sum()), "above_usual": int(above.sum()),
            "below_usual": int(below.sum()), "examples": examples}


def event_warnings(spark: SparkSession, classified: DataFrame, date: dt.date, feed: str = "mno") -> dict[str, Any]:
    """The day's accepted events per cell and hour against their usual level in the feed's bronze history."""
    from pyspark.sql import functions as F

    today = _cell_hours(classified.filter(F.col("reason").isNull()), None)
    bronze = tables.bronze(feed)
    history = pd.DataFrame(columns=["day", "cell_id", "hour", "events"])
    if bronze.exists():
        days = [(date - dt.timedelta(days=d)).isoformat() for d in range(1, LOOKBACK_DAYS + 1)]
        history = _cell_hours(lake.read(spark, bronze.path(), partitions={"event_date": days}), "event_date")
    return compare_with_usual(today, history)


def run_warnings(spark: SparkSession, classified: DataFrame, date: dt.date, network: pd.DataFrame) -> dict:
    """The run record's ``warnings``: ``network`` (topology) and ``events`` (counts against their usual level)."""
    return {"network": network_warnings(network), "events": event_warnings(spark, classified, date)}


def summary_lines(warnings: dict) -> list[str]:
    """The run record's quality warnings in words, one line for the network and one for the events."""
    network, events = warnings.get("network") or {}, warnings.get("events") or {}
    lines = []
    if network:
        parts = [f"{network.get('cells_valid', 0)} cells valid that day",
                 f"{network.get('cells_not_valid_that_day', 0)} listed for other days only"]
        parts += [f"{w['warning']} ({w['cells']} cell{'s' if w['cells'] != 1 else ''})"
                  for w in network.get("warnings", [])]
        lines.append("network: " + (network["fallback"] + "; " if network.get("fallback") else "") + "; ".join(parts))
    if events:
        lines.append("events: " + (events["note"] if "note" in events else
                                   f"{events['above_usual']} cell-hours above their usual level, "
                                   f"{events['below_usual']} below (of {events['cell_hours']}, against the "
                                   f"{events['lookback_days']} earlier days)"))
    return lines
