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
    from jobs.contracts import contract_files
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import load_contract

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
    # One spend per contract with releases of its own; a derived contract records a use of its parent's.
    derived = [c for c, _ in out.values() if c.derived_from]
    assert derived and (entries["kind"] == "spend").sum() == len(out) - len(derived)
    assert (entries["kind"] == "use").sum() == len(derived)
    assert ledger.verify_chain(entries) == len(entries)


def test_od_products_are_zero_filled_over_every_pair_of_public_cells(deliveries):
    import h3

    from jobs.privacy.domain import domain_cells

    _, out, entries = deliveries
    contract, result = out["kk-traffic-od"]
    od = _table(result)
    assert list(od.columns[:2]) == ["origin_h3", "destination_h3"]
    cells = domain_cells(contract.area, contract.h3_resolution)
    # Every (origin, destination) pair of the area's public cells, released or suppressed; no delta spent.
    assert len(od) == len(cells) ** 2 and od[["origin_h3", "destination_h3"]].drop_duplicates().shape[0] == len(od)
    assert set(od["origin_h3"]) == set(cells) and all(h3.get_resolution(c) == 7 for c in cells)
    spend = entries[entries["contract_id"] == "kk-traffic-od"].iloc[0]
    assert spend["delta"] == 0 and spend["mechanism"] == "geometric"
    geo = json.loads((Path(result["outbox"]) / "data.geojson").read_text())
    # a pair inside one cell is drawn as that cell's centre point; every other pair as a line
    for f in geo["features"]:
        same = f["properties"]["origin_h3"] == f["properties"]["destination_h3"]
        assert f["geometry"]["type"] == ("Point" if same else "LineString")


def test_tourism_product_is_by_the_buyers_countries_per_day_with_the_plain_bound(deliveries):
    contract, result = deliveries[1]["wonderful-cph-tourists"]
    table = _table(result)
    assert "country" in table.columns and table["bin_minutes"].eq(1440).all()
    # the buyer's public list plus "other", never every ISO country
    assert set(table["country"]) == {*contract.countries, "other"}
    assert table.groupby("h3_cell").size().eq(len(contract.countries) + 1).all()
    manifest = json.loads((Path(result["outbox"]) / "manifest.json").read_text())
    # the home country is fixed per pseudonym: no doubled bound and no look-back (docs/architecture.md, the privacy model)
    (figures,) = manifest["privacy"]["metrics"]
    assert figures["sensitivity_l1"] == contract.bounds["max_cells_per_day"] and figures["lookback_days"] == 0
    assert figures["expected_phantom_rows"] <= 10 and figures["phantom_probability"] <= 0.01


def test_retail_product_has_every_hour(deliveries):
    _, result = deliveries[1]["retail-stroget-footfall"]
    table = _table(result)
    assert table.groupby("h3_cell").size().eq(24).all()
    assert lake.exists(settings.table_path("gold", "retail-stroget-footfall"))


def test_every_released_value_carries_its_interval_and_suppressed_ones_none(deliveries):
    _, out, _ = deliveries
    for contract_id, (_contract, result) in out.items():
        table = _table(result)
        stated = result["manifest"]["privacy"]["metrics"][0]["ci95_half_width"]
        assert (table.loc[~table["suppressed"], "ci95_half_width"] == stated).all(), contract_id
        assert table.loc[table["suppressed"], "ci95_half_width"].isna().all(), contract_id
