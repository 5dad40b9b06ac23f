"""The ESS operator feed (``mno``, issue 35): files in the ESS / Eurostat MNO schema, written by our own generator
with the damage a supplier's files carry, are ingested with every record accounted for, the network and event
quality warnings and the ignored columns in the run record, and the warnings in the Data Docs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from jobs.common import lake, settings, tables
from jobs.ingest.event_quality import compare_with_usual
from jobs.ingest.feeds.mno import SPEC
from jobs.ingest.network import cells_on, clean_topology
from jobs.ingest.runner import ingest

DAY = dt.date(2026, 3, 2)


@pytest.fixture(scope="module")
def ess_day(spark, tmp_path_factory):
    """A simulated operator's damaged day (300 people) ingested once, with its record counts by damage kind."""
    from jobs.simulate.ess import damage, ess_events, ess_topology, write_ess_day
    from jobs.simulate.movement import day_plans
    from jobs.simulate.population import make_population
    from jobs.simulate.telco import simulate_day
    from jobs.simulate.towers import ServingCell, make_towers

    root = tmp_path_factory.mktemp("ess") / "lake"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CDE_LAKE", str(root))
        people, towers = make_population(300, 3), make_towers(3)
        simulated = simulate_day(people, day_plans(people, DAY, 3), ServingCell(towers), 3, 20)
        events, topology, counts = damage(ess_events(simulated), ess_topology(towers, dt.date(2026, 1, 1)), DAY, 3)
        write_ess_day(events, topology, settings.landing_path("mno", DAY.isoformat()),
                      settings.reference_path(f"mno_network/{DAY}"), csv_rows=400)
        run = ingest(spark, SPEC, DAY)
        bronze = lake.read(spark, tables.bronze("mno").path()).toPandas()
        quarantine = lake.read(spark, tables.quarantine("mno").path()).toPandas()
    return run, events, counts, bronze, quarantine, root


@pytest.mark.spark
def test_every_record_of_a_damaged_ess_day_is_accounted_for_by_reason(ess_day):
    run, events, counts, _, quarantine, _ = ess_day
    assert run["status"] == "succeeded" and run["files"] == 2  # one Parquet, one CSV part
    assert run["records_in"] == len(events) == run["accepted"] + run["quarantined"]
    reasons = json.loads(run["quarantined_by_reason"])
    assert reasons["bad_type"] == sum(counts[k] for k in ("null_user_id", "bad_timestamp", "bad_mcc", "bad_mnc",
                                                          "no_domain"))
    assert reasons["unknown_reference"] == counts["unknown_cell"] + counts["retired_cell"] + counts["unplaced_cell"]
    assert reasons["out_of_region"] == counts["outbound"] + counts["outside_region"]
    natural = events.drop(columns="is_modified").assign(user_id=events["user_id"].map(
        lambda v: v.hex() if v is not None else None)).duplicated().sum()  # the same device, second and cell
    assert reasons["duplicate"] == natural >= counts["duplicate"]
    assert "unparseable" not in reasons
    details = set(quarantine["detail"])
    assert {"user_id: empty", "mnc: not 2 or 3 digits", "mcc: not 3 digits (100-999)",
            "cell has no position in the network topology", f"cell not valid on {DAY} in the network topology",
            "id not in the reference data", "outbound roaming record: the subscriber is abroad",
            "location outside the region"} <= details
    assert any(d.startswith("timestamp: not ISO-8601") for d in details)
    assert any(d.startswith("mcc, mnc, plmn: no network domain") for d in details)


@pytest.mark.spark
def test_run_record_lists_ignored_columns_and_quality_warnings(ess_day):
    run, *_, root = ess_day
    assert json.loads(run["extra_columns"]) == ["is_modified"]
    warnings = json.loads(run["warnings"])
    network = {w["warning"]: w["cells"] for w in warnings["network"]["warnings"]}
    assert network == {"horizontal_beam_width: not a number in [0, 360]": 1,
                       "cells without a position (their events are quarantined)": 1}
    assert warnings["network"]["cells_not_valid_that_day"] == 1 and warnings["network"]["fallback"] is None
    assert "no comparison" in warnings["events"]["note"]  # the first day has no usual level to compare with
    from deltalake import DeltaTable

    recorded = DeltaTable(str(root / "ops" / "ingest_runs")).to_pandas()
    assert recorded.loc[recorded["run_id"] == run["run_id"], "extra_columns"].tolist() == ['["is_modified"]']
    docs = root / "data_docs" / "mno" / DAY.isoformat()
    page = (docs / "quality_warnings.html").read_text()
    assert "horizontal_beam_width" in page and "cells without a position" in page
    assert 'href="quality_warnings.html"' in (docs / "index.html").read_text()


