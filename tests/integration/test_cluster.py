"""The pipeline on a Spark standalone cluster (a master and two workers on 127.0.0.1, ``jobs/cluster.py``)
gives the same bronze and silver tables as local mode on the same day: everything before the fresh bounding
key and the noise. Each mode runs ingest and aggregate in a driver process of its own."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DAY = dt.date(2026, 3, 3)
ROOT = Path(__file__).resolve().parents[2]
RUN = """
import datetime as dt, json, sys, time
from jobs.aggregate.silver import build_silver
from jobs.common.spark import get_spark
from jobs.ingest import FEEDS
from jobs.ingest.runner import ingest
day = dt.date.fromisoformat(sys.argv[1])
started = time.monotonic()
spark = get_spark("cde-cluster-test")
master = spark.sparkContext.master
for feed in ("telco", "wifi", "camera", "ticket"):
    ingest(spark, FEEDS[feed], day, validate=False)
build_silver(spark, day)
executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size()  # block managers: driver + executors
print(json.dumps({"master": master, "executors": executors, "seconds": time.monotonic() - started}))
"""


def _run(lake: Path, master: str) -> dict:
    import json

    env = {**os.environ, "CDE_LAKE": str(lake), "CDE_SPARK_MASTER": master, "PYSPARK_PYTHON": sys.executable}
    out = subprocess.run([sys.executable, "-c", RUN, DAY.isoformat()], env=env, capture_output=True, text=True,
                         timeout=1200, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rows(spark, lake: Path, table: str, drop: tuple[str, ...] = ()) -> list:
    from jobs.common import lake as delta

    df = delta.read(spark, lake / table)
    columns = sorted(c for c in df.columns if c not in drop)
    return sorted(tuple(str(v) for v in row) for row in df.select(*columns).collect())


@pytest.fixture(scope="module")
def two_lakes(tmp_path_factory):
    """The same simulated landing files, ingested and aggregated in local mode and on the cluster."""
    from jobs import cluster
    from jobs.simulate.main import run as simulate

    base = tmp_path_factory.mktemp("cluster")
    local, remote = base / "local", base / "cluster"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CDE_LAKE", str(local))
        simulate(800, 1, DAY, seed=5, events_per_person=20)
    shutil.copytree(local, remote)
    timings = {"local": _run(local, "local[2]")}
    state = base / "spark-state"
    t = time.monotonic()
    url = cluster.start(workers=2, cores=1, memory="1g", state=state)
    timings["cluster start"] = time.monotonic() - t
    try:
        timings["cluster"] = _run(remote, url)
    finally:
        cluster.stop(workers=2, state=state)
    print(f"[cluster] local {timings['local']['seconds']:.1f} s, cluster {timings['cluster']['seconds']:.1f} s "
          f"(+{timings['cluster start']:.1f} s to start), executors {timings['cluster']['executors']}")
    return local, remote, timings


def test_the_cluster_run_used_remote_executors(two_lakes):
    _, _, timings = two_lakes
    assert timings["cluster"]["master"].startswith("spark://127.0.0.1:7077")
    assert timings["cluster"]["executors"] >= 3  # the driver and two executors on the workers


def test_bronze_and_silver_equal_the_local_mode_run(spark, two_lakes):
    local, remote, _ = two_lakes
    volatile = ("run_id", "ingested_at")  # a run's own id and clock
    for table in ("bronze/telco_events", "bronze/wifi_events", "bronze/camera_events", "bronze/ticket_events",
                  "quarantine/telco", "silver/presence", "silver/stays", "silver/trips", "silver/anchors"):
        if not (local / table).exists():
            continue
        a, b = _rows(spark, local, table, volatile), _rows(spark, remote, table, volatile)
        assert a == b, (table, len(a), len(b))
        assert table.startswith("quarantine") or a, f"{table} is empty: the comparison would prove nothing"
