"""Telco ingest on a real lake: reasons in order, exact accounting, pseudonyms only, idempotent reruns."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from jobs.common import lake, settings
from jobs.ingest.feeds.telco import SPEC
from jobs.ingest.runner import IngestRefused, ingest
from jobs.privacy.identifier_scan import scan_lake

pytestmark = pytest.mark.spark
DAY = dt.date(2026, 3, 2)
TOWERS = """cell_id,site_id,lat,lon,azimuth_deg,beamwidth_deg,range_m
c1,S1,55.6761,12.5683,0,120,500
c2,S1,55.6761,12.5683,120,120,500
far,S9,56.5000,10.0000,0,120,500
"""
GOOD = [
    "238011234567890,2026-03-02T10:00:00Z,c1,data,238",
    "238011234567890,2026-03-02T11:00:00+01:00,c2,call,238",
    "262021234567891,2026-03-02T23:30:00+01:00,c1,sms,262",     # local date 2026-03-02
]
BAD = {
    "unparseable": "238011234567892,only,three",
    "bad_type": "23801123456789X,2026-03-02T10:00:00Z,c1,data,238",
    "out_of_window": "238011234567893,2026-03-02T23:30:00Z,c1,data,238",  # 00:30 local on 03-03
    "unknown_reference": "238011234567894,2026-03-02T10:00:00Z,nope,data,238",
    "out_of_region": "238011234567895,2026-03-02T10:00:00Z,far,data,238",
    "duplicate": GOOD[0],
}


def _land(root, lines, name="telco.csv"):
    ref = root / "landing" / "reference"
    ref.mkdir(parents=True, exist_ok=True)
    (ref / "towers.csv").write_text(TOWERS)
    folder = root / "landing" / "telco" / DAY.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("imsi,event_ts,cell_id,event_type,home_mcc\n" + "\n".join(lines) + "\n")
    return folder


def test_every_record_lands_in_exactly_one_place(spark, lake_root):
    _land(lake_root, GOOD + list(BAD.values()))
    record = ingest(spark, SPEC, DAY, max_invalid_share=1.0)
    assert record["records_in"] == 9
    assert record["accepted"] == 3
    assert json.loads(record["quarantined_by_reason"]) == dict.fromkeys(BAD, 1)
    bronze = lake.read(spark, settings.table_path("bronze", "telco_events")).toPandas()
    assert len(bronze) == 3
    assert "imsi" not in bronze.columns
    assert bronze["pseudo_id"].nunique() == 2
    assert set(bronze["event_date"]) == {DAY}
    quarantine = lake.read(spark, settings.table_path("quarantine", "telco")).toPandas()
    assert sorted(quarantine["reason"]) == sorted(BAD)
    unparseable = quarantine[quarantine["reason"] == "unparseable"].iloc[0]
    assert unparseable["line_number"] == 5 and unparseable["pseudo_id"] is None or pd.isna(unparseable["pseudo_id"])
    runs = lake.read_arrow(settings.table_path("ops", "ingest_runs")).to_pylist()
    assert runs[-1]["status"] == "succeeded" and runs[-1]["records_in"] == 9
    imsis = [line.split(",")[0] for line in GOOD + list(BAD.values())]
    assert scan_lake(lake_root, imsis) == []


def _sorted(df):
    return df.drop("run_id").toPandas().sort_values(["event_ts", "line_number"]).reset_index(drop=True)


def test_reingest_is_idempotent_and_a_file_dropped_twice_counts_once(spark, lake_root):
    folder = _land(lake_root, GOOD)
    first = ingest(spark, SPEC, DAY)
    path = settings.table_path("bronze", "telco_events")
    before = _sorted(lake.read(spark, path))
    (folder / "telco_copy.csv").write_text((folder / "telco.csv").read_text())
    second = ingest(spark, SPEC, DAY)
    after = _sorted(lake.read(spark, path))
    assert first["accepted"] == second["accepted"] == 3
    assert json.loads(second["quarantined_by_reason"]) == {"duplicate": 3}
    pd.testing.assert_frame_equal(before.drop(columns=["source_file"]), after.drop(columns=["source_file"]))
    assert lake.version(path) == 1


def test_the_same_event_with_another_utc_offset_is_a_duplicate(spark, lake_root):
    """De-duplication compares normalised records: 11:00:00+01:00 is the 10:00:00Z of GOOD[0]."""
    same_instant = "238011234567890,2026-03-02T11:00:00+01:00,c1,data,238"
    _land(lake_root, [*GOOD, same_instant])
    record = ingest(spark, SPEC, DAY)
    assert record["records_in"] == 4 and record["accepted"] == 3
    assert json.loads(record["quarantined_by_reason"]) == {"duplicate": 1}
    quarantine = lake.read(spark, settings.table_path("quarantine", "telco")).toPandas()
    assert quarantine["line_number"].tolist() == [5]  # the later line (line 1 is the header)


def test_too_many_invalid_records_refuse_the_run_and_commit_nothing(spark, lake_root):
    _land(lake_root, GOOD + [BAD["bad_type"]] * 2)
    with pytest.raises(IngestRefused, match="above the limit"):
        ingest(spark, SPEC, DAY, max_invalid_share=0.05)
    assert not lake.exists(settings.table_path("bronze", "telco_events"))
    (run,) = lake.read_arrow(settings.table_path("ops", "ingest_runs")).to_pylist()
    assert run["status"] == "refused" and run["records_in"] == 5 and run["quarantined"] == 2


def test_missing_landing_folder_is_refused_with_a_run_record(spark, lake_root):
    with pytest.raises(IngestRefused, match="no landing files"):
        ingest(spark, SPEC, DAY)
    (run,) = lake.read_arrow(settings.table_path("ops", "ingest_runs")).to_pylist()
    assert run["status"] == "refused"


def test_stages_commit_only_at_the_end_and_leave_no_staged_batch(spark, lake_root):
    from jobs.ingest.runner import commit_batch, load_staged, stage_batch, validate_batch

    _land(lake_root, GOOD + [BAD["duplicate"]])
    staged = stage_batch(spark, SPEC, DAY)
    assert (staged["records_in"], staged["accepted"], staged["quarantined"]) == (4, 3, 1)
    assert not lake.exists(settings.table_path("bronze", "telco_events"))  # nothing committed yet
    validated = validate_batch(spark, SPEC, staged["staging"])
    assert json.loads(validated["expectations"])
    assert load_staged(staged["staging"])["run_id"] == staged["run_id"]
    record = commit_batch(spark, SPEC, staged["staging"])
    assert record["status"] == "succeeded" and record["bronze_version"] == 0
    assert lake.read_arrow(settings.table_path("bronze", "telco_events")).num_rows == 3
    assert not (lake_root / "ingest_staging" / "telco" / DAY.isoformat() / staged["run_id"]).exists()
    with pytest.raises(IngestRefused, match="no staged batch"):
        commit_batch(spark, SPEC, staged["staging"])  # a committed batch cannot be committed twice
    (run,) = lake.read_arrow(settings.table_path("ops", "ingest_runs")).to_pylist()
    assert run["run_id"] == staged["run_id"] and run["event_date"] == DAY
