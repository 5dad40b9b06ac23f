"""Segmentation accuracy against the simulator's ground truth on a simulated fortnight (not a test).

    .venv/bin/python bench/segmentation_accuracy.py --people 3000 --days 14

Simulates telco for ``--days`` local days inside one pseudonym-key period, ingests and aggregates each day
through the pipeline, then compares the segment of every person-day on the last day (full anchor window)
with the truth: resident / commuter / visitor / tourist, and the country for tourists.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
START = dt.date(2026, 3, 9)  # a key period runs 2026-03-08 to 2026-04-06


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=3000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "segments")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    os.environ.update(CDE_LAKE=str(args.out), CDE_PSEUDONYM_KEY=os.environ.get("CDE_PSEUDONYM_KEY", "bench-key-not-secret-0123456789abcdef"))
    from jobs.aggregate.silver import build_silver
    from jobs.common.spark import get_spark
    from jobs.ingest.feeds.telco import SPEC
    from jobs.ingest.runner import ingest
    from jobs.simulate.main import run as simulate
    from jobs.simulate.truth import segment_accuracy

    started = time.perf_counter()
    simulate(args.people, args.days, START, seed=42, events_per_person=30, feeds=("telco",))
    spark = get_spark("cde-bench-segments", master="local[2]")
    for i in range(args.days):
        day = START + dt.timedelta(days=i)
        ingest(spark, SPEC, day, validate=False)
        build_silver(spark, day, ("telco",))
    last = START + dt.timedelta(days=args.days - 1)
    result = segment_accuracy(last)
    print(f"segmentation on {last} ({args.days}-day window, {args.people} people): accuracy "
          f"{result['accuracy']:.1%} over {result['person_days']} person-days "
          f"({result['unmatched']} unmatched); {time.perf_counter() - started:.0f} s")
    print(result["confusion"].to_string())


if __name__ == "__main__":
    main()
