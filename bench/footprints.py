"""Benchmark: how well each placement puts network events where the phones were (issue 35; not a test).

    .venv/bin/python bench/footprints.py --people 20000

Simulates one day of network events (not timed) on each simulated network, ``sector`` (the serving cell is the
nearest site's facing sector, the rule the centroid placement assumes) and ``signal`` (received signal with
shadowing and handover hysteresis, ``jobs/simulate/towers.py``), and places every event two ways:

- centroid: the pipeline's placement today, the resolution-10 cell of the serving sector's wedge centroid;
- footprint: the serving cell's footprint (``jobs/ingest/footprints.py``), each event spread over its tiles.

Against where the phones were (the simulator's positions), per resolution: the median relative error of the
events per cell, over the cells holding at least ``--min-events`` true events, and the share of all events
placed in a wrong cell (half the L1 distance between the placed and the true counts, over the total). Also
the size of the footprints (cells of resolution 9 holding 90% of the weight) against the true spread of each
cell's served events.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import h3
import numpy as np
import pandas as pd

from jobs.common.h3cells import parent_array
from jobs.ingest.footprints import footprint_cells, footprints, towers_cells
from jobs.ingest.reference import load_towers
from jobs.simulate.movement import day_plans
from jobs.simulate.population import make_population, to_lat_lon
from jobs.simulate.telco import simulate_day
from jobs.simulate.towers import ServingCell, SignalServing, make_towers

DAY = dt.date(2026, 3, 3)


def _true_cells(events: pd.DataFrame) -> np.ndarray:
    lat, lon = to_lat_lon(events["x"].to_numpy(float), events["y"].to_numpy(float))
    return np.array([h3.str_to_int(h3.latlng_to_cell(a, b, 10)) for a, b in zip(lat, lon, strict=True)], "int64")


def _errors(placed: pd.Series, truth: pd.Series, min_events: int) -> tuple[float, float]:
    both = pd.concat([placed.rename("placed"), truth.rename("truth")], axis=1).fillna(0.0)
    judged = both[both["truth"] >= min_events]
    median = float(((judged["placed"] - judged["truth"]).abs() / judged["truth"]).median())
    misplaced = float((both["placed"] - both["truth"]).abs().sum() / 2 / both["truth"].sum())
    return median, misplaced


def run(people: int, network: str, seed: int, min_events: int) -> list[str]:
    towers = make_towers(seed)
    population = make_population(people, seed)
    serving = ServingCell(towers) if network == "sector" else SignalServing(towers, seed)
    events = simulate_day(population, day_plans(population, DAY, seed), serving, seed, 40.0)
    truth10 = _true_cells(events)
    # the centroid placement, as ingest makes it from towers.csv
    reference = towers[["cell_id", "site_id", "lat", "lon", "azimuth_deg", "beamwidth_deg", "range_m"]].copy()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "towers.csv"
        reference.to_csv(path, index=False)
        centroid_of = load_towers(path).set_index("ref_id")["h3_cell"]
    centroid10 = centroid_of.reindex(events["cell_id"]).to_numpy("int64")
    started = time.perf_counter()
    fp = footprints(towers_cells(reference))
    seconds = time.perf_counter() - started
    served = events.groupby("cell_id").size().rename("events").reset_index()
    spread = fp.merge(served, on="cell_id")
    lines = [f"{network}: {people:,} people, {len(events):,} events, footprints of {fp['cell_id'].nunique():,} cells "
             f"in {seconds:.1f} s"]
    for resolution in (10, 9, 8):
        truth = pd.Series(parent_array(truth10, resolution)).value_counts()
        centroid = pd.Series(parent_array(centroid10, resolution)).value_counts()
        weighted = spread.assign(parent=parent_array(spread["h3_cell"].to_numpy(), resolution),
                                 mass=spread["weight"] * spread["events"])
        footprint = weighted.groupby("parent")["mass"].sum()
        c_median, c_wrong = _errors(centroid.astype(float), truth.astype(float), min_events)
        f_median, f_wrong = _errors(footprint, truth.astype(float), min_events)
        lines.append(f"  resolution {resolution}: median error per cell (cells with >= {min_events} true events): "
                     f"centroid {c_median:.0%}, footprint {f_median:.0%}; events placed in a wrong cell: centroid "
                     f"{c_wrong:.0%}, footprint {f_wrong:.0%}")
    true_spread = pd.DataFrame({"cell_id": events["cell_id"].to_numpy(), "h3_cell": truth10}).groupby(
        ["cell_id", "h3_cell"]).size().rename("n").reset_index()
    true_spread["weight"] = true_spread["n"] / true_spread.groupby("cell_id")["n"].transform("sum")
    busy = served.loc[served["events"] >= 200, "cell_id"]
    lines.append(f"  resolution-9 cells holding 90% of a cell's events (median over cells with >= 200): true "
                 f"{footprint_cells(true_spread[true_spread['cell_id'].isin(busy)], 9).median():g}, footprint "
                 f"{footprint_cells(fp[fp['cell_id'].isin(busy)], 9).median():g}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--min-events", type=int, default=500)
    args = parser.parse_args()
    for network in ("sector", "signal"):
        for line in run(args.people, network, args.seed, args.min_events):
            print(line, flush=True)


if __name__ == "__main__":
    main()
