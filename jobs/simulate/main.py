"""``cde simulate``: write seeded landing files, reference data and the ground truth for a date range."""

from __future__ import annotations

import datetime as dt
import logging
import shutil

import pandas as pd

from jobs.common import settings
from jobs.simulate.feeds import (
    CAMERA_COLUMNS,
    TICKET_COLUMNS,
    device_columns,
    simulate_cameras,
    simulate_tickets,
    simulate_wifi,
    write_wifi,
)
from jobs.simulate.movement import day_plans
from jobs.simulate.places import make_aps, make_cameras, make_stops
from jobs.simulate.population import make_population
from jobs.simulate.telco import simulate_day, write_day
from jobs.simulate.towers import ServingCell, make_towers

log = logging.getLogger(__name__)

FEEDS = ("telco", "wifi", "camera", "ticket")
REFERENCE_COLUMNS = {
    "towers.csv": ["cell_id", "site_id", "lat", "lon", "azimuth_deg", "beamwidth_deg", "range_m"],
    "aps.csv": ["ap_id", "lat", "lon", "venue"],
    "cameras.csv": ["camera_id", "lat", "lon", "direction"],
    "stops.csv": ["stop_id", "name", "lat", "lon", "modes"],
}


def _fresh(feed: str, date: dt.date):
    folder = settings.landing_path(feed, date.isoformat())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def run(people: int, days: int, start: dt.date, seed: int, events_per_person: float = 40.0,
        feeds: tuple[str, ...] = FEEDS) -> dict:
    """Simulate ``days`` local days from ``start`` into the lake's landing area.

    Parameters
    ----------
    people : int
        Population size.
    days : int
        Number of consecutive local days.
    start : datetime.date
        First local date.
    seed : int
        Simulator seed: the same arguments give identical landing files.
    events_per_person : float
        Mean telco events per person and day.
    feeds : tuple of str
        Feeds to write.

    Returns
    -------
    dict
        Records written per feed and date, and the reference and ground-truth paths.
    """
    root = settings.lake_root()
    population = make_population(people, seed)
    devices = device_columns(population, seed)
    references = {"towers.csv": make_towers(seed), "aps.csv": make_aps(seed), "cameras.csv": make_cameras(seed),
                  "stops.csv": make_stops(seed)}
    for name, frame in references.items():
        path = settings.reference_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame[REFERENCE_COLUMNS[name]].to_csv(path, index=False, encoding="utf-8")
    truth_dir = root / "simulation"
    truth_dir.mkdir(parents=True, exist_ok=True)
    pd.concat([population, devices], axis=1).to_parquet(truth_dir / "people.parquet", index=False)
    serving = ServingCell(references["towers.csv"])
    written: dict[str, dict[str, int]] = {f: {} for f in feeds}
    for offset in range(days):
        date = start + dt.timedelta(days=offset)
        plans = day_plans(population, date, seed)
        if "telco" in feeds:
            events = simulate_day(population, plans, serving, seed, events_per_person)
            write_day(events, _fresh("telco", date))
            written["telco"][date.isoformat()] = len(events)
        if "wifi" in feeds:
            wifi = simulate_wifi(population, devices, plans, references["aps.csv"], seed)
            write_wifi(wifi, _fresh("wifi", date))
            written["wifi"][date.isoformat()] = len(wifi)
        if "camera" in feeds:
            counts = simulate_cameras(plans, references["cameras.csv"], seed)
            counts[CAMERA_COLUMNS].to_csv(_fresh("camera", date) / "camera_counts.csv", index=False)
            written["camera"][date.isoformat()] = len(counts)
        if "ticket" in feeds:
            trips = simulate_tickets(population, devices, plans, references["stops.csv"], seed)
            trips[TICKET_COLUMNS].to_csv(_fresh("ticket", date) / "ticket_trips.csv", index=False,
                                         encoding="utf-8")
            written["ticket"][date.isoformat()] = len(trips)
        log.info("simulate %s: %s", date, {f: written[f].get(date.isoformat()) for f in feeds})
    return {"records": written, "events": written.get("telco", {}), "reference": str(settings.reference_path("")),
            "truth": str(truth_dir)}