@pytest.mark.spark
def test_bronze_holds_pseudonyms_only_and_places_records_by_cell_or_coordinates(ess_day):
    _, events, counts, bronze, _, _ = ess_day
    assert "user_id" not in bronze.columns and bronze["pseudo_id"].notna().all()
    assert bronze["h3_cell"].notna().all()
    by_point = bronze[bronze["cell_id"].isna()]
    assert len(by_point) == counts["placed_by_coordinates"]
    # the CSV part writes ids as upper-case hex: one device has one pseudonym across both files
    cut = len(events) - 400
    row = bronze["line_number"] - 1 + bronze["source_file"].str.endswith(".csv") * (cut - 1)  # CSV: a header
    devices = bronze.assign(device=events["user_id"].to_numpy()[row.to_numpy()])
    assert devices.groupby("device")["pseudo_id"].nunique().eq(1).all()
    assert devices.groupby("pseudo_id")["device"].nunique().eq(1).all()
    in_both = devices.groupby("device")["source_file"].nunique()
    assert (in_both == 2).sum() > 50


def _csv(root, day, text, name="events.csv"):
    folder = settings.landing_path("mno", day.isoformat())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


def _cells(root, day, rows):
    folder = settings.reference_path(f"mno_network/{day}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cells.csv").write_text("cell_id,latitude,longitude,directionality,azimuth_angle,"
                                      "horizontal_beam_width,range,valid_date_start,valid_date_end\n" + rows)


@pytest.mark.spark
def test_naive_timestamps_read_in_the_suppliers_stated_zone_and_an_earlier_snapshot_used(spark, lake_root,
                                                                                        tmp_path, monkeypatch):
    registry = tmp_path / "suppliers.yaml"
    registry.write_text(
        "suppliers:\n  - id: op\n    name: Operator\n    sources: [mno]\n"
        "    approvers: [{name: Officer, email: dpo@op.example}]\n"
        "    timestamps_without_offset: {mno: Europe/Copenhagen}\n")
    monkeypatch.setenv("CDE_SUPPLIER_REGISTRY", str(registry))
    _cells(lake_root, DAY - dt.timedelta(days=3), "2380100000001,55.6761,12.5683,1,0,120,500,2026-01-01,\n"
                                                  "2380100000002,55.6761,12.5683,1,120,120,500,2026-01-01,"
                                                  "2026-02-28T00:00:00\n")
    _csv(lake_root, DAY, "user_id,timestamp,mcc,mnc,plmn,cell_id\n"
                         "a1,2026-03-02T23:30:00,238,01,,2380100000001\n"      # 23:30 in Copenhagen: this day
                         "a2,2026-03-02 00:10:00,238,01,,2380100000001\n"      # a space for the T
                         "a3,2026-03-02T00:10:00Z,238,01,,2380100000001\n"     # 01:10 local: an offset wins
                         "a4,2026-03-01T23:59:00Z,238,01,,2380100000001\n"     # 00:59 local on the day
                         "a5,2026-03-02T10:00:00,238,01,,2380100000002\n")     # retired on 02-28
    run = ingest(spark, SPEC, DAY, validate=False, max_invalid_share=0.5)
    assert (run["records_in"], run["accepted"]) == (5, 4)
    assert json.loads(run["quarantined_by_reason"]) == {"unknown_reference": 1}
    warnings = json.loads(run["warnings"])["network"]
    assert warnings["fallback"] == f"no topology snapshot for {DAY}: the snapshot of 2026-02-27 was used"
    bronze = lake.read(spark, tables.bronze("mno").path()).toPandas().sort_values("line_number")
    assert list(pd.to_datetime(bronze["event_ts"]).dt.strftime("%H:%M")) == ["22:30", "23:10", "00:10", "23:59"]


