"""Benchmark: present population placed by centroids and by footprints, against where people were (issue 35).

    .venv/bin/python bench/present_population.py --people 100000
    .venv/bin/python bench/present_population.py --people 500000     # city scale (long)

Simulates one day of the ``signal`` network (serving cells chosen by received signal with shadowing and
handover hysteresis, so the footprints are an estimate, not the simulator's rule), then computes
``present_population``'s exact values (no bounding, no noise) the way a release does: the pipeline's
``silver/instants`` rule (``jobs.ingest.presence.instants_from_events``, run in Spark) picks each person's
serving cell nearest each hour's start within an hour, and that cell places them two ways:

- centroid: the whole person in the resolution-10 cell of the serving sector's wedge centroid (the placement
  of ``unique_people`` and ``footfall``);
- footprint: the person spread over the cell's footprint in whole hundredths (``footprint_units``), as
  ``present_population`` releases it.

The truth is defined the same way from the simulated plans: the people whose true position at each hour's
start lies in the cell. Over the inner city (``kk-inner-city-presence``'s area) at resolutions 9 and 8: the
median relative error over keys with at least ``--min-people`` true people (and 100), the total placed over
the total true, and the people in each of Strøget's two resolution-9 cells (``retail-stroget-footfall``'s
area) at midday. Also ``unique_people``'s location error for the centroid placement (its release).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import h3
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jobs.common.h3cells import parent_array  # noqa: E402
from jobs.ingest.footprints import MODEL, footprint_units, footprints, towers_cells  # noqa: E402
from jobs.ingest.presence import INSTANT_TOLERANCE_MINUTES  # noqa: E402
from jobs.ingest.reference import load_towers  # noqa: E402
from jobs.privacy.measures.bounders import UNITS_PER_PERSON  # noqa: E402
from jobs.simulate.movement import day_plans  # noqa: E402
from jobs.simulate.population import make_population, to_lat_lon  # noqa: E402
from jobs.simulate.telco import simulate_day  # noqa: E402
from jobs.simulate.towers import SignalServing, make_towers  # noqa: E402

DAY = dt.date(2026, 3, 3)


def _cells(lat: np.ndarray, lon: np.ndarray, resolution: int) -> np.ndarray:
    return np.array([h3.str_to_int(h3.latlng_to_cell(a, b, resolution)) for a, b in zip(lat, lon, strict=True)],
                    "int64")


def nearest_instants(spark, events: pd.DataFrame, centroid_of: pd.Series, folder: Path,
                     tolerance: int) -> pd.DataFrame:
    """Per serving cell, centroid and hour start: how many people the pipeline's instant rule places there."""
    from pyspark.sql import functions as F

    from jobs.ingest.presence import instants_from_events

    frame = pd.DataFrame({"pseudo_id": events["person"].to_numpy("int64"), "event_date": DAY, "key_period": 0,
                          "event_ts": pd.to_datetime(events["instant"], utc=True).dt.tz_localize(None),
                          "cell_id": events["cell_id"].astype(str),
                          "h3_cell": centroid_of.reindex(events["cell_id"]).to_numpy("int64")})
    path = folder / "events.parquet"
    frame.to_parquet(path, index=False, coerce_timestamps="us")
    instants = instants_from_events(spark.read.parquet(str(path)), "telco", tolerance)
    hourly = instants.filter(F.minute("instant") == 0)
    return hourly.groupBy("cell_id", "h3_cell", "instant").count().toPandas()


