"""Every example contract releases and delivers from one small simulated day of all four feeds."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from jobs.common import lake, settings
from jobs.privacy import ledger

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]
DAY = dt.date(2026, 3, 3)  # the shared simulated day (conftest.py)


@pytest.fixture(scope="module")
def deliveries(spark, simulated_day):
    from jobs.publish.contracts import contract_files, load_contract
    from jobs.publish.deliver import publish

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CDE_LAKE", str(simulated_day.root))
        out = {}
        for path in contract_files():
            contract = load_contract(path)
            out[contract.id] = (contract, publish(spark, contract, DAY))
        yield simulated_day.root, out, ledger.read_entries()


def _table(result):
    return pq.read_table(Path(result["outbox"]) / "data.parquet").to_pandas()


def test_every_contract_delivers_a_verified_manifest_with_k_respected(deliveries):
    from jobs.publish.deliver import verify_manifest

    _, out, entries = deliveries
    assert len(out) >= 5
    for contract_id, (contract, result) in out.items():
        assert verify_manifest(Path(result["outbox"])) == [], contract_id
        table = _table(result)
        released = table[~table["suppressed"]]
        assert (released["value"] >= contract.k).all(), contract_id
        assert table.loc[table["suppressed"], "value"].isna().all(), contract_id
    assert (entries["kind"] == "spend").sum() == len(out)
    assert ledger.verify_chain(entries) == len(entries)


def test_od_products_carry_origin_destination_and_public_modes(deliveries):
    _, out, entries = deliveries
    od = _table(out["kk-traffic-od"][1])
    assert list(od.columns[:2]) == ["origin_h3", "destination_h3"]
    assert set(od["mode"]) <= {"bus", "metro", "train", "harbour_bus", "bike"}
    # Partition selection: pairs not selected are left out, never written as suppressed rows.
    assert not od["suppressed"].any()
    spend = entries[entries["contract_id"] == "kk-traffic-od"].iloc[0]
    assert spend["delta"] > 0
    geo = json.loads((Path(out["kk-traffic-od"][1]["outbox"]) / "data.geojson").read_text())
    assert all(f["geometry"]["type"] == "LineString" for f in geo["features"])


def test_tourism_product_is_by_country_per_day_with_the_plain_bound(deliveries):
    contract, result = deliveries[1]["wonderful-cph-tourists"]
    table = _table(result)
    assert "country" in table.columns and table["bin_minutes"].eq(1440).all()
    assert table["country"].nunique() > 200          # the public ISO list, not the data
    released = set(table.loc[~table["suppressed"], "country"])
    assert "DK" in released
    manifest = json.loads((Path(result["outbox"]) / "manifest.json").read_text())
    # the home country is fixed per pseudonym: no doubled bound and no look-back (DESIGN.md section 6)
    (figures,) = manifest["privacy"]["metrics"]
    assert figures["sensitivity_l1"] == contract.bounds["max_cells_per_day"] and figures["lookback_days"] == 0


def test_retail_product_has_every_quarter_hour(deliveries):
    _, result = deliveries[1]["retail-stroget-footfall"]
    table = _table(result)
    assert table.groupby("h3_cell").size().eq(96).all()
    assert lake.exists(settings.table_path("gold", "retail-stroget-footfall"))
