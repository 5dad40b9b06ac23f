"""Ingest under crashes and a broken environment: a crash before the run record leaves bronze rows nothing
reads; unusable reference files are refused by name, recorded, and leave no staging folder."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.spark]


def test_bronze_committed_without_a_run_record_is_never_aggregated(spark, simulated_day, lake_copy, crash_at):
    from jobs.aggregate.silver import build_silver
    from jobs.common import tables
    from jobs.errors import IngestRefused
    from jobs.ingest import FEEDS
    from jobs.ingest.runner import ingest

    runs_before = len(tables.ingest_runs("ticket"))
    crash_at("ingest.run_record")
    with pytest.raises(RuntimeError, match="injected crash"):
        ingest(spark, FEEDS["ticket"], simulated_day.day, validate=False)
    assert len(tables.ingest_runs("ticket")) == runs_before  # bronze committed, no run record
    crash_at("none")
    with pytest.raises(IngestRefused, match="no succeeded run record .* re-ingest"):
        build_silver(spark, simulated_day.day, ("ticket",))
    ingest(spark, FEEDS["ticket"], simulated_day.day, validate=False)
    assert build_silver(spark, simulated_day.day, ("ticket",))["ticket"]["presence_rows"] > 0


def test_aggregate_refuses_a_day_with_no_succeeded_ingest(spark, simulated_day, lake_copy):
    import datetime as dt

    from jobs.aggregate.silver import build_silver
    from jobs.errors import IngestRefused

    with pytest.raises(IngestRefused, match="no succeeded ingest run for that day"):
        build_silver(spark, simulated_day.day + dt.timedelta(days=1), ("telco",))


@pytest.mark.parametrize("damage, message", [
    ("folder", "is a folder, not a reference file"),
    ("empty", "empty file"),
    ("header", "has a header but no rows"),
    ("latin1", "not UTF-8"),
])
def test_an_unusable_reference_file_is_named_recorded_and_leaves_no_staging(spark, simulated_day, lake_copy,
                                                                           damage, message):
    import shutil

    from jobs.common import settings, tables
    from jobs.errors import IngestRefused
    from jobs.ingest import FEEDS
    from jobs.ingest.runner import ingest

    path = settings.reference_path("stops.csv")
    header = path.read_text(encoding="utf-8").splitlines()[0]
    path.unlink()
    if damage == "folder":
        path.mkdir()
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "header":
        path.write_text(header + "\n")
    else:
        path.write_bytes((header + "\nS1,N\xf8rreport,55.68,12.57,metro\n").encode("latin-1"))
    with pytest.raises(IngestRefused, match=message) as info:
        ingest(spark, FEEDS["ticket"], simulated_day.day, validate=False)
    assert "stops.csv" in str(info.value)
    last = tables.ingest_runs("ticket").sort_values("started_at").iloc[-1]
    assert last["status"] == "refused" and message in last["message"]
    staging = lake_copy / "ingest_staging" / "ticket" / simulated_day.day.isoformat()
    assert not staging.exists() or not list(staging.iterdir())
    shutil.rmtree(path, ignore_errors=True) if damage == "folder" else None


def test_a_refused_ingest_names_each_field_with_counts_and_lines(spark, simulated_day, lake_copy):
    from jobs.common import settings, tables
    from jobs.errors import IngestRefused
    from jobs.ingest import FEEDS
    from jobs.ingest.runner import ingest

    folder = settings.landing_path("telco", simulated_day.day.isoformat())
    (source,) = [p for p in folder.iterdir() if p.is_file()]
    lines = source.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    imsi = [i for i, h in enumerate(header) if h.strip().lower() == "imsi"][0]
    broken = [lines[0]]
    for n, line in enumerate(lines[1:], start=2):
        fields = line.split(",")
        if n % 10 == 0:
            fields[imsi] = "12x"  # not 15 digits
        broken.append(",".join(fields))
    source.write_text("\n".join(broken) + "\n", encoding="utf-8")
    with pytest.raises(IngestRefused) as info:
        ingest(spark, FEEDS["telco"], simulated_day.day, validate=False)
    text = str(info.value)
    assert "by field: " in text and "imsi" in text and " x " in text and "lines " in text
    assert "12x" not in text  # never a value
    last = tables.ingest_runs("telco").sort_values("started_at").iloc[-1]
    assert last["status"] == "refused" and "imsi" in last["message"]
