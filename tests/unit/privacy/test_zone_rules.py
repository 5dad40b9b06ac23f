"""Buyer zones (``jobs/privacy/zones.py``): loading and checking a buyer's GeoJSON, plans per zone for
distinct people, zone sums of additive releases with their own intervals, and the contract checks."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[3]
ZONES = ROOT / "tests" / "data" / "zones"
DAY = dt.date(2026, 3, 3)


def _square(lng: float, lat: float, size: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[lng, lat], [lng + size, lat], [lng + size, lat + size],
                                                [lng, lat + size], [lng, lat]]]}


def _collection(*features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def _feature(zone_id, geometry, key="name") -> dict:
    return {"type": "Feature", "properties": {key: zone_id}, "geometry": geometry}


def test_zones_load_from_a_feature_collection_with_named_ids(tmp_path):
    from jobs.contracts import load_zones

    (tmp_path / "areas").mkdir()
    (tmp_path / "areas" / "quarters.geojson").write_bytes((ZONES / "indre-by-quarters.geojson").read_bytes())
    zones, errors = load_zones({"file": "areas/quarters.geojson", "id_property": "name"}, tmp_path, "c.yaml")
    assert not errors and [z for z, _ in zones] == ["north-west", "north-east", "south-west", "south-east"]
    # a feature's own "id" member serves when the property is absent
    collection = _collection({"type": "Feature", "id": 7, "properties": {}, "geometry": _square(12.57, 55.67, 0.01)})
    zones, errors = load_zones({"geojson": collection}, tmp_path, "c.yaml")
    assert not errors and zones[0][0] == "7"


@pytest.mark.parametrize("value, message", [
    ({"file": "nowhere.geojson"}, r"zones\.file: nowhere\.geojson not found"),
    ({"geojson": {"type": "Polygon", "coordinates": []}}, r"zones: must be a GeoJSON FeatureCollection"),
    ({"geojson": _collection()}, r"holds no zone"),
    ({"geojson": _collection(_feature(None, _square(12.57, 55.67, 0.01)))}, r"features\[0\]: properties\.id"),
    ({"geojson": _collection(_feature("a", _square(12.57, 55.67, 0.01)), _feature("a", _square(12.58, 55.67, 0.01))),
      "id_property": "name"}, r"features\[1\]: properties\.name: zone id 'a' appears twice"),
    ({"geojson": _collection(_feature("a", {"type": "Point", "coordinates": [12.57, 55.67]})),
      "id_property": "name"}, r"features\[0\]: geometry: zone 'a' must be a Polygon"),
])
def test_a_bad_zones_file_is_refused_naming_the_field(tmp_path, value, message):
    from jobs.contracts import load_zones

    zones, errors = load_zones(value, tmp_path, "c.yaml")
    assert zones is None and any(__import__("re").search(message, e) for e in errors), errors
    assert all(e.startswith("c.yaml: customProperties.zones") for e in errors)


def test_zones_that_overlap_are_empty_or_leave_the_area_are_refused(tmp_path, zoned_contract):
    from jobs.errors import ContractError

    inner = json.loads((ZONES / "indre-by-quarters.geojson").read_text())
    first = inner["features"][0]["geometry"]
    overlap = _collection(_feature("a", first), _feature("b", first))
    with pytest.raises(ContractError, match=r"zones 'a' and 'b' overlap"):
        zoned_contract(tmp_path, "kk-inner-city-presence", {"geojson": overlap, "id_property": "name"})
    tiny = _collection(_feature("dot", _square(12.58, 55.68, 0.00001)))
    with pytest.raises(ContractError, match=r"zone 'dot' holds no H3 cell centre at resolution 9"):
        zoned_contract(tmp_path, "kk-inner-city-presence", {"geojson": tiny, "id_property": "name"})
    outside = _collection(_feature("amager", _square(12.60, 55.62, 0.02)))
    with pytest.raises(ContractError, match=r"zone 'amager' has \d+ cell\(s\) outside the contract area"):
        zoned_contract(tmp_path, "kk-inner-city-presence", {"geojson": outside, "id_property": "name"})


def test_distinct_people_get_a_release_per_zone_with_its_own_id(tmp_path, zoned_contract):
    from jobs.privacy.plan import plan_for
    from jobs.publish.portfolio import find_contract

    contract = zoned_contract(tmp_path, "kk-inner-city-presence",
                                   {"file": str(ZONES / "indre-by-quarters.geojson"), "id_property": "name"})
    plan = plan_for(contract, "unique_people", DAY, DAY + dt.timedelta(days=1))
    zones = json.loads(plan.zones)
    assert [z for z, _ in zones] == ["north-west", "north-east", "south-west", "south-east"]
    assert sum(len(cells) for _, cells in zones) == 75  # every cell of the area in exactly one zone
    assert plan.domain_size() == 4 * 24 and plan.describe()["zones"] == 4
    cells_plan = plan_for(find_contract("kk-inner-city-presence"), "unique_people", DAY, DAY + dt.timedelta(days=1))
    assert not cells_plan.zones and cells_plan.release_id != plan.release_id
    assert plan.noise() == cells_plan.noise()  # one draw per zone key: the same noise as per cell


def test_an_additive_zone_sum_whose_noise_reaches_k_is_refused_with_the_k_that_passes(tmp_path, zoned_contract):
    from jobs.errors import ContractError
    from jobs.privacy.plan import plan_for

    value = {"file": str(ZONES / "kommune-quarters.geojson"), "id_property": "bydel"}
    with pytest.raises(ContractError, match=r"od_trips summed into zones \(up to 64 cell values per zone key\) "
                                            r"reaches k 34 .* k (\d+) would pass") as refused:
        zoned_contract(tmp_path, "kk-traffic-od", value)
    k = int(__import__("re").search(r"k (\d+) would pass", str(refused.value)).group(1))
    contract = zoned_contract(tmp_path, "kk-traffic-od", value, k=k)
    assert not plan_for(contract, "od_trips", DAY, DAY + dt.timedelta(days=1)).zones  # summed, not released
    with pytest.raises(ContractError):
        zoned_contract(tmp_path, "kk-traffic-od", value, k=k - 1)


def test_sum_into_zones_adds_cell_values_and_states_each_sums_interval():
    from jobs.common.h3cells import cell_to_int
    from jobs.privacy.zones import ZoneSum, sum_into_zones

    a, b, c, outside = "891f05831a3ffff", "891f05831a7ffff", "891f05831abffff", "891f058316fffff"
    zones = (("one", (a, b)), ("two", (c,)))
    when = pd.Timestamp("2026-03-03 08:00")
    release = pd.DataFrame({"h3_cell": [cell_to_int(x) for x in (a, b, c, outside)], "destination_h3": None,
                            "bin_start": when, "bin_minutes": 60, "segment": None, "country": None, "mode": None,
                            "metric": "footfall", "value": [5, -2, 9, 100]})
    out = sum_into_zones(release, ZoneSum(zones, 1), {1: 11, 2: 16})
    assert out["h3_cell"].tolist() == [0, 1] and out["value"].tolist() == [3, 9]  # outside dropped
    assert out["ci95_half_width"].tolist() == [16, 11]
    pairs = pd.DataFrame({"h3_cell": [cell_to_int(x) for x in (a, b, a, c)],
                          "destination_h3": [cell_to_int(x) for x in (c, c, a, c)], "bin_start": when,
                          "bin_minutes": 1440, "metric": "od_trips", "value": [1, 2, 4, 8]})
    od = sum_into_zones(pairs, ZoneSum(zones, 2), {1: 11, 2: 16, 4: 22})
    assert od[["h3_cell", "destination_h3", "value", "ci95_half_width"]].values.tolist() == [
        [0, 0, 4, 22], [0, 1, 3, 16], [1, 1, 8, 11]]


def test_a_zone_product_names_zones_and_suppresses_below_k():
    from jobs.publish.deliver import build_product

    frame = pd.DataFrame({"h3_cell": [0, 1], "destination_h3": None,
                          "bin_start": [pd.Timestamp("2026-03-03 07:00")] * 2, "bin_minutes": 60,
                          "metric": "footfall", "value": [120, 40], "ci95_half_width": [30, 20]})
    product = build_product(frame, 100, "d1", zone_ids=("one", "two"))
    assert product["zone"].tolist() == ["one", "two"] and "h3_cell" not in product
    assert product["value"].tolist()[0] == 120 and pd.isna(product["value"].iloc[1])
    assert product["ci95_half_width"].tolist()[0] == 30 and pd.isna(product["ci95_half_width"].iloc[1])