def test_a_cell_is_valid_from_its_start_to_its_end_day_inclusive():
    frame = pd.DataFrame({"cell_id": ["a", "b", "c", "d", "d"], "latitude": ["55.6"] * 5, "longitude": ["12.5"] * 5,
                          "valid_date_start": ["2026-03-02", "2026-01-01", None, "2026-01-01", "2026-02-01"],
                          "valid_date_end": [None, "2026-03-02T00:00:00", "20260301", None, None]})
    cells, warnings = clean_topology(frame)
    valid, other_days, day_warnings = cells_on(cells, DAY)
    assert sorted(valid["cell_id"]) == ["a", "b", "d"] and list(other_days) == ["c"]
    assert len(day_warnings) == 1 and not warnings  # d is listed twice for the day: the later start is kept
    assert valid.set_index("cell_id").loc["d", "valid_date_start"] == dt.date(2026, 2, 1)


def test_network_quality_warnings_name_the_field_and_count_cells():
    frame = pd.DataFrame({"cell_id": ["a", "b", ""], "latitude": ["55.6", "x", "55"], "longitude": ["12.5"] * 3,
                          "azimuth_angle": ["400", "10", None], "technology": ["LTE", "6G", None],
                          "valid_date_start": ["2026-13-01", None, None]})
    cells, warnings = clean_topology(frame)
    assert warnings == {"latitude: not a number in [-90, 90]": 1, "azimuth_angle: not a number in [0, 360]": 1,
                        "technology: not one of 5G | LTE | UMTS | GSM": 1,
                        "valid_date_start: not a date (YYYY-MM-DD)": 1, "cell_id: empty (row not used)": 1}
    assert len(cells) == 2 and cells["azimuth_angle"].isna().iloc[0]


def test_event_counts_far_from_their_usual_level_are_warned():
    history = pd.DataFrame([(f"2026-02-{d:02d}", cell, 9, 100) for d in range(23, 28) for cell in ("a", "b", "c")],
                           columns=["day", "cell_id", "hour", "events"])
    today = pd.DataFrame([("a", 9, 300), ("b", 9, 104), ("d", 9, 12)], columns=["cell_id", "hour", "events"])
    result = compare_with_usual(today, history)
    # a: three times its usual level; c: silent; b within its spread; d: new but too small to judge
    assert (result["above_usual"], result["below_usual"], result["lookback_days"]) == (1, 1, 5)
    assert result["cell_hours"] == 3
    assert {e["cell_id"] for e in result["examples"]} == {"a", "c"}
    assert "note" in compare_with_usual(today, history[history["day"] < "2026-02-25"])


@pytest.mark.spark
def test_event_warnings_compare_the_day_with_the_feeds_bronze_history(spark, lake_root):
    from jobs.ingest.event_quality import event_warnings

    utc = dt.timezone.utc
    history = [(dt.date(2026, 2, d), "c1", dt.datetime(2026, 2, d, 8, 30, tzinfo=utc)) for d in (25, 26, 27, 28)
               for _ in range(30)]
    lake.write(spark.createDataFrame(history, "event_date date, cell_id string, event_ts timestamp"),
               tables.bronze("mno").path(), partition_by=["event_date"])
    today = [(None, "c1", dt.datetime(2026, 3, 1, 8, 10, tzinfo=utc))] * 90 + [
        ("duplicate", "c1", dt.datetime(2026, 3, 1, 8, 10, tzinfo=utc))] * 50  # quarantined: not counted
    result = event_warnings(spark, spark.createDataFrame(today, "reason string, cell_id string, event_ts timestamp"),
                            dt.date(2026, 3, 1))
    assert (result["lookback_days"], result["above_usual"], result["below_usual"]) == (4, 1, 0)
    assert result["examples"] == [{"cell_id": "c1", "local_hour": 9, "events": 90, "usual": 30.0}]  # 09:10 local


def test_the_operator_page_states_ignored_columns_and_warnings_in_words():
    from jobs.portal.views import run_notes

    warnings = {"network": {"snapshot": "s", "fallback": "no topology snapshot for 2026-03-02: the snapshot of "
                                                         "2026-02-27 was used", "cells_valid": 10,
                            "cells_not_valid_that_day": 1,
                            "warnings": [{"warning": "range: not a number", "cells": 2}]},
                "events": {"lookback_days": 4, "cell_hours": 30, "above_usual": 2, "below_usual": 0, "examples": []}}
    assert run_notes('["is_modified", "year"]', json.dumps(warnings)) == [
        "columns ignored (not in the feed's schema): is_modified, year",
        "network: no topology snapshot for 2026-03-02: the snapshot of 2026-02-27 was used; 10 cells valid that day; "
        "1 listed for other days only; range: not a number (2 cells)",
        "events: 2 cell-hours above their usual level, 0 below (of 30, against the 4 earlier days)"]
    assert run_notes(None, None) == [] and run_notes("[]", "") == []


