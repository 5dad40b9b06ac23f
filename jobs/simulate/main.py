"""``cde simulate``: write seeded landing files, reference data and the ground truth for a date range."""

from __future__ import annotations

import datetime as dt
import logging
import shutil

from jobs.common import settings
from jobs.simulate.population import make_population
from jobs.simulate.telco import simulate_day, write_day
from jobs.simulate.towers import ServingCell, make_towers

log = logging.getLogger(__name__)

TOWER_COLUMNS = ["cell_id", "site_id", "lat", "lon", "azimuth_deg", "beamwidth_deg", "range_m"]


def run(people: int, days: int, start: dt.date, seed: int, events_per_person: float = 40.0) -> dict:
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
        Simulator seed: the same arguments give byte-identical landing files.
    events_per_person : float
        Mean telco events per person and day.

    Returns
    -------
    dict
        Events written per date and the paths written.
    """
    root = settings.lake_root()
    population = make_population(people, seed)
    towers = make_towers(seed)
    ref = settings.reference_path("towers.csv")
    ref.parent.mkdir(parents=True, exist_ok=True)
    towers[TOWER_COLUMNS].to_csv(ref, index=False)
    truth_dir = root / "simulation"
    truth_dir.mkdir(parents=True, exist_ok=True)
    population.to_parquet(truth_dir / "people.parquet", index=False)
    serving = ServingCell(towers)
    written = {}
    for offset in range(days):
        date = start + dt.timedelta(days=offset)
        events = simulate_day(population, serving, date, seed, events_per_person)
        folder = settings.landing_path("telco", date.isoformat())
        shutil.rmtree(folder, ignore_errors=True)
        write_day(events, folder)
        written[date.isoformat()] = len(events)
        log.info("simulate telco %s: %d events from %d people", date, len(events), people)
    return {"events": written, "towers": str(ref), "truth": str(truth_dir)}
