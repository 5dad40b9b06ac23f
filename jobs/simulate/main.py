"""``cde simulate``: write seeded landing files, reference data and the ground truth for a date range."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil

import pandas as pd

from jobs.common import settings
from jobs.common.storage import local_staging, remove_tree, upload_tree
from jobs.errors import ReferenceDataError
from jobs.ingest.feeds import FEEDS, supplied_feeds
from jobs.simulate.ess import damage, ess_events, ess_topology, write_ess_day
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
from jobs.simulate.towers import ServingCell, SignalServing, make_towers

log = logging.getLogger(__name__)

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


def _telco(world: dict, plans, folder) -> int:
    events = simulate_day(world["population"], plans, world["serving"], world["seed"], world["events_per_person"])
    write_day(events, folder)
    return len(events)


def _wifi(world: dict, plans, folder) -> int:
    wifi = simulate_wifi(world["population"], world["devices"], plans, world["references"]["aps.csv"], world["seed"])
    write_wifi(wifi, folder)
    return len(wifi)


def _camera(world: dict, plans, folder) -> int:
    counts = simulate_cameras(plans, world["references"]["cameras.csv"], world["seed"])
    counts[CAMERA_COLUMNS].to_csv(folder / "camera_counts.csv", index=False)
    return len(counts)


def _ticket(world: dict, plans, folder) -> int:
    trips = simulate_tickets(world["population"], world["devices"], plans, world["references"]["stops.csv"],
                             world["seed"])
    trips[TICKET_COLUMNS].to_csv(folder / "ticket_trips.csv", index=False, encoding="utf-8")
    return len(trips)


def _run_into_bucket(people: int, days: int, start: dt.date, seed: int, events_per_person: float,
                     feeds: tuple[str, ...], force: bool, network: str = "sector") -> dict:
    """Simulate into a local folder, then upload landing files, reference data and the answer key to the
    lake's bucket, as a supplier uploads its drops."""
    import os

    remote = settings.lake_root()
    _refuse_overwrite(remote / "simulation", people, seed, force)  # checked against the bucket's lake
    local = local_staging("simulate")
    try:
        if (remote / "simulation" / "run.json").exists():  # same world, more days: the answer key grows
            (local / "simulation").mkdir()
            (local / "simulation" / "run.json").write_bytes((remote / "simulation" / "run.json").read_bytes())
        os.environ["CDE_LAKE"] = str(local)
        try:
            result = run(people, days, start, seed, events_per_person, feeds, force=True, network=network)
        finally:
            os.environ["CDE_LAKE"] = str(remote)
        for feed in feeds:  # each simulated day replaces that day's drop, as locally
            for day in (local / "landing" / feed).iterdir():
                remove_tree(remote / "landing" / feed / day.name)
        upload_tree(local / "landing", remote / "landing")
        upload_tree(local / "simulation", remote / "simulation")
    finally:
        shutil.rmtree(local, ignore_errors=True)
    return {**result, "reference": str(settings.reference_path("")), "truth": str(remote / "simulation")}


