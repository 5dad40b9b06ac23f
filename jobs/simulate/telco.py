"""Synthetic telco feed: network events of the simulated population, one CSV per local day.

Each person-day follows a simple plan (home -> first place -> second place -> home) with travel between
places; events fall at random times (denser while awake) and are served by the sector facing the person.
Output is the supplier format of the README: ``imsi,event_ts,cell_id,event_type,home_mcc``, with
timestamps written half in UTC (``Z``) and half with the local offset, as real suppliers mix them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from jobs.common.settings import LOCAL_TZ
from jobs.simulate.population import CITY_X, CITY_Y, SIGHTS, WORK_CLUSTERS
from jobs.simulate.towers import ServingCell

EVENT_TYPES = np.array(["data", "call", "sms", "handover", "attach"])
EVENT_TYPE_WEIGHTS = np.array([0.60, 0.10, 0.10, 0.15, 0.05])
HOUR = 3600.0
SPEED_M_PER_S = 6.0
SEGMENTS = 7  # home, travel, place A, travel, place B, travel, home


def _plans(people: pd.DataFrame, date: dt.date, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Build each person's plan for one day as 7 segments (start second, from-point, to-point)."""
    n = len(people)
    weekday = date.weekday() < 5
    kind = people["kind"].to_numpy()
    hx, hy = people["home_x"].to_numpy(), people["home_y"].to_numpy()
    wx, wy = people["work_x"].to_numpy(), people["work_y"].to_numpy()
    has_work = ~np.isnan(wx)

    # Place A: work on weekdays; otherwise an outing (city centre area, or a sight for tourists).
    ox = rng.choice(WORK_CLUSTERS[:, 0], n) + rng.normal(0, 900, n)
    oy = rng.choice(WORK_CLUSTERS[:, 1], n) + rng.normal(0, 900, n)
    ox, oy = np.clip(ox, *CITY_X), np.clip(oy, *CITY_Y)
    sight_a = SIGHTS[rng.integers(0, len(SIGHTS), n)]
    sight_b = SIGHTS[rng.integers(0, len(SIGHTS), n)]
    tourist = kind == "tourist"
    works_today = has_work & weekday & (rng.random(n) < 0.92)
    goes_out = works_today | tourist | (rng.random(n) < np.where(kind == "visitor", 0.35, 0.6))
    ax = np.where(works_today, wx, np.where(tourist, sight_a[:, 0], ox))
    ay = np.where(works_today, wy, np.where(tourist, sight_a[:, 1], oy))
    evening = tourist | (rng.random(n) < 0.3)
    bx = np.where(tourist, sight_b[:, 0], np.where(evening, ox, ax))
    by = np.where(tourist, sight_b[:, 1], np.where(evening, oy, ay))
    ax, ay = np.where(goes_out, ax, hx), np.where(goes_out, ay, hy)
    bx, by = np.where(goes_out, bx, hx), np.where(goes_out, by, hy)

    leave = np.where(works_today, rng.normal(7.7, 0.7, n), rng.normal(10.5, 1.3, n)) * HOUR
    t_ab = np.hypot(ax - hx, ay - hy) / SPEED_M_PER_S + 300
    t1 = np.clip(leave, 5 * HOUR, 13 * HOUR)
    t2 = t1 + t_ab
    stay_a = np.where(works_today, rng.normal(8.3, 0.8, n) * HOUR, rng.uniform(1.5, 4.5, n) * HOUR)
    t3 = t2 + stay_a
    t4 = t3 + np.hypot(bx - ax, by - ay) / SPEED_M_PER_S + np.where(evening, 300, 0)
    t5 = t4 + np.where(evening, rng.uniform(1.0, 3.0, n) * HOUR, 0)
    t6 = t5 + np.hypot(hx - bx, hy - by) / SPEED_M_PER_S + 300
    starts = np.column_stack([np.zeros(n), t1, t2, t3, t4, t5, t6])
    starts = np.minimum(np.maximum.accumulate(starts, axis=1), 23.9 * HOUR)
    # From / to points of each segment (stays have from == to).
    fx = np.column_stack([hx, hx, ax, ax, bx, bx, hx])
    fy = np.column_stack([hy, hy, ay, ay, by, by, hy])
    tx = np.column_stack([hx, ax, ax, bx, bx, hx, hx])
    ty = np.column_stack([hy, ay, ay, by, by, hy, hy])
    return {"starts": starts, "fx": fx, "fy": fy, "tx": tx, "ty": ty}


