"""Compare pipeline outputs with the simulator's ground truth (``lake/simulation/people.parquet``).

Only the simulator's own evaluation uses this: it re-derives pseudonyms from the simulated IMSIs with the
pipeline's key, which nothing in the pipeline ever does.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from jobs.common import lake, paths, tables
from jobs.common.timebins import local_iso
from jobs.evaluate import exact_values
from jobs.ingest.pseudonym import identifier_token, key_period, period_key, pseudonym_of_token, token_key
from jobs.privacy import OTHER_COUNTRY, domain_cells, plan_for
from jobs.simulate.movement import day_plans
from jobs.simulate.population import to_lat_lon


def truth_people() -> pd.DataFrame:
    """The simulated population with its true kind (resident, commuter, visitor, tourist) and country."""
    import io

    return pd.read_parquet(io.BytesIO((paths.simulation("people.parquet")).read_bytes()))


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


def presence_truth(contract, date: dt.date, step_minutes: int = 5, chunk: int = 20_000) -> pd.DataFrame:
    """Where people really were: distinct simulated people per key of a distinct-people contract's cut.

    Positions come from each person's plan for the day (no jitter), sampled every ``step_minutes``; a
    person counts in a (cell, bin) when a sample falls there. Rebuilt from ``simulation/run.json`` and
    ``people.parquet``; nothing of the pipeline is used.

    Returns
    -------
    pandas.DataFrame
        ``h3_cell`` (hex), ``bin_start`` (local ISO), the contract's segment columns, and ``truth``.
    """
    import json

    import h3
    import numpy as np

    run = json.loads((paths.simulation("run.json")).read_text())
    people = truth_people()
    plans = day_plans(people, date, run["seed"])
    cells = set(domain_cells(contract.area, contract.h3_resolution))
    bin_seconds = contract.bin_minutes * 60
    seconds = np.arange(0, plans.day_seconds, step_minutes * 60, dtype=float)
    country = people["country"].to_numpy()
    if "country" in contract.segments and contract.countries:
        country = np.where(np.isin(country, list(contract.countries)), country, OTHER_COUNTRY)
    # Only points inside the domain cells' bounding box can fall in a domain cell: convert just those.
    corners = np.array([corner for c in cells for corner in h3.cell_to_boundary(c)])
    (lat_lo, lon_lo), (lat_hi, lon_hi) = corners.min(axis=0), corners.max(axis=0)
    # positions() draws jitter from this generator; with jitter_m=0 it adds exactly 0, so nothing random is used.
    unused = np.random.default_rng([run["seed"], date.toordinal(), 9])
    parts = []
    for first in range(0, len(people), chunk):
        person = np.repeat(np.arange(first, min(first + chunk, len(people))), len(seconds))
        when = np.tile(seconds, min(chunk, len(people) - first))
        x, y, _ = plans.positions(person, when, unused, jitter_m=0.0)
        lat, lon = to_lat_lon(x, y)
        near = (lat >= lat_lo) & (lat <= lat_hi) & (lon >= lon_lo) & (lon <= lon_hi)
        person, when = person[near], when[near]
        cell = np.array([h3.latlng_to_cell(a, o, contract.h3_resolution)
                         for a, o in zip(lat[near], lon[near], strict=True)],
                        dtype=object)
        inside = np.isin(cell, list(cells))
        frame = pd.DataFrame({"person": person[inside], "h3_cell": cell[inside],
                              "bin": (when[inside] // bin_seconds).astype(int)})
        parts.append(frame.drop_duplicates())
    seen = pd.concat(parts, ignore_index=True)
    keys = ["h3_cell", "bin"]
    if "country" in contract.segments:
        seen["country"] = country[seen["person"].to_numpy()]
        keys.append("country")
    truth = seen.groupby(keys).size().rename("truth").reset_index()
    truth["bin_start"] = [local_iso(plans.day_start.astimezone(dt.UTC) + dt.timedelta(seconds=int(b) * bin_seconds))
                          for b in truth["bin"]]
    return truth.drop(columns="bin")


def truth_comparison(spark, contract, date: dt.date, step_minutes: int = 5) -> dict:
    """Location error of a distinct-people contract: the pipeline's exact counts (no bounding, no noise)
    against where people really were (``presence_truth``), on keys with a true value of at least 100 and
    500, and the sum ratio. Other metrics: ``{"skipped": reason}``."""
    if contract.metrics != ("unique_people",) or set(contract.segments) - {"country"}:
        return {"skipped": "ground truth is computed for distinct-people products (optionally by country) only"}
    plan = plan_for(contract, "unique_people", date, date + dt.timedelta(days=1))
    exact = exact_values(spark, plan)
    truth = presence_truth(contract, date, step_minutes)
    keys = [c for c in ("h3_cell", "bin_start", "country") if c in truth.columns]
    merged = truth.merge(exact, on=keys, how="outer").fillna({"truth": 0, "exact": 0})
    out = {"exact_sum_over_true_sum": float(merged["exact"].sum() / merged["truth"].sum())}
    for floor in (100, 500):
        keys_ge = merged[merged["truth"] >= floor]
        out[f"median_rel_location_error_ge_{floor}"] = (
            float(((keys_ge["exact"] - keys_ge["truth"]).abs() / keys_ge["truth"]).median()) if len(keys_ge) else None)
        out[f"true_keys_ge_{floor}"] = int(len(keys_ge))
    return out
