"""Compare pipeline outputs with the simulator's ground truth (``lake/simulation/people.parquet``).

Only the simulator's own evaluation uses this: it re-derives pseudonyms from the simulated IMSIs with the
pipeline's key, which nothing in the pipeline ever does.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from jobs.common import lake, settings, tables
from jobs.ingest.pseudonym import identifier_token, key_period, period_key, pseudonym_of_token, token_key


def truth_people() -> pd.DataFrame:
    """The simulated population with its true kind (resident, commuter, visitor, tourist) and country."""
    return pd.read_parquet(settings.lake_root() / "simulation" / "people.parquet")


def segment_accuracy(date: dt.date) -> dict:
    """Share of person-days of ``date`` whose segment (and, for tourists, country) matches the truth.

    Returns
    -------
    dict
        ``accuracy``, ``person_days`` and a confusion table (truth kind -> predicted segment -> count).
    """
    people = truth_people()
    t_key, p_key = token_key("telco"), period_key("telco", key_period(date))
    people["pseudo_id"] = [pseudonym_of_token(identifier_token(i, t_key), p_key) for i in people["imsi"]]
    anchors = lake.read_arrow(tables.SILVER["anchors"].path(),
                              partitions={"event_date": date.isoformat(), "source": "telco"}).to_pandas()
    joined = anchors.merge(people[["pseudo_id", "kind", "country"]], on="pseudo_id", suffixes=("", "_true"))
    correct = (joined["segment"] == joined["kind"]) & (
        (joined["kind"] != "tourist") | (joined["country"] == joined["country_true"]))
    confusion = joined.groupby(["kind", "segment"]).size().unstack(fill_value=0)
    return {"accuracy": float(correct.mean()) if len(joined) else 0.0, "person_days": int(len(joined)),
            "unmatched": int(len(anchors) - len(joined)), "confusion": confusion}
