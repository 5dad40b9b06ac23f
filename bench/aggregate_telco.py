"""Benchmark: silver tables and one contract's metrics for one telco day (not a test).

    .venv/bin/python bench/aggregate_telco.py --events 1000000 10000000

Needs the bronze tables written by ``bench/ingest_telco.py`` (same ``--out``). Prints per-stage seconds:
presence, stays, trips, anchors (``cde aggregate``), then the metrics of one contract cut (H3 resolution 9,
hourly: distinct people after bounding, footfall, dwell minutes, OD trips), each forced with a count.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DAY = dt.date(2026, 3, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    lake_dir = args.out / f"lake-{args.events}"
    if not (lake_dir / "bronze" / "telco_events").is_dir():
        raise SystemExit(f"run bench/ingest_telco.py --events {args.events} first (no bronze in {lake_dir})")
    os.environ.update(CDE_LAKE=str(lake_dir), CDE_PSEUDONYM_KEY="bench-key-not-secret-0123456789abcdef")
    peak = {"rss": 0}
    stop = threading.Event()

    def sample() -> None:
        me = psutil.Process()
        while not stop.is_set():
            try:
                tree = [me, *me.children(recursive=True)]
                driver = sum(p.memory_info().rss for p in tree if p.pid == me.pid or "java" in p.name())
                peak["rss"] = max(peak["rss"], driver)
            except psutil.Error:
                pass
            time.sleep(0.2)

    threading.Thread(target=sample, daemon=True).start()
    from jobs.aggregate import metrics
    from jobs.aggregate.silver import build_silver
    from jobs.common import lake, settings
    from jobs.common.spark import get_spark
    from jobs.privacy.bounding import bound_distinct_pairs

    started = time.perf_counter()
    spark = get_spark("cde-bench-aggregate", master="local[2]")
    spark_start = time.perf_counter() - started
    out = build_silver(spark, DAY, ("telco",))["telco"]
    seconds = dict(out["seconds"])
    clock = time.perf_counter()
    presence = lake.read(spark, settings.table_path("silver", "presence"), partitions={"event_date": DAY.isoformat()})
    cut = metrics.to_cut(presence, 9, 60)
    metrics.unique_people(bound_distinct_pairs(cut, 24)).count()
    seconds["metric unique_people"] = round(time.perf_counter() - clock, 2)
    clock = time.perf_counter()
    metrics.footfall(cut).count()
    seconds["metric footfall"] = round(time.perf_counter() - clock, 2)
    clock = time.perf_counter()
    stays = lake.read(spark, settings.table_path("silver", "stays"), partitions={"event_date": DAY.isoformat()})
    metrics.dwell_minutes(metrics.to_cut(metrics.stay_minutes_by_bin(stays), 9, 60)).count()
    seconds["metric dwell_minutes"] = round(time.perf_counter() - clock, 2)
    clock = time.perf_counter()
    trips = lake.read(spark, settings.table_path("silver", "trips"), partitions={"event_date": DAY.isoformat()})
    metrics.od_trips(metrics.trips_to_cut(trips, 8, 60)).count()
    seconds["metric od_trips"] = round(time.perf_counter() - clock, 2)
    total = time.perf_counter() - started
    stop.set()
    print(f"aggregate telco, {args.events:,} events, local[2]: total {total:.1f} s (Spark start {spark_start:.1f} s), "
          f"{out['presence_rows']:,} presence rows, peak driver (Python + JVM) {peak['rss'] / 1e9:.2f} GB")
    for stage, s in seconds.items():
        print(f"  {stage:<22} {s:7.2f} s")


if __name__ == "__main__":
    main()
