"""Where each simulated person is during a local day: a plan of seven segments.

home -> travel -> place A -> travel -> place B -> travel -> home. Place A is work on weekdays (most
workers), otherwise an outing; tourists visit sights. Every feed simulator samples positions from the same
plans, so the feeds describe the same people doing the same things.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

from jobs.common.settings import LOCAL_TZ
from jobs.simulate.population import CITY_X, CITY_Y, SIGHTS, WORK_CLUSTERS

HOUR = 3600.0
SPEED_M_PER_S = 6.0
SEGMENTS = 7  # home, travel, place A, travel, place B, travel, home
STAY_SEGMENTS = (0, 2, 4, 6)
TRAVEL_SEGMENTS = (1, 3, 5)


@dataclasses.dataclass(frozen=True)
class DayPlans:
    """Plans of every person for one local day (arrays indexed by person, segment)."""

    date: dt.date
    day_start: dt.datetime       # local midnight (aware)
    day_seconds: float           # 82,800 / 86,400 / 90,000
    starts: np.ndarray           # segment start, seconds after local midnight
    fx: np.ndarray
    fy: np.ndarray
    tx: np.ndarray
    ty: np.ndarray

    def segment_end(self, person: np.ndarray, segment: np.ndarray) -> np.ndarray:
        """End second of the given segments."""
        nxt = np.minimum(segment + 1, SEGMENTS - 1)
        return np.where(segment + 1 < SEGMENTS, self.starts[person, nxt], self.day_seconds)

    def positions(self, person: np.ndarray, seconds: np.ndarray, rng: np.random.Generator,
                  jitter_m: float = 120.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (x, y, segment) of each person at each second (metres, with some jitter)."""
        starts = self.starts[person]
        seg = (seconds[:, None] >= starts).sum(axis=1) - 1
        m = len(person)
        seg_start = starts[np.arange(m), seg]
        seg_end = self.segment_end(person, seg)
        frac = np.clip((seconds - seg_start) / np.maximum(seg_end - seg_start, 1.0), 0, 1)
        fx, fy = self.fx[person, seg], self.fy[person, seg]
        tx, ty = self.tx[person, seg], self.ty[person, seg]
        x = fx + (tx - fx) * frac + rng.normal(0, jitter_m, m)
        y = fy + (ty - fy) * frac + rng.normal(0, jitter_m, m)
        return x, y, seg

    def instants(self, seconds: np.ndarray) -> pd.DatetimeIndex:
        """UTC instants of seconds after local midnight."""
        return pd.to_datetime(self.day_start.astimezone(dt.timezone.utc)) + pd.to_timedelta(
            np.floor(seconds), unit="s")


def day_plans(people: pd.DataFrame, date: dt.date, seed: int) -> DayPlans:
    """Build each person's plan for one local day (the same for every feed given the seed)."""
    rng = np.random.default_rng([seed, date.toordinal(), 1])
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
    day_start = dt.datetime.combine(date, dt.time(), tzinfo=LOCAL_TZ)
    day_seconds = (dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), tzinfo=LOCAL_TZ)
                   - day_start).total_seconds()
    return DayPlans(date, day_start, day_seconds, starts, fx, fy, tx, ty)