def _mno(world: dict, plans, folder) -> int:
    """The same network's events in the ESS operator format, with the damage real files carry."""
    events = simulate_day(world["population"], plans, world["serving"], world["seed"], world["events_per_person"])
    topology = ess_topology(world["references"]["towers.csv"], SIMULATED_NETWORK_SINCE)
    ess, topology, _ = damage(ess_events(events), topology, plans.date, world["seed"])
    write_ess_day(ess, topology, folder, settings.reference_path(f"mno_network/{plans.date}"),
                  csv_rows=min(1_000, len(ess) // 10))
    return len(ess)


# How phones pick their serving cell in the simulated network.
SERVING = {"sector": lambda towers, seed: ServingCell(towers), "signal": SignalServing}


# One simulator per feed: (the world, the day's plans, the landing folder) -> records written.
SIMULATORS = {"telco": _telco, "wifi": _wifi, "camera": _camera, "ticket": _ticket, "mno": _mno}
# The simulated network's cells are valid from this day on (the ESS topology's valid_date_start).
SIMULATED_NETWORK_SINCE = dt.date(2026, 1, 1)


def simulated_feeds() -> tuple[str, ...]:
    """Registered feeds the simulator can write (in registry order)."""
    return tuple(name for name in FEEDS if name in SIMULATORS)


def default_feeds() -> tuple[str, ...]:
    """What ``cde simulate`` writes unless told: the simulated feeds a registered supplier owns (``mno`` is
    written on request, ``--feeds mno``, or once a supplier in the registry owns it)."""
    supplied = supplied_feeds()
    return tuple(name for name in simulated_feeds() if name in supplied)


def _refuse_overwrite(truth_dir, people: int, seed: int, force: bool) -> dict | None:
    """The lake's previous simulation (same world), or None; refuses to overwrite another world's reference
    data and answer key, or reference data nobody simulated, unless ``force``."""
    run_file = truth_dir / "run.json"
    previous = json.loads(run_file.read_text()) if run_file.exists() else None
    if force:
        return None
    if previous is None:
        existing = [n for n in REFERENCE_COLUMNS if settings.reference_path(n).exists()]
        if existing:
            raise ReferenceDataError(f"{settings.reference_path('')} holds reference data ({', '.join(existing)}) "
                                     "that no simulation wrote: simulating would overwrite it; use another lake "
                                     "(CDE_LAKE) or --force")
        return None
    if (previous["people"], previous["seed"]) != (people, seed):
        raise ReferenceDataError(f"this lake was simulated with {previous['people']} people and seed "
                                 f"{previous['seed']}; simulating {people} people with seed {seed} would overwrite "
                                 f"its reference data and answer key ({run_file}): use another lake (CDE_LAKE) "
                                 "or --force")
    return previous


def run(people: int, days: int, start: dt.date, seed: int, events_per_person: float = 40.0,
        feeds: tuple[str, ...] | None = None, force: bool = False, network: str = "sector") -> dict:
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
    force : bool
        Overwrite the reference data and answer key of another simulated world (other people or seed), or
        reference data no simulation wrote; refused without it.
    network : {"sector", "signal"}
        How phones pick their serving cell: ``sector`` (the facing sector of the nearest site, the default) or
        ``signal`` (received signal with shadowing and handover hysteresis, ``towers.SignalServing``).

    Returns
    -------
    dict
        Records written per feed and date, and the reference and ground-truth paths.
    """
    feeds = tuple(feeds) if feeds else default_feeds()
    if network not in SERVING:
        raise ValueError(f"network must be one of {', '.join(SERVING)}, not {network!r}")
    unknown = [f for f in feeds if f not in SIMULATORS]
    if unknown:
        raise ValueError(f"no simulator for feed(s) {unknown}; simulated: {', '.join(simulated_feeds())}")
    if settings.lake_is_remote():
        return _run_into_bucket(people, days, start, seed, events_per_person, feeds, force, network)
    root = settings.lake_root()
    truth_dir = root / "simulation"
    previous = _refuse_overwrite(truth_dir, people, seed, force)
    if previous:  # same world, more days: the answer key covers every simulated day
        first = min(start, dt.date.fromisoformat(previous["start"]))
        last = max(start + dt.timedelta(days=days), dt.date.fromisoformat(previous["start"])
                   + dt.timedelta(days=previous["days"]))
        start_recorded, days_recorded = first, (last - first).days
    else:
        start_recorded, days_recorded = start, days
    population = make_population(people, seed)
    devices = device_columns(population, seed)
    references = {"towers.csv": make_towers(seed), "aps.csv": make_aps(seed), "cameras.csv": make_cameras(seed),
                  "stops.csv": make_stops(seed)}
    for name, frame in references.items():
        path = settings.reference_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame[REFERENCE_COLUMNS[name]].to_csv(path, index=False, encoding="utf-8")
    truth_dir.mkdir(parents=True, exist_ok=True)
    pd.concat([population, devices], axis=1).to_parquet(truth_dir / "people.parquet", index=False)
    # What the truth checks need to rebuild each day's plans (where everybody really was).
    (truth_dir / "run.json").write_text(json.dumps({"seed": seed, "people": people,
                                                    "start": start_recorded.isoformat(), "days": days_recorded,
                                                    "feeds": list(feeds), "network": network}))
    world = {"population": population, "devices": devices, "references": references, "seed": seed,
             "events_per_person": events_per_person,
             "serving": SERVING[network](references["towers.csv"], seed)}
    written: dict[str, dict[str, int]] = {f: {} for f in feeds}
    for offset in range(days):
        date = start + dt.timedelta(days=offset)
        plans = day_plans(population, date, seed)
        for feed in feeds:
            written[feed][date.isoformat()] = SIMULATORS[feed](world, plans, _fresh(feed, date))
        log.info("simulate %s: %s", date, {f: written[f].get(date.isoformat()) for f in feeds})
    return {"records": written, "events": written.get("telco", {}), "reference": str(settings.reference_path("")),
            "truth": str(truth_dir)}