def true_present(plans, people: int, resolution: int, cells: set[int], hours: int, chunk: int = 50_000) -> pd.Series:
    """True people per (cell, hour) at each hour's start, inside ``cells`` (from the plans, no jitter)."""
    unused = np.random.default_rng(0)  # positions() with jitter_m=0 draws nothing
    parts = []
    seconds = np.arange(hours) * 3600.0
    for first in range(0, people, chunk):
        person = np.repeat(np.arange(first, min(first + chunk, people)), hours)
        when = np.tile(seconds, len(person) // hours)
        x, y, _ = plans.positions(person, when, unused, jitter_m=0.0)
        lat, lon = to_lat_lon(x, y)
        cell = _cells(lat, lon, resolution)
        keep = np.isin(cell, list(cells))
        parts.append(pd.DataFrame({"h3_cell": cell[keep], "hour": (when[keep] // 3600).astype(int)}))
    return pd.concat(parts).groupby(["h3_cell", "hour"]).size().astype(float)


def true_unique(plans, people: int, cells: set[int], hours: int, step_minutes: int = 5,
                chunk: int = 20_000) -> pd.Series:
    """True distinct people per (resolution-9 cell, hour): a person counts where a sample every ``step_minutes``
    of their plan falls (as ``jobs.simulate.truth.presence_truth``)."""
    unused = np.random.default_rng(0)  # positions() with jitter_m=0 draws nothing
    corners = np.array([c for cell in cells for c in h3.cell_to_boundary(h3.int_to_str(cell))])
    (lat_lo, lon_lo), (lat_hi, lon_hi) = corners.min(axis=0), corners.max(axis=0)
    seconds = np.arange(0, hours * 3600, step_minutes * 60, dtype=float)
    parts = []
    for first in range(0, people, chunk):
        person = np.repeat(np.arange(first, min(first + chunk, people)), len(seconds))
        when = np.tile(seconds, len(person) // len(seconds))
        x, y, _ = plans.positions(person, when, unused, jitter_m=0.0)
        lat, lon = to_lat_lon(x, y)
        near = (lat >= lat_lo) & (lat <= lat_hi) & (lon >= lon_lo) & (lon <= lon_hi)
        cell = _cells(lat[near], lon[near], 9)
        keep = np.isin(cell, list(cells))
        parts.append(pd.DataFrame({"person": person[near][keep], "h3_cell": cell[keep],
                                   "hour": (when[near][keep] // 3600).astype(int)}).drop_duplicates())
    return pd.concat(parts).groupby(["h3_cell", "hour"]).size().astype(float)


def placed_unique(events: pd.DataFrame, centroid_of: pd.Series, units: pd.DataFrame, cells: set[int],
                  day_start: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """Distinct people per (resolution-9 cell, hour) placed two ways from the hour's serving cells: at their
    centroids (``unique_people`` as released), and by footprints (the chance the person was in the cell at
    some time in the hour, taking their serving cells' footprints as independent: 1 - prod(1 - weight))."""
    hour = ((pd.to_datetime(events["instant"], utc=True).dt.tz_localize(None) - day_start).dt.total_seconds()
            // 3600).astype(int)
    served = pd.DataFrame({"person": events["person"].to_numpy(), "hour": hour.to_numpy(),
                           "cell_id": events["cell_id"].astype(str).to_numpy()}).drop_duplicates()
    centroid = served.assign(h3_cell=parent_array(centroid_of.reindex(served["cell_id"]).to_numpy("int64"), 9))
    centroid = centroid[centroid["h3_cell"].isin(cells)].drop_duplicates(["person", "hour", "h3_cell"])
    inside = units[units["h3_cell"].isin(cells)]
    spread = served.merge(inside, on="cell_id")
    spread["miss"] = np.log1p(-np.minimum(spread["units"] / UNITS_PER_PERSON, 1 - 1e-12))
    chance = 1 - np.exp(spread.groupby(["person", "hour", "h3_cell"])["miss"].sum())
    return (centroid.groupby(["h3_cell", "hour"]).size().astype(float),
            chance.groupby(level=["h3_cell", "hour"]).sum())


def errors(placed: pd.Series, truth: pd.Series, floor: int) -> tuple[float | None, int]:
    both = pd.concat([placed.rename("placed"), truth.rename("truth")], axis=1).fillna(0.0)
    judged = both[both["truth"] >= floor]
    if judged.empty:
        return None, 0
    return float(((judged["placed"] - judged["truth"]).abs() / judged["truth"]).median()), len(judged)


def print_errors(centroid: pd.Series, footprint: pd.Series, truth: pd.Series, min_people: int) -> None:
    """One line per placement: its total against the truth and its median errors over large keys."""
    for name, placed in (("centroid", centroid), ("footprint", footprint)):
        line = [f"  {name:9s}: total placed / true {placed.sum() / truth.sum():.1%}"]
        for floor in sorted({min_people, 100}, reverse=True):
            median, keys = errors(placed, truth, floor)
            line.append(f"median error (keys >= {floor} true people, {keys}) "
                        + ("-" if median is None else f"{median:.1%}"))
        print(", ".join(line), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--min-people", type=int, default=500)
    parser.add_argument("--tolerance", type=int, default=INSTANT_TOLERANCE_MINUTES, help="minutes")
    parser.add_argument("--unique", action="store_true",
                        help="also unique_people (distinct people per cell and hour) placed both ways")
    parser.add_argument("--steepness", type=float, default=MODEL.steepness_db,
                        help="dB of the footprints' signal dominance (a sweep; the pipeline uses the default)")
    compare(parser.parse_args())


def compare(args: argparse.Namespace) -> None:
    """Simulate the day and print both placements' errors (``main``'s options; also run by
    ``bench/evaluate_products.py --present-population``)."""
    from jobs.common.spark import get_spark
    from jobs.privacy import domain_cells
    from jobs.publish.portfolio import load_contracts

    started = time.monotonic()
    contracts, _ = load_contracts()
    towers = make_towers(args.seed)
    population = make_population(args.people, args.seed)
    plans = day_plans(population, DAY, args.seed)
    events = simulate_day(population, plans, SignalServing(towers, args.seed), args.seed, 40.0)
    print(f"signal network: {args.people:,} people, {len(events):,} events "
          f"(simulated in {time.monotonic() - started:.0f} s)", flush=True)
    reference = towers[["cell_id", "site_id", "lat", "lon", "azimuth_deg", "beamwidth_deg", "range_m"]].copy()
    spark = get_spark("cde-bench-present")
    with tempfile.TemporaryDirectory() as folder:
        reference.to_csv(Path(folder) / "towers.csv", index=False)
        centroid_of = load_towers(Path(folder) / "towers.csv").set_index("ref_id")["h3_cell"]
        t = time.monotonic()
        counts = nearest_instants(spark, events, centroid_of, Path(folder), args.tolerance)
        print(f"instants (Spark, the pipeline's rule, tolerance {args.tolerance} min): "
              f"{time.monotonic() - t:.0f} s", flush=True)
    day_start = pd.Timestamp(plans.day_start.astimezone(dt.UTC)).tz_localize(None)
    counts["hour"] = ((pd.to_datetime(counts["instant"]) - day_start).dt.total_seconds() // 3600).astype(int)
    hours = int(plans.day_seconds // 3600)
    fp = footprints(towers_cells(reference), dataclasses.replace(MODEL, steepness_db=args.steepness))
    for resolution in (9, 8):
        inner = {h3.str_to_int(c) for c in domain_cells(contracts["kk-inner-city-presence"].area, resolution)}
        truth = true_present(plans, args.people, resolution, inner, hours)
        centroid = counts.assign(h3_cell=parent_array(counts["h3_cell"].to_numpy("int64"), resolution))
        centroid = centroid[centroid["h3_cell"].isin(inner)].groupby(["h3_cell", "hour"])["count"].sum().astype(float)
        units = footprint_units(fp, resolution, UNITS_PER_PERSON)
        spread = counts[["cell_id", "hour", "count"]].merge(units, on="cell_id")
        spread = spread[spread["h3_cell"].isin(inner)]
        footprint = (spread["count"] * spread["units"] / UNITS_PER_PERSON).groupby(
            [spread["h3_cell"], spread["hour"]]).sum()
        print(f"resolution {resolution}, inner city ({len(inner)} cells x {hours} hours):", flush=True)
        print_errors(centroid, footprint, truth, args.min_people)
        if resolution == 9:
            stroget = [h3.str_to_int(c) for c in domain_cells(contracts["retail-stroget-footfall"].area, 9)]
            for cell in stroget:
                got = [f"{name} {series.get((cell, 13), 0.0):.0f}" for name, series in
                       (("true", truth), ("centroid", centroid), ("footprint", footprint))]
                print(f"  Strøget {h3.int_to_str(cell)} at 13:00 local: " + ", ".join(got), flush=True)
    if args.unique:
        inner = {h3.str_to_int(c) for c in domain_cells(contracts["kk-inner-city-presence"].area, 9)}
        truth = true_unique(plans, args.people, inner, hours)
        centroid, footprint = placed_unique(events, centroid_of, footprint_units(fp, 9, UNITS_PER_PERSON), inner,
                                            day_start)
        print("unique_people, resolution 9, inner city (distinct people per cell and hour):", flush=True)
        print_errors(centroid, footprint, truth, args.min_people)
    print(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    os.environ.setdefault("CDE_PSEUDONYM_KEY", "bench-key-not-secret-0123456789abcdef")
    main()
