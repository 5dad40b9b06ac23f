"""The Delta module on real tables: delta-spark for Spark's tables, delta-rs for driver-side ones, each read by both."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.dataset as pads
import pytest
from deltalake import DeltaTable

from jobs.common import lake

pytestmark = pytest.mark.spark


def _events(spark, day: str, n: int, offset: int = 0):
    rows = [(offset + i, f"cell-{i % 3}", dt.date.fromisoformat(day),
             dt.datetime(2026, 3, 2, 10, i % 60, tzinfo=dt.UTC)) for i in range(n)]
    return spark.createDataFrame(rows, "id long, cell string, event_date date, event_ts timestamp")


def test_round_trip_through_spark(spark, tmp_path):
    path = tmp_path / "t"
    v = lake.write(_events(spark, "2026-03-02", 10), path, partition_by=["event_date"])
    assert v == 0
    back = lake.read(spark, path)
    assert back.columns == ["id", "cell", "event_date", "event_ts"]
    assert sorted(r.id for r in back.collect()) == list(range(10))
    row = back.filter("id = 5").first()
    assert row.event_date == dt.date(2026, 3, 2)
    assert row.event_ts == dt.datetime(2026, 3, 2, 10, 5)  # session time zone is UTC


def test_same_table_read_by_delta_rs_and_pyarrow(spark, tmp_path):
    path = tmp_path / "t"
    lake.write(_events(spark, "2026-03-02", 7), path, partition_by=["event_date"])
    table = DeltaTable(str(path))
    arrow = table.to_pyarrow_table()
    assert arrow.num_rows == 7
    assert set(arrow.column("event_date").to_pylist()) == {dt.date(2026, 3, 2)}
    assert str(arrow.schema.field("event_ts").type).startswith("timestamp[us")
    # A plain pyarrow dataset over the files the log lists (no Delta knowledge) sees the same rows.
    files = [u.removeprefix("file://") for u in table.file_uris()]
    assert pads.dataset(files, format="parquet").count_rows() == 7
    stats = pa.table(table.get_add_actions(flatten=True)).to_pydict()
    assert sum(stats["num_records"]) == 7


def test_overwriting_one_partition_leaves_the_others(spark, tmp_path):
    path = tmp_path / "t"
    lake.write(_events(spark, "2026-03-02", 5), path, partition_by=["event_date"])
    lake.write(_events(spark, "2026-03-03", 4, offset=100), path, partition_by=["event_date"])
    v = lake.write(_events(spark, "2026-03-02", 2, offset=200), path, mode="replace_partitions",
                   partition_by=["event_date"], replace=[{"event_date": "2026-03-02"}])
    assert v == 2
    ids = sorted(r.id for r in lake.read(spark, path).collect())
    assert ids == [100, 101, 102, 103, 200, 201]
    # Partition pruning: only the files of the wanted date are listed.
    only = lake.read(spark, path, partitions={"event_date": "2026-03-03"})
    assert only.count() == 4
    assert lake.history(path)[0]["operation"] == "WRITE"


def test_replacing_with_nothing_empties_the_partition(spark, tmp_path):
    path = tmp_path / "t"
    lake.write(_events(spark, "2026-03-02", 5), path, partition_by=["event_date"])
    empty = _events(spark, "2026-03-02", 0)
    lake.write(empty, path, mode="replace_partitions", partition_by=["event_date"],
               replace=[{"event_date": "2026-03-02"}])
    assert lake.read(spark, path).count() == 0
    assert lake.version(path) == 1


def test_rows_outside_replaced_partitions_are_refused(spark, tmp_path):
    path = tmp_path / "t"
    lake.write(_events(spark, "2026-03-02", 3), path, partition_by=["event_date"])
    with pytest.raises(lake.LakeError, match="outside the partitions"):
        lake.write(_events(spark, "2026-03-04", 3), path, mode="replace_partitions",
                   partition_by=["event_date"], replace=[{"event_date": "2026-03-02"}])
    assert lake.version(path) == 0
    assert lake.read(spark, path).count() == 3


def test_a_write_that_fails_midway_leaves_the_previous_version(spark, tmp_path):
    from pyspark.sql import functions as F

    path = tmp_path / "t"
    lake.write(_events(spark, "2026-03-02", 3), path, partition_by=["event_date"])
    # A task dies on one row after others have written files: nothing is committed.
    bad = _events(spark, "2026-03-02", 50, offset=1000).withColumn(
        "id", F.when(F.col("id") == 1049, F.raise_error(F.lit("executor lost"))).otherwise(F.col("id")))
    with pytest.raises(Exception, match="executor lost"):
        lake.write(bad, path, partition_by=["event_date"])
    assert lake.version(path) == 0
    assert lake.read(spark, path).count() == 3
    assert DeltaTable(str(path)).to_pyarrow_table().num_rows == 3


def test_spark_tables_keep_the_protocol_delta_rs_reads_after_delete(spark, tmp_path):
    path = tmp_path / "t"
    lake.write(_events(spark, "2026-03-02", 10), path, partition_by=["event_date"])
    assert lake.delete_rows(path, "id < 4") == 4
    table = DeltaTable(str(path))
    protocol = table.protocol()
    assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2)
    assert not (protocol.reader_features or protocol.writer_features)
    assert "delta.enableDeletionVectors" not in table.metadata().configuration or \
        table.metadata().configuration["delta.enableDeletionVectors"] == "false"
    # delta-rs sees the delete (files rewritten, no deletion vectors) and time travel still has the rows.
    assert sorted(table.to_pyarrow_table().column("id").to_pylist()) == list(range(4, 10))
    assert lake.read(spark, path, version=0).count() == 10
    assert [h["operation"] for h in lake.history(path)][:1] == ["DELETE"]


def test_delta_rs_tables_read_by_spark_with_time_travel(spark, tmp_path):
    path = tmp_path / "small"
    lake.append_arrow(path, pa.table({"n": [1, 2], "day": ["2026-03-02", "2026-03-03"]}), partition_by=["day"])
    lake.append_arrow(path, pa.table({"n": [3], "day": ["2026-03-02"]}))
    assert sorted(r.n for r in lake.read(spark, path).collect()) == [1, 2, 3]
    assert sorted(r.n for r in lake.read(spark, path, version=0).collect()) == [1, 2]
    assert [r.n for r in lake.read(spark, path, partitions={"day": "2026-03-03"}).collect()] == [2]


def test_retention_delete_optimize_and_vacuum_remove_the_files(spark, tmp_path):
    path = tmp_path / "t"
    for i in range(3):
        lake.write(_events(spark, "2026-03-02", 4, offset=10 * i), path, partition_by=["event_date"])
    lake.write(_events(spark, "2026-03-03", 4, offset=100), path, partition_by=["event_date"])
    assert lake.delete_rows(path, "event_date < '2026-03-03'") == 12  # a partition delete counts its rows too
    metrics = lake.optimize(path)
    assert metrics["files_removed"] >= 0
    before = {p.name for p in path.rglob("*.parquet") if "_delta_log" not in p.parts}
    removed = lake.vacuum(path, retain_hours=0)
    after = {p.name for p in path.rglob("*.parquet") if "_delta_log" not in p.parts}
    assert removed == len(before) - len(after) > 0
    assert not list(path.glob("event_date=2026-03-02/*.parquet"))
    assert sorted(r.id for r in lake.read(spark, path).collect()) == [100, 101, 102, 103]
    assert DeltaTable(str(path)).to_pyarrow_table().num_rows == 4


def test_two_appends_give_two_versions_and_old_versions_stay_readable(spark, tmp_path):
    path = tmp_path / "t"
    assert lake.write(_events(spark, "2026-03-02", 3), path, partition_by=["event_date"]) == 0
    assert lake.write(_events(spark, "2026-03-02", 4, offset=10), path, partition_by=["event_date"]) == 1
    assert lake.version(path) == 1
    assert lake.read(spark, path).count() == 7
    assert lake.read(spark, path, version=0).count() == 3
    assert [h["version"] for h in lake.history(path)] == [1, 0]


def test_schema_change_is_refused(spark, tmp_path):
    path = tmp_path / "t"
    lake.write(_events(spark, "2026-03-02", 3), path, partition_by=["event_date"])
    other = _events(spark, "2026-03-02", 3).withColumnRenamed("cell", "cell_id")
    with pytest.raises(lake.LakeError, match="schema"):
        lake.write(other, path, partition_by=["event_date"])


def test_empty_table_reads_with_its_schema(spark, tmp_path):
    path = tmp_path / "t"
    lake.write(_events(spark, "2026-03-02", 0), path, partition_by=["event_date"])
    df = lake.read(spark, path)
    assert df.count() == 0
    assert df.columns == ["id", "cell", "event_date", "event_ts"]


def test_arrow_append_and_optimistic_conflict(tmp_path):
    import pyarrow as pa
    from deltalake.exceptions import CommitFailedError

    path = tmp_path / "small"
    lake.append_arrow(path, pa.table({"n": [1]}))
    seen = lake.version(path)
    lake.append_arrow(path, pa.table({"n": [2]}))
    with pytest.raises(CommitFailedError):
        lake.append_arrow(path, pa.table({"n": [3]}), max_commit_retries=0, read_version=seen)
    assert sorted(lake.read_arrow(path).column("n").to_pylist()) == [1, 2]


def test_a_product_table_written_before_a_column_was_added_takes_it_on_redelivery(tmp_path):
    """Redelivery into a gold table of an older schema (no ci95_half_width) adds the column; other
    deliveries keep theirs, reading it as null."""
    import pyarrow as pa

    from jobs.common import lake

    path = tmp_path / "gold"
    lake.append_arrow(path, pa.table({"delivery_id": ["a", "b"], "value": [1, 2]}), partition_by=["delivery_id"])
    lake.overwrite_arrow(path, pa.table({"delivery_id": ["a"], "value": [3], "ci95_half_width": [9]}),
                         predicate="delivery_id = 'a'", partition_by=["delivery_id"], schema_mode="merge")
    rows = lake.read_arrow(path).to_pandas().set_index("delivery_id").sort_index()
    assert rows["value"].tolist() == [3, 2]
    assert rows.loc["a", "ci95_half_width"] == 9 and rows["ci95_half_width"].isna().tolist() == [False, True]