def test_the_contract_schema_names_every_registered_feed():
    from jobs.contracts.document import schema
    from jobs.ingest.feeds import FEEDS

    assert sorted(schema("terms.schema.json")["properties"]["sources"]["items"]["enum"]) == sorted(FEEDS)


@pytest.mark.spark
def test_an_ess_operators_day_becomes_a_published_product(spark, ess_day, tmp_path, monkeypatch):
    import yaml

    from jobs.aggregate.silver import build_silver
    from jobs.common import paths
    from jobs.publish.approvals import approve_all
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import load_contract

    *_, root = ess_day
    monkeypatch.setenv("CDE_LAKE", str(root))
    registry = tmp_path / "suppliers.yaml"
    registry.write_text("suppliers:\n  - id: ess-operator\n    name: An ESS operator\n    sources: [mno]\n"
                        "    approvers: [{name: Privacy office, email: dpo@operator.example}]\n")
    monkeypatch.setenv("CDE_SUPPLIER_REGISTRY", str(registry))
    document = yaml.safe_load((settings.REPO_ROOT / "contracts" / "kk-inner-city-presence.yaml").read_text())
    document["id"] = "ess-inner-city-presence"
    values = {"suppliers": ["ess-operator"], "sources": ["mno"], "k": 10, "h3_resolution": 9, "time_bin": "1d",
              "max_cells_per_day": 1,
              "formats": ["parquet"]}
    document["customProperties"] = [{**item, "value": values.get(item["property"], item["value"])}
                                    for item in document["customProperties"] if item["property"] != "market_share"]
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "ess-inner-city-presence.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    monkeypatch.setenv("CDE_CONTRACTS", str(contracts))
    paths.simulation(paths.SIMULATION_MARKER).parent.mkdir(parents=True, exist_ok=True)
    paths.simulation(paths.SIMULATION_MARKER).write_text("{}")  # the simulated supplier may approve here
    build_silver(spark, DAY)  # also computes the day's footprints (none served it yet)
    sizes = tables.footprint_size("mno", DAY, 9)
    assert sizes["valid_date"] == DAY.isoformat() and sizes["median_cells"] > 7 and sizes["supported_resolution"] < 9
    contract = load_contract(contracts / "ess-inner-city-presence.yaml")
    approve_all(contract)
    from jobs.errors import ReleaseRefused

    # at resolution 9 the footprints are far larger than the product's cells: refused before any spend ...
    with pytest.raises(ReleaseRefused, match=f"supports about resolution {sizes['supported_resolution']}"):
        publish(spark, dataclasses.replace(contract, placement_check="refuse"), DAY)
    assert not tables.LEDGER.exists()
    result = publish(spark, contract, DAY)  # ... or, by default, delivered with the warning
    product = pd.read_parquet(f"{result['outbox']}/data.parquet")
    assert len(product) == result["released"] + result["suppressed"] > 0 and result["epsilon_spent"] > 0
    readme = (Path(result["outbox"]) / "README.md").read_text()
    assert "from mno data of ess-operator" in readme and "## Where people are placed" in readme
    assert "WARNING: At H3 resolution 9 the mno network's cell footprints, as the pipeline estimates them" in readme
    audit = json.loads(Path(result["audit"]["json"]).read_text())
    assert audit["placement"]["warning"] and audit["placement"]["check"] == "warn"
    assert "Where people are placed" in Path(result["audit"]["html"]).read_text()

    # present population from the same day: people spread over the footprints, in hundredths of a person
    present = dataclasses.replace(contract, id="ess-present-population", metrics=("present_population",))
    approve_all(present)
    delivered = publish(spark, present, DAY)
    values = pd.read_parquet(f"{delivered['outbox']}/data.parquet")
    assert set(values["metric"]) == {"present_population"} and delivered["epsilon_spent"] > 0
    readme = (Path(delivered["outbox"]) / "README.md").read_text()
    assert "present_population: at each bin's start, each person spread over the footprint" in readme
    assert "hundredths of a person" in readme
