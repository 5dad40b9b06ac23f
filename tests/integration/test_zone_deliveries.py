"""Buyer zones end to end: distinct people released per zone, additive trips summed from the cell release
into zone pairs, delivered with zone ids, zone geometries and their own intervals, validated as packages."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]
DAY = dt.date(2026, 3, 3)  # the shared simulated day (conftest.py)
ZONES = Path(__file__).resolve().parents[1] / "data" / "zones"
INNER = {"file": str(ZONES / "indre-by-quarters.geojson"), "id_property": "name"}
KOMMUNE = {"file": str(ZONES / "kommune-quarters.geojson"), "id_property": "bydel"}


@pytest.fixture(scope="module")
def zoned(spark, simulated_day, tmp_path_factory, lake_copier, zoned_contract):
    """The inner-city presence over four quarters and the municipality's OD over four quarters (at the k
    validation says passes), published into a private lake."""
    from jobs.errors import ContractError
    from jobs.publish.approvals import approve_all
    from jobs.publish.deliver import publish

    base = tmp_path_factory.mktemp("zoned")
    root = lake_copier(Path(simulated_day.root), base / "lake")
    folder = base / "contracts"
    folder.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CDE_LAKE", str(root))
        mp.setenv("CDE_CONTRACTS", str(folder))
        try:
            zoned_contract(folder, "kk-traffic-od", KOMMUNE)
            raise AssertionError("the OD zone sums at k 34 should be refused")
        except ContractError as refused:
            k = int(re.search(r"k (\d+) would pass", str(refused)).group(1))
        out = {}
        for contract in (zoned_contract(folder, "kk-inner-city-presence", INNER),
                         zoned_contract(folder, "kk-traffic-od", KOMMUNE, k=k)):
            approve_all(contract)
            out[contract.id] = (contract, Path(publish(spark, contract, DAY)["outbox"]))
        yield out


def _release(contract):
    from jobs.privacy.release import plan_for, read_release

    plan = plan_for(contract, contract.metrics[0], DAY, DAY + dt.timedelta(days=1))
    return plan, read_release(plan.release_id).to_pandas()


def test_distinct_people_are_released_per_zone_once(zoned):
    from jobs.privacy import ledger

    contract, folder = zoned["kk-inner-city-presence"]
    product = pd.read_parquet(folder / "data.parquet")
    names = ["north-west", "north-east", "south-west", "south-east"]
    assert "h3_cell" not in product and sorted(product["zone"].unique()) == sorted(names)
    assert len(product) == 4 * 24  # every zone and hour of the day: a zero-filled zone domain
    plan, release = _release(contract)
    assert plan.zones and len(release) == 96 and set(release["h3_cell"]) == {0, 1, 2, 3}
    spends = ledger.read_entries()
    spends = spends[(spends["kind"] == "spend") & (spends["release_id"] == plan.release_id)]
    assert len(spends) == 1 and float(spends["epsilon"].iloc[0]) == contract.epsilon
    # released zone values are the stored noisy values of their zone, nothing else
    stored = {(names[int(r.h3_cell)], pd.Timestamp(r.bin_start)): r.value for r in release.itertuples()}
    released = product[~product["suppressed"]]
    for row in released.itertuples():
        assert stored[(row.zone, pd.Timestamp(row.bin_start_utc))] == row.value
    assert (product.loc[product["suppressed"], "value"].isna()).all()
    assert (released["ci95_half_width"] == plan.noise()["ci95_half_width"]).all()


def test_a_zone_release_counts_people_near_their_true_zone_count(zoned, spark):
    from jobs.evaluate import evaluate_delivery

    contract, folder = zoned["kk-inner-city-presence"]
    figures = evaluate_delivery(spark, str(folder))["metrics"]["unique_people"]
    assert figures["keys"] == 96
    product = pd.read_parquet(folder / "data.parquet")
    if figures["released"]:  # released values lie within 5 intervals of the exact bounded zone count
        assert figures["mae_released"] <= 5 * int(product["ci95_half_width"].max())
    # a person in two cells of one zone is one person of that zone: zone counts never exceed cell sums
    assert figures["bounded_over_exact"] <= 1.0


def test_additive_zone_values_are_the_sums_of_their_cells_with_their_own_interval(zoned):
    from jobs.common.h3cells import int_to_cell
    from jobs.contracts import zone_cells
    from jobs.privacy.noise import sum_noise_scale

    contract, folder = zoned["kk-traffic-od"]
    product = pd.read_parquet(folder / "data.parquet")
    assert {"origin_zone", "destination_zone"} <= set(product.columns) and len(product) == 16
    plan, release = _release(contract)
    assert not plan.zones  # the release is over the area's cells; the zones are post-processing
    zone_of = {c: z for z, cells in zone_cells(contract.zones, contract.h3_resolution) for c in cells}
    size = {z: len(cells) for z, cells in zone_cells(contract.zones, contract.h3_resolution)}
    release["origin_zone"] = [zone_of[int_to_cell(c)] for c in release["h3_cell"]]
    release["destination_zone"] = [zone_of[int_to_cell(c)] for c in release["destination_h3"]]
    sums = release.groupby(["origin_zone", "destination_zone"])["value"].sum()
    for row in product.itertuples():
        terms = size[row.origin_zone] * size[row.destination_zone]
        if not row.suppressed:
            assert row.value == sums[(row.origin_zone, row.destination_zone)] >= plan.k_threshold(contract.k)
            wide = sum_noise_scale(plan.epsilon, plan.noise_sensitivity, terms)["ci95_half_width"]
            assert row.ci95_half_width == wide
        else:
            assert sums[(row.origin_zone, row.destination_zone)] < plan.k_threshold(contract.k)
    manifest = json.loads((folder / "manifest.json").read_text())
    figures = manifest["privacy"]["metrics"][0]
    largest = max(size.values()) ** 2
    assert figures["zones"] == 4 and figures["summed_release_values"]["max"] == largest
    wide = sum_noise_scale(plan.epsilon, plan.noise_sensitivity, largest)["ci95_half_width"]
    assert figures["ci95_half_width"] == wide
    assert figures["ci95_half_width"] > plan.noise()["ci95_half_width"]  # a sum of 64 noises is wider than one


def test_zone_packages_validate_and_draw_the_buyers_zones(zoned):
    from frictionless import Package
    from shapely.geometry import Point, shape

    for contract, folder in zoned.values():
        descriptor = json.loads((folder / "datapackage.json").read_text())
        report = Package(descriptor, basepath=str(folder)).validate()
        assert report.valid, (contract.id, report.flatten(["rowNumber", "fieldName", "type", "note"])[:10])
        assert [z["id"] for z in descriptor["zones"]["zones"]] == [z for z, _ in contract.zones]
        audit = json.loads((Path(folder).parents[3] / "audit" / contract.id / f"{folder.name}.json").read_text())
        assert [z["id"] for z in audit["contract"]["zones"]] == [z for z, _ in contract.zones]
        readme = (folder / "README.md").read_text()
        assert "zone" in readme and "`estimate` of " in readme  # both zone products say why it is empty
    contract, folder = zoned["kk-inner-city-presence"]
    shapes = {zone_id: shape(geometry) for zone_id, geometry in contract.zones}
    features = json.loads((folder / "data.geojson").read_text())["features"]
    assert all(shape(f["geometry"]).equals(shapes[f["properties"]["zone"]]) for f in features)
    rows = pd.read_csv(folder / "data.csv")
    assert all(shapes[r.zone].contains(Point(r.longitude, r.latitude)) for r in rows.itertuples())
    contract, folder = zoned["kk-traffic-od"]
    kinds = {f["geometry"]["type"] for f in json.loads((folder / "data.geojson").read_text())["features"]}
    assert kinds == {"Point", "LineString"}  # a zone to itself is a point, other pairs are lines
    html = (Path(folder).parents[3] / "audit" / contract.id / f"{folder.name}.html").read_text()
    assert "<svg" in html and "nord-vest" in html
