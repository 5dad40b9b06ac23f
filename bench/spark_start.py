"""Benchmark: what starting a JVM per Airflow task costs (not a test).

    .venv/bin/python bench/spark_start.py --tasks 5

Each Airflow task runs in its own process and so starts its own SparkSession (a driver JVM with the
delta-spark jars). This times ``--tasks`` fresh processes that each start a session and read one small Delta
table, against one process that starts a session once and reads the table ``--tasks`` times: the difference
is the per-task start cost that a shared Spark Connect server would save.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASK = """
import sys, time
t0 = time.monotonic()
from jobs.common.spark import get_spark
from jobs.common import lake
spark = get_spark("bench-task", master="local[2]")
t1 = time.monotonic()
for _ in range(int(sys.argv[2])):
    lake.read(spark, sys.argv[1]).count()
print(f"{t1 - t0:.2f} {time.monotonic() - t1:.2f}")
"""


def _run(table: str, reads: int) -> tuple[float, float, float]:
    """Wall time of one process, its session start and its reads (seconds)."""
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", TASK, table, str(reads)], cwd=ROOT, check=True,
                         capture_output=True, text=True, env={**os.environ, "CDE_SHUFFLE_PARTITIONS": "4"})
    session, work = (float(x) for x in out.stdout.split()[-2:])
    return time.monotonic() - started, session, work


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5)
    args = parser.parse_args()
    table = str(Path(tempfile.mkdtemp(prefix="cde-bench-start-")) / "t")
    setup = f"""
from jobs.common.spark import get_spark
from jobs.common import lake
spark = get_spark("bench-setup", master="local[2]")
lake.write(spark.range(1000).withColumnRenamed("id", "n"), {table!r})
"""
    subprocess.run([sys.executable, "-c", setup], cwd=ROOT, check=True, capture_output=True)
    per_task = [_run(table, 1) for _ in range(args.tasks)]
    shared = _run(table, args.tasks)
    walls = [w for w, _, _ in per_task]
    sessions = [s for _, s, _ in per_task]
    print(f"[start] {args.tasks} tasks, a process and a JVM each: {sum(walls):.1f} s in all "
          f"(per task {min(walls):.1f} to {max(walls):.1f} s; session start {min(sessions):.1f} to "
          f"{max(sessions):.1f} s)")
    print(f"[start] one process, {args.tasks} reads: {shared[0]:.1f} s (session start {shared[1]:.1f} s, "
          f"reads {shared[2]:.1f} s)")
    print(f"[start] a JVM per task costs {(sum(walls) - shared[0]) / max(args.tasks - 1, 1):.1f} s per extra task")


if __name__ == "__main__":
    main()
