"""The thin slice end to end on a small simulated day: simulate -> ingest -> aggregate -> publish."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from jobs.common import lake, settings
from jobs.privacy import ledger
from jobs.privacy.identifier_scan import scan_lake

pytestmark = [pytest.mark.spark, pytest.mark.integration]
DAY = dt.date(2026, 3, 2)
CONTRACT = "kk-inner-city-presence"


@pytest.fixture(scope="module")
def slice_run(spark, tmp_path_factory):
    from jobs.aggregate.silver import build_silver
    from jobs.ingest.feeds.telco import SPEC
    from jobs.ingest.runner import ingest
    from jobs.publish.approvals import approve_all
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract
    from jobs.simulate.main import run as simulate

    root = tmp_path_factory.mktemp("slice") / "lake"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CDE_LAKE", str(root))
        simulate(1500, 1, DAY, seed=11, events_per_person=25)
        ingested = ingest(spark, SPEC, DAY)
        build_silver(spark, DAY, ("telco",))
        contract = find_contract(CONTRACT)
        approve_all(contract)
        first = publish(spark, contract, DAY)
        second = publish(spark, contract, DAY)
        entries = ledger.read_entries()
        gold = lake.read_arrow(settings.table_path("gold", CONTRACT)).to_pandas()
        releases = lake.read_arrow(settings.table_path("gold", "releases")).to_pandas()
        yield {"root": root, "ingested": ingested, "contract": contract, "first": first, "second": second,
               "entries": entries, "gold": gold, "releases": releases}


def test_manifest_matches_the_files(slice_run):
    from jobs.publish.deliver import verify_manifest

    outbox = Path(slice_run["first"]["outbox"])
    assert outbox.parts[-4:-1] == ("outbox", "kobenhavns-kommune", CONTRACT)
    assert verify_manifest(outbox) == []
    manifest = json.loads((outbox / "manifest.json").read_text())
    for key in ("contract_id", "contract_version", "buyer", "delivery_id", "window_start", "window_end",
                "release_ids", "created_at", "files", "privacy"):
        assert key in manifest
    assert manifest["window_start"] == "2026-03-02T00:00:00+01:00"
    assert manifest["privacy"]["ci95_half_width"] > 0
    # A tampered file is caught.
    csv_path = outbox / "data.csv"
    original = csv_path.read_bytes()
    csv_path.write_bytes(original.replace(b"true", b"TRUE", 1))
    assert any("sha256" in p for p in verify_manifest(outbox))
    csv_path.write_bytes(original)


def test_every_released_value_is_at_least_k_or_suppressed_and_null(slice_run):
    k = slice_run["contract"].k
    outbox = Path(slice_run["first"]["outbox"])
    table = pq.read_table(outbox / "data.parquet").to_pandas()
    released = table[~table["suppressed"]]
    assert (released["value"] >= k).all()
    assert table.loc[table["suppressed"], "value"].isna().all()
    assert len(released) > 0 and table["suppressed"].any()
    csv = pd.read_csv(outbox / "data.csv", dtype={"value": "Int64"})
    assert csv.loc[csv["suppressed"], "value"].isna().all()
    features = json.loads((outbox / "data.geojson").read_text())["features"]
    assert all(f["properties"]["value"] is None for f in features if f["properties"]["suppressed"])
    assert all(f["properties"]["value"] >= k for f in features if not f["properties"]["suppressed"])


def test_domain_is_complete_and_local_bins_carry_their_offset(slice_run):
    outbox = Path(slice_run["first"]["outbox"])
    table = pq.read_table(outbox / "data.parquet").to_pandas()
    assert table.groupby("h3_cell").size().eq(24).all()
    assert table["bin_start"].str.endswith("+01:00").all()


def test_noise_is_drawn_once_products_carry_the_stored_release(slice_run):
    releases, gold = slice_run["releases"], slice_run["gold"]
    assert releases["release_id"].nunique() == 1
    from jobs.common.h3cells import int_to_cell

    stored = {(int_to_cell(r.h3_cell), r.bin_start): r.value for r in releases.itertuples()}
    outbox = Path(slice_run["first"]["outbox"])
    files = pq.read_table(outbox / "data.parquet").to_pandas()
    from jobs.common.timebins import local_iso

    by_local = {(c, local_iso(b.to_pydatetime())): v for (c, b), v in stored.items()}
    for row in files[~files["suppressed"]].itertuples():
        assert by_local[(row.h3_cell, row.bin_start)] == row.value
    assert len(gold) == len(files)


def test_rerun_reuses_the_release_and_spends_nothing(slice_run):
    first, second, entries = slice_run["first"], slice_run["second"], slice_run["entries"]
    assert first["epsilon_spent"] == slice_run["contract"].epsilon and second["epsilon_spent"] == 0
    assert first["delivery_id"] == second["delivery_id"]
    assert (entries["kind"] == "spend").sum() == 1
    assert first["released"] == second["released"]


def test_no_raw_imsi_anywhere_in_the_lake(slice_run):
    root = slice_run["root"]
    imsis = set()
    for path in (root / "landing" / "telco").rglob("*.csv"):
        imsis |= set(pd.read_csv(path, dtype=str)["imsi"])
    assert len(imsis) > 1000
    assert scan_lake(root, imsis) == []
    # The scan does find an identifier when one is there.
    leak = root / "outbox" / "leak.csv"
    leak.write_text(f"id\n{sorted(imsis)[0]}\n")
    assert len(scan_lake(root, imsis)) == 1
    leak.unlink()


def test_audit_states_bounds_mechanism_budget_and_counts(slice_run):
    audit = json.loads(Path(slice_run["first"]["audit"]["json"]).read_text())
    privacy, result = audit["privacy"], audit["result"]
    bound = slice_run["contract"].bounds["max_cells_per_day"]
    assert privacy["bounds"] == {"max_cells_per_day": bound}
    (figures,) = privacy["metrics"]
    assert figures["bound"] == f"per person and day at most {bound} (cell, bin) pairs, once per pair"
    assert figures["sensitivity_l1"] == bound and figures["noise_scale"] == privacy["noise_scale"]
    assert privacy["mechanism"] == "geometric"
    epsilon = slice_run["contract"].epsilon
    assert privacy["budget"]["contract_epsilon_spent"] == epsilon
    assert privacy["budget"]["contract_epsilon_left"] == slice_run["contract"].budget_epsilon_per_period - epsilon
    assert result["released"] + result["suppressed"] == result["rows"]
    assert audit["inputs"]["ingest_runs"][0]["records_in"] == slice_run["ingested"]["records_in"]
    stages = audit["releases"][0]["stages"]
    # the rows are restricted to the public domain before they are bounded
    assert stages[2].startswith("keep only rows inside the public domain") and stages[3].startswith("bound contributions")
    html = Path(slice_run["first"]["audit"]["html"]).read_text()
    assert f">{result['released']}<" in html and "<svg" in html and "http" not in html.split("<svg")[0]
