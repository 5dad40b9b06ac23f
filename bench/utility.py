"""Utility of distinct-people releases: error and share released per H3 resolution and epsilon (not a test).

    .venv/bin/python bench/utility.py --people 20000

Simulates one telco day, ingests and aggregates it, then for H3 resolutions 8 and 9 (hourly bins over the
municipality) bounds each person-day to ``--max-pairs`` (cell, hour) pairs, counts distinct people over the
zero-filled domain and releases with the product's own ``add_discrete_noise`` and ``apply_k_threshold`` at
epsilon 0.1, 0.5, 1 and 2. Reports, against the true (unbounded) distinct counts: the mean absolute error of
all noisy values, the mean absolute error of released (not suppressed) values, and the share released.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DAY = dt.date(2026, 3, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20000)
    parser.add_argument("--max-pairs", type=int, default=12)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "utility")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    os.environ.update(CDE_LAKE=str(args.out), CDE_PSEUDONYM_KEY="bench-key-not-secret-0123456789abcdef")
    from jobs.aggregate.metrics import to_cut, unique_people
    from jobs.aggregate.silver import build_silver
    from jobs.common import lake, settings
    from jobs.common.spark import get_spark
    from jobs.ingest.feeds.telco import SPEC
    from jobs.ingest.runner import ingest
    from jobs.privacy.bounding import bound_distinct_pairs
    from jobs.privacy.domain import domain_bins, domain_cells, public_domain, zero_fill
    from jobs.privacy.noise import add_discrete_noise
    from jobs.privacy.threshold import apply_k_threshold
    from jobs.simulate.main import run as simulate

    simulate(args.people, 1, DAY, seed=17, feeds=("telco",))
    spark = get_spark("cde-bench-utility", master="local[2]")
    ingest(spark, SPEC, DAY, validate=False)
    build_silver(spark, DAY, ("telco",))
    presence = lake.read(spark, settings.table_path("silver", "presence"), partitions={"event_date": DAY.isoformat()})
    area = json.loads((ROOT / "regions" / "copenhagen" / "areas" / "kobenhavns-kommune.geojson").read_text())["geometry"]
    rows = []
    for res in (8, 9):
        cells = domain_cells(area, res)
        domain = public_domain(spark, cells, domain_bins(DAY, DAY + dt.timedelta(days=1), 60))
        cut = to_cut(presence, res, 60)
        true = zero_fill(domain, unique_people(cut)).toPandas().rename(columns={"value": "true"})
        bounded = zero_fill(domain, unique_people(bound_distinct_pairs(cut, args.max_pairs))).toPandas()
        merged = true.merge(bounded, on=["h3_cell", "bin_start"])
        for eps in (0.1, 0.5, 1.0, 2.0):
            noisy = add_discrete_noise(merged["value"].to_numpy(np.int64), eps, args.max_pairs)
            product = apply_k_threshold(pd.DataFrame({"value": noisy}), args.k)
            released = ~product["suppressed"].to_numpy()
            err = np.abs(noisy - merged["true"].to_numpy())
            rows.append({"resolution": res, "epsilon": eps, "domain": len(merged),
                         "mean_true": merged["true"].mean(), "mae_all": err.mean(),
                         "mae_released": err[released].mean() if released.any() else float("nan"),
                         "released_share": released.mean(),
                         "bounding_bias": (merged["true"] - merged["value"]).mean()})
    table = pd.DataFrame(rows)
    print(f"distinct people per (cell, hour), {args.people} people, L0 = {args.max_pairs} pairs per person-day, "
          f"k = {args.k}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
