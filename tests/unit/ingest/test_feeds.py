"""Wifi, camera and ticket ingest: every reason class, messy files, pseudonyms only."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from jobs.common import lake, settings
from jobs.ingest import FEEDS
from jobs.ingest.runner import ingest
from jobs.privacy.identifier_scan import scan_lake

pytestmark = pytest.mark.spark
DAY = dt.date(2026, 3, 2)


def _reasons(record) -> dict:
    return json.loads(record["quarantined_by_reason"])


def test_wifi_reasons_randomised_probes_and_stable_association_devices(spark, lake_root, landed):
    rows = [
        {"mac": "3c:22:fb:11:22:33", "ap_id": "AP-1", "first_seen": "2026-03-02T10:00:00Z",
         "last_seen": "2026-03-02T10:05:00Z", "rssi": -60, "kind": "probe"},              # global MAC probe: kept
        {"mac": "3C-22-FB-11-22-33", "ap_id": "AP-2", "first_seen": "2026-03-02T12:00:00+01:00",
         "last_seen": "2026-03-02T12:30:00+01:00", "rssi": "-71", "kind": "association"},  # same device, dashes
        {"mac": "da:a1:19:00:00:01", "ap_id": "AP-1", "first_seen": "2026-03-02T10:00:00Z",
         "last_seen": "2026-03-02T11:00:00Z", "rssi": -50, "kind": "association"},        # per-network random MAC
        {"mac": "da:a1:19:00:00:02", "ap_id": "AP-1", "first_seen": "2026-03-02T10:00:00Z",
         "last_seen": "2026-03-02T10:00:10Z", "rssi": -80, "kind": "probe"},              # randomised_mac
        {"mac": "zz:zz", "ap_id": "AP-1", "first_seen": "2026-03-02T10:00:00Z",
         "last_seen": "2026-03-02T10:00:10Z", "rssi": -80, "kind": "probe"},              # bad_type
        {"mac": "3c:22:fb:11:22:34", "ap_id": "AP-1", "first_seen": "2026-03-02T10:00:00Z",
         "last_seen": "2026-03-02T09:00:00Z", "rssi": -80, "kind": "probe"},              # bad_type: last<first
        {"mac": "3c:22:fb:11:22:35", "ap_id": "AP-1", "first_seen": "2026-03-02T10:00:00Z",
         "last_seen": "2026-03-02T10:00:10Z", "rssi": 5, "kind": "probe"},                # bad_type: rssi
        {"mac": "3c:22:fb:11:22:36", "ap_id": "AP-9", "first_seen": "2026-03-02T10:00:00Z",
         "last_seen": "2026-03-02T10:00:10Z", "rssi": -80, "kind": "probe"},              # unknown_reference
        {"mac": "3c:22:fb:11:22:37", "ap_id": "AP-far", "first_seen": "2026-03-02T10:00:00Z",
         "last_seen": "2026-03-02T10:00:10Z", "rssi": -80, "kind": "probe"},              # out_of_region
        {"mac": "3c:22:fb:11:22:38", "ap_id": "AP-1", "first_seen": "2026-03-01T10:00:00Z",
         "last_seen": "2026-03-01T10:00:10Z", "rssi": -80, "kind": "probe"},              # out_of_window
    ]
    lines = [json.dumps(r) for r in rows] + [json.dumps(rows[0]), "{not json"]
    landed("wifi", "w.jsonl", "\n".join(lines) + "\n")
    record = ingest(spark, FEEDS["wifi"], DAY, max_invalid_share=1.0)
    assert record["records_in"] == 12 and record["accepted"] == 3
    assert _reasons(record) == {"unparseable": 1, "bad_type": 3, "out_of_window": 1, "unknown_reference": 1,
                                "out_of_region": 1, "randomised_mac": 1, "duplicate": 1}
    bronze = lake.read(spark, settings.table_path("bronze", "wifi_events")).toPandas()
    # The global MAC with ':' and with '-' is one device.
    assert bronze["pseudo_id"].nunique() == 2
    assert set(bronze["kind"]) == {"probe", "association"}
    assert bronze["randomised"].tolist().count(True) == 1
    assert scan_lake(lake_root, [r["mac"] for r in rows]) == []


def test_camera_counts_optional_class_and_bad_counts(spark, lake_root, landed):
    text = ("\ufeffcamera_id,interval_start,interval_minutes,count_in,count_out,class\r\n"
            "CAM-1,2026-03-02T08:00:00+01:00,15,12,9,pedestrian\r\n"
            "CAM-1,2026-03-02T08:15:00+01:00,15,0,0,\r\n"
            "CAM-1,2026-03-02T08:30:00+01:00,0,1,1,pedestrian\r\n"     # bad interval
            "CAM-1,2026-03-02T08:45:00+01:00,15,-1,1,pedestrian\r\n"   # negative count
            "CAM-1,2026-03-02T09:00:00+01:00,15,1,1,horse\r\n"         # bad class
            "CAM-far,2026-03-02T09:00:00+01:00,15,1,1,pedestrian\r\n"
            "CAM-1,2026-03-02T08:00:00+01:00,15,12,9,pedestrian\r\n")
    landed("camera", "c.csv", text)
    record = ingest(spark, FEEDS["camera"], DAY, max_invalid_share=1.0)
    assert record["accepted"] == 2
    assert _reasons(record) == {"bad_type": 3, "out_of_region": 1, "duplicate": 1}
    bronze = lake.read(spark, settings.table_path("bronze", "camera_events")).toPandas()
    assert sorted(bronze["count_in"]) == [0, 12]
    assert bronze["pseudo_id"].isna().all()
    # A vendor without the optional class column is fine.
    landed("camera", "c.csv", "camera_id,interval_start,interval_minutes,count_in,count_out\n"
                              "CAM-1,2026-03-02T10:00:00Z,60,5,4\n")
    record = ingest(spark, FEEDS["camera"], DAY)
    assert record["accepted"] == 1


def test_ticket_trips_with_and_without_check_out(spark, lake_root, landed):
    text = ("card_id,check_in_ts,check_in_stop,check_out_ts,check_out_stop,mode,product\n"
            "AB12CD34EF56,2026-03-02T08:00:00+01:00,8600001,2026-03-02T08:20:00+01:00,8600002,metro,Pendlerkort\n"
            "AB12CD34EF56,2026-03-02T17:00:00+01:00,8600002,,,metro,\"Rejsekort, Personlig\"\n"
            "ZZ99ZZ99ZZ99,2026-03-02T09:00:00+01:00,8600001,2026-03-02T08:00:00+01:00,8600002,bus,Periodekort\n"
            "ZZ99ZZ98ZZ99,2026-03-02T09:00:00+01:00,8600001,,8600002,bus,Periodekort\n"
            "short,2026-03-02T09:00:00+01:00,8600001,,,bus,Periodekort\n"
            "ZZ99ZZ97ZZ99,2026-03-02T09:00:00+01:00,8600001,2026-03-02T09:30:00+01:00,8600404,train,Periodekort\n"
            "ZZ99ZZ96ZZ99,2026-03-02T09:00:00+01:00,8600999,,,train,Periodekort\n"
            "ZZ99ZZ95ZZ99,2026-03-02T09:00:00+01:00,8600001,,,tram,Periodekort\n")
    landed("ticket", "t.csv", text)
    record = ingest(spark, FEEDS["ticket"], DAY, max_invalid_share=1.0)
    assert record["accepted"] == 2
    assert _reasons(record) == {"bad_type": 4, "unknown_reference": 1, "out_of_region": 1}
    bronze = lake.read(spark, settings.table_path("bronze", "ticket_events")).toPandas().sort_values("event_ts")
    assert bronze["h3_cell_out"].isna().tolist() == [False, True]
    assert bronze["product"].tolist() == ["Pendlerkort", "Rejsekort, Personlig"]
    assert bronze["pseudo_id"].nunique() == 1


def test_daylight_saving_day_keeps_both_repeated_hours(spark, lake_root, landed):
    autumn = dt.date(2026, 10, 25)
    text = ("imsi,event_ts,cell_id,event_type,home_mcc\n"
            "238011234567890,2026-10-25T02:30:00+02:00,c1,data,238\n"
            "238011234567890,2026-10-25T02:30:00+01:00,c1,data,238\n"
            "238011234567890,2026-10-25T23:59:59+01:00,c1,data,238\n"
            "238011234567890,2026-10-24T23:30:00+02:00,c1,data,238\n")
    landed("telco", "t.csv", text, day=autumn)
    record = ingest(spark, FEEDS["telco"], autumn, max_invalid_share=1.0)
    assert record["accepted"] == 3 and _reasons(record) == {"out_of_window": 1}
    bronze = lake.read(spark, settings.table_path("bronze", "telco_events")).toPandas()
    assert bronze["event_ts"].nunique() == 3


def test_data_docs_are_written_without_identifiers(spark, lake_root, landed):
    landed("telco", "t.csv", "imsi,event_ts,cell_id,event_type,home_mcc\n238011234567890,2026-03-02T10:00:00Z,"
                             "c1,data,238\n")
    record = ingest(spark, FEEDS["telco"], DAY)
    docs = lake_root / "data_docs" / "telco" / DAY.isoformat()
    assert (docs / "index.html").exists()
    assert list((docs / "validations").rglob("*.html"))
    summary = json.loads(record["expectations"])
    assert summary and all(e["success"] for e in summary)
    assert not any(e["column"] in ("pseudo_id", "imsi") for e in summary)
    assert scan_lake(lake_root, ["238011234567890"]) == []


def test_data_docs_load_no_script_or_style_from_the_network(spark, lake_root, landed):
    import re

    from jobs.ingest.datadocs import VENDOR, remote_assets

    if not VENDOR.is_dir():
        pytest.fail("vendor/datadocs/node_modules is missing: make install runs npm ci there")
    landed("telco", "t.csv", "imsi,event_ts,cell_id,event_type,home_mcc\n238011234567890,2026-03-02T10:00:00Z,"
                             "c1,data,238\n")
    ingest(spark, FEEDS["telco"], DAY)
    pages = list((lake_root / "data_docs" / "telco" / DAY.isoformat()).rglob("*.html"))
    assert len(pages) >= 2
    for page in pages:
        html = page.read_text()
        assert remote_assets(html) == [], page
        local = re.findall(r'(?:src|href)="([^"]*_assets/[^"]+)"', html)
        assert any(path.endswith("bootstrap.min.css") for path in local), page
        assert all((page.parent / path).resolve().is_file() for path in local), page
    assert (lake_root / "data_docs" / "_assets" / "@fortawesome/fontawesome-free/webfonts").is_dir()


def test_a_failed_critical_expectation_refuses_the_run(spark, lake_root, landed, monkeypatch, tmp_path):
    from jobs.ingest import quality
    from jobs.ingest.runner import IngestRefused

    suite = json.loads((quality.SUITES_DIR / "telco.json").read_text())
    suite["expectations"].append({"type": "expect_column_values_to_be_in_set",
                                  "kwargs": {"column": "event_type", "value_set": ["call"]}, "critical": True})
    (tmp_path / "telco.json").write_text(json.dumps(suite))
    monkeypatch.setattr(quality, "SUITES_DIR", tmp_path)
    landed("telco", "t.csv", "imsi,event_ts,cell_id,event_type,home_mcc\n238011234567890,2026-03-02T10:00:00Z,"
                             "c1,data,238\n")
    with pytest.raises(IngestRefused, match="critical expectation failed: expect_column_values_to_be_in_set"):
        ingest(spark, FEEDS["telco"], DAY)
    assert not lake.exists(settings.table_path("bronze", "telco_events"))
    (run,) = lake.read_arrow(settings.table_path("ops", "ingest_runs")).to_pylist()
    assert run["status"] == "refused" and "event_type" in run["message"]
