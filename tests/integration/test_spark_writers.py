"""Two processes write one Spark-side Delta table at once (two publishes into ``gold/releases``): no commit is
lost, on a local disk and in a bucket. Delta's log stores for local files and for S3 are atomic only inside
one JVM; ``jobs/common/lake.py`` holds a lock per table for each commit (a file lock, or a lease object
created with a conditional write on the object store)."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]
WRITES = 6


def _writer(path: str, offset: int, lock: bool, out) -> None:
    """One driver process: its own SparkSession appending WRITES small batches."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from jobs.common import lake
    from jobs.common.spark import get_spark

    if not lock:  # only for showing the race by hand; the test always locks
        lake._spark_writer = lambda root: contextlib.nullcontext()
    spark = get_spark(f"writer-{offset}", master="local[1]")
    versions = []
    for i in range(WRITES):
        rows = [(offset + 100 * i + j, f"r{offset}") for j in range(3)]
        versions.append(lake.write(spark.createDataFrame(rows, "id long, release_id string"), path,
                                   partition_by=["release_id"]))
    spark.stop()
    out.put((offset, versions))


def race(path: str, lock: bool = True) -> list[tuple[int, list[int]]]:
    """Run two writer processes at once (spawned: delta-rs and the JVM do not survive a fork)."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(path, offset, lock, out)) for offset in (0, 10_000)]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


@pytest.fixture(params=["local", "s3"])
def releases_path(request, tmp_path):
    """Where the shared table lives: a local folder, or a bucket on the S3 endpoint (the writers' sessions
    then read and write ``s3://`` through S3A)."""
    if request.param == "local":
        return str(tmp_path / "releases")
    return str(request.getfixturevalue("s3_lake") / "gold" / "releases")


def test_two_processes_appending_to_one_table_lose_no_commit(releases_path):
    from deltalake import DeltaTable

    path = releases_path
    results = race(path)
    table = DeltaTable(path)
    ids = table.to_pyarrow_table().column("id").to_pylist()
    versions = sorted(v for _, vs in results for v in vs)
    print(f"versions committed: {versions}; rows {len(ids)} of {2 * WRITES * 3}")
    assert len(ids) == len(set(ids)) == 2 * WRITES * 3
    assert versions == list(range(2 * WRITES)) and table.version() == 2 * WRITES - 1
