"""Synthetic telco feed: network events of the simulated population, one CSV per local day.

Events fall at random times of each person's day plan (denser while awake) and are served by the
sector facing the person.
Output is the supplier format of docs/reference/feeds.md: ``imsi,event_ts,cell_id,event_type,home_mcc``, with
timestamps written half in UTC (``Z``) and half with the local offset, as real suppliers mix them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from jobs.common.settings import LOCAL_TZ
from jobs.simulate.movement import HOUR, TRAVEL_SEGMENTS, DayPlans
from jobs.simulate.towers import ServingCell, SignalServing

EVENT_TYPES = np.array(["data", "call", "sms", "handover", "attach"])
EVENT_TYPE_WEIGHTS = np.array([0.60, 0.10, 0.10, 0.15, 0.05])


def simulate_day(people: pd.DataFrame, plans: DayPlans, serving: ServingCell | SignalServing, seed: int,
                 events_per_person: float = 40.0) -> pd.DataFrame:
    """Simulate one local day of telco events for the population.

    Parameters
    ----------
    people : pandas.DataFrame
        The population (``make_population``).
    plans : DayPlans
        Everyone's plan for the day (``movement.day_plans``).
    serving : ServingCell or SignalServing
        Serving-cell lookup of the network (the facing sector of the nearest site, or by received signal).
    seed : int
        Simulator seed; the day's generator is derived from it and the date.
    events_per_person : float
        Mean events per person and day.

    Returns
    -------
    pandas.DataFrame
        ``imsi, event_ts, cell_id, event_type, home_mcc`` sorted by time, plus ``person``, ``instant`` (the
        true UTC instant) and ``x``, ``y`` (the true position in metres) for ground-truth checks.
    """
    rng = np.random.default_rng([seed, plans.date.toordinal(), 2])
    n = len(people)
    # Heavy and light users: per-person rate from a gamma distribution.
    counts = rng.poisson(rng.gamma(2.0, events_per_person / 2.0, n))
    person_idx = np.repeat(np.arange(n), counts)
    m = len(person_idx)
    awake = rng.random(m) < 0.8
    seconds = np.where(awake, rng.uniform(7 * HOUR, 23 * HOUR, m), rng.uniform(0, plans.day_seconds, m))
    seconds = np.minimum(seconds, plans.day_seconds - 1)
    x, y, seg = plans.positions(person_idx, seconds, rng)
    cells = serving.cells(x, y, person_idx, seconds)
    travelling = np.isin(seg, TRAVEL_SEGMENTS)
    etype = rng.choice(EVENT_TYPES, size=m, p=EVENT_TYPE_WEIGHTS)
    etype = np.where(travelling & (rng.random(m) < 0.4), "handover", etype)

    instants = plans.instants(seconds)
    order = np.argsort(instants.to_numpy(), kind="stable")
    instants = instants[order]
    person_idx = person_idx[order]
    use_utc = rng.random(m) < 0.5
    return pd.DataFrame({
        "imsi": people["imsi"].to_numpy()[person_idx],
        "event_ts": iso_texts(instants, use_utc),
        "cell_id": cells[order],
        "event_type": etype[order],
        "home_mcc": people["home_mcc"].to_numpy()[person_idx],
        "person": person_idx,
        "instant": instants,
        "x": x[order].astype("float32"),  # where the phone was (metres from the origin): truth checks
        "y": y[order].astype("float32"),
    })


def iso_texts(instants: pd.DatetimeIndex, use_utc: np.ndarray) -> np.ndarray:
    """ISO-8601 texts of UTC instants: with ``Z`` where ``use_utc``, else local time with its offset."""
    utc_text = instants.strftime("%Y-%m-%dT%H:%M:%SZ")
    local_text = instants.tz_convert(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M:%S%z")
    local_text = local_text.str[:-2] + ":" + local_text.str[-2:]  # +0100 -> +01:00
    return np.where(use_utc, utc_text, local_text)
SUPPLIER_COLUMNS = ["imsi", "event_ts", "cell_id", "event_type", "home_mcc"]


def write_day(events: pd.DataFrame, folder: Path, rows_per_file: int = 2_000_000) -> list[Path]:
    """Write a day of events in the supplier format, split into files of at most ``rows_per_file``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for part, start in enumerate(range(0, max(len(events), 1), rows_per_file)):
        path = folder / f"telco_events_{part:03d}.csv"
        events.iloc[start:start + rows_per_file][SUPPLIER_COLUMNS].to_csv(path, index=False)
        paths.append(path)
    return paths
