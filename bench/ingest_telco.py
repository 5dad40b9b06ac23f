"""Benchmark: telco (or ESS operator, ``--feed mno``) ingest throughput and peak memory on this machine.

    .venv/bin/python bench/ingest_telco.py --events 1000000 10000000
    .venv/bin/python bench/ingest_telco.py --feed mno --events 1000000

For each size: simulate one day of the feed (not timed), then run ``cde ingest <feed>`` in a fresh process on
local[2] and report wall time, records per second, the ingest's own stage timings, and the peak resident
memory of the driver (Python + JVM) and of all processes together (sampled every 0.2 s). The mno day is
Parquet with a CSV part and the damage the simulator adds (``jobs/simulate/ess.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 3, 3)


def _sample(proc: psutil.Process, peaks: dict, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            tree = [proc, *proc.children(recursive=True)]
            rss = {p.pid: p.memory_info().rss for p in tree if p.is_running()}
            java = sum(v for p in tree if p.pid in rss and "java" in p.name() for v in [rss[p.pid]])
            workers = sum(v for p in tree if p.pid in rss and p.pid != proc.pid and "java" not in p.name()
                          for v in [rss[p.pid]])
            peaks["all"] = max(peaks["all"], sum(rss.values()))
            peaks["driver"] = max(peaks["driver"], rss.get(proc.pid, 0) + java)
            peaks["python_workers"] = max(peaks["python_workers"], workers)
        except psutil.Error:
            pass
        time.sleep(0.2)


def run(events: int, out: Path, reuse: bool = False, feed: str = "telco") -> dict:
    lake = out / f"lake-{feed}-{events}"
    env = dict(os.environ, CDE_LAKE=str(lake), CDE_SPARK_MASTER="local[2]",
               CDE_PSEUDONYM_KEY="bench-key-not-secret-0123456789abcdef", PYSPARK_PYTHON=sys.executable)
    if not (reuse and (lake / "landing" / feed).is_dir()):
        shutil.rmtree(lake, ignore_errors=True)
        people = max(events // 40, 1)
        subprocess.run([sys.executable, "-m", "jobs", "simulate", "--people", str(people), "--days", "1",
                        "--start", DAY.isoformat(), "--feeds", feed], env=env, check=True, cwd=ROOT)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "jobs", "-v", "ingest", feed, "--date", DAY.isoformat()],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peaks = {"all": 0, "driver": 0, "python_workers": 0}
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(psutil.Process(proc.pid), peaks, stop), daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    if proc.returncode:
        print(output[-3000:])
        raise SystemExit(f"ingest failed with exit {proc.returncode}")
    stages = re.search(r"seconds (\{.*\})", output)
    lines = int(re.search(r"(\d+) records in", output).group(1))
    return {"events": lines, "seconds": seconds, "events_per_s": lines / seconds,
            "stages": stages.group(1) if stages else "?", **{f"peak_{k}_gb": v / 1e9 for k, v in peaks.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--reuse", action="store_true", help="reuse landing files simulated by an earlier run")
    parser.add_argument("--feed", choices=("telco", "mno"), default="telco")
    args = parser.parse_args()
    print(f"{args.feed} ingest on local[2], {os.cpu_count()} cores, driver heap "
          f"{os.environ.get('CDE_SPARK_DRIVER_MEMORY', '2g')}")
    for n in args.events:
        r = run(n, args.out, args.reuse, args.feed)
        print(f"{r['events']:>11,} events  {r['seconds']:7.1f} s  {r['events_per_s']:9,.0f} events/s  "
              f"peak driver (python+JVM) {r['peak_driver_gb']:.2f} GB  python workers "
              f"{r['peak_python_workers_gb']:.2f} GB  all {r['peak_all_gb']:.2f} GB")
        print(f"{'':>13}stages (s): {r['stages']}")


if __name__ == "__main__":
    main()