def simulate_day(people: pd.DataFrame, serving: ServingCell, date: dt.date, seed: int,
                 events_per_person: float = 40.0) -> pd.DataFrame:
    """Simulate one local day of telco events for the population.

    Parameters
    ----------
    people : pandas.DataFrame
        The population (``make_population``).
    serving : ServingCell
        Serving-cell lookup of the network.
    date : datetime.date
        Local Copenhagen date.
    seed : int
        Simulator seed; the day's generator is derived from it and the date.
    events_per_person : float
        Mean events per person and day.

    Returns
    -------
    pandas.DataFrame
        ``imsi, event_ts, cell_id, event_type, home_mcc`` sorted by time, plus ``person`` and ``instant``
        (the true UTC instant) for ground-truth checks.
    """
    rng = np.random.default_rng([seed, date.toordinal()])
    plan = _plans(people, date, rng)
    n = len(people)
    day_start = dt.datetime.combine(date, dt.time(), tzinfo=LOCAL_TZ)
    day_len = (dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), tzinfo=LOCAL_TZ)
               - day_start).total_seconds()
    # Heavy and light users: per-person rate from a gamma distribution.
    rate = rng.gamma(2.0, events_per_person / 2.0, n)
    counts = rng.poisson(rate)
    person_idx = np.repeat(np.arange(n), counts)
    m = len(person_idx)
    awake = rng.random(m) < 0.8
    seconds = np.where(awake, rng.uniform(7 * HOUR, 23 * HOUR, m), rng.uniform(0, day_len, m))
    seconds = np.minimum(seconds, day_len - 1)

    starts = plan["starts"][person_idx]
    seg = (seconds[:, None] >= starts).sum(axis=1) - 1
    seg_start = starts[np.arange(m), seg]
    seg_end = np.where(seg + 1 < SEGMENTS, starts[np.arange(m), np.minimum(seg + 1, SEGMENTS - 1)], day_len)
    frac = np.clip((seconds - seg_start) / np.maximum(seg_end - seg_start, 1.0), 0, 1)
    fx, fy = plan["fx"][person_idx, seg], plan["fy"][person_idx, seg]
    tx, ty = plan["tx"][person_idx, seg], plan["ty"][person_idx, seg]
    x = fx + (tx - fx) * frac + rng.normal(0, 120, m)
    y = fy + (ty - fy) * frac + rng.normal(0, 120, m)
    cells = serving.cells(x, y)
    travelling = seg % 2 == 1
    etype = rng.choice(EVENT_TYPES, size=m, p=EVENT_TYPE_WEIGHTS)
    etype = np.where(travelling & (rng.random(m) < 0.4), "handover", etype)

    instants = pd.to_datetime(day_start.astimezone(dt.UTC)) + pd.to_timedelta(
        np.floor(seconds), unit="s")
    order = np.argsort(instants.to_numpy(), kind="stable")
    instants = instants[order]
    person_idx = person_idx[order]
    utc_text = instants.strftime("%Y-%m-%dT%H:%M:%SZ")
    local = instants.tz_convert(LOCAL_TZ)
    local_text = local.strftime("%Y-%m-%dT%H:%M:%S%z")
    local_text = local_text.str[:-2] + ":" + local_text.str[-2:]  # +0100 -> +01:00
    use_utc = rng.random(m) < 0.5
    return pd.DataFrame({
        "imsi": people["imsi"].to_numpy()[person_idx],
        "event_ts": np.where(use_utc, utc_text, local_text),
        "cell_id": cells[order],
        "event_type": etype[order],
        "home_mcc": people["home_mcc"].to_numpy()[person_idx],
        "person": person_idx,
        "instant": instants,
    })


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
