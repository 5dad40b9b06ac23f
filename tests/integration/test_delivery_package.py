"""A delivery a buyer can use without asking: Data Package, README, typed Parquet, coordinates in CSV, an
Excel dialect, GeoParquet, OD features that draw, and population estimates that never reveal a value below k."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]
DAY = dt.date(2026, 3, 3)  # the shared simulated day (conftest.py)


@pytest.fixture(scope="module")
def packages(spark, simulated_day, tmp_path_factory):
    """The inner-city presence (csv_excel, licence, market share) and one OD product, in a private lake."""
    import shutil

    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract

    root = tmp_path_factory.mktemp("packages") / "lake"
    shutil.copytree(simulated_day.root, root, ignore=lambda folder, names: {"gold", "ledger", "outbox", "audit"}
                    & set(names) if Path(folder) == Path(simulated_day.root) else set())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CDE_LAKE", str(root))
        out = {}
        for contract_id in ("kk-inner-city-presence", "kk-traffic-od"):
            contract = find_contract(contract_id)
            out[contract_id] = (contract, Path(publish(spark, contract, DAY)["outbox"]))
        yield out


def test_every_package_validates_with_frictionless(packages):
    from frictionless import Package

    for contract_id, (contract, folder) in packages.items():
        descriptor = json.loads((folder / "datapackage.json").read_text())
        report = Package(descriptor, basepath=str(folder)).validate()
        assert report.valid, (contract_id, report.flatten(["rowNumber", "fieldName", "type", "note"])[:10])
        names = {r["path"] for r in descriptor["resources"]}
        assert {"data.parquet", "data.csv", "data.geojson", "data.geoparquet"} <= names, contract_id
        # every field of every table has a type and a description
        for resource in descriptor["resources"]:
            for field in resource.get("schema", {}).get("fields", []):
                assert field["type"] and field["description"], (contract_id, field)
        assert descriptor["contributors"] and all(p.get("email") for p in descriptor["contributors"])
        assert descriptor["privacy"]["k"] == contract.k and "epsilon" in descriptor["method"]
        readme = (folder / "README.md").read_text()
        assert contract.name in readme and "## Columns" in readme and "suppressed" in readme


def test_licence_comes_from_the_contract(packages):
    contract, folder = packages["kk-inner-city-presence"]
    descriptor = json.loads((folder / "datapackage.json").read_text())
    assert contract.license == "CC-BY-4.0"
    assert descriptor["licenses"][0]["name"] == "CC-BY-4.0" and descriptor["licenses"][0]["path"].startswith("https")
    _, od_folder = packages["kk-traffic-od"]  # no licence term: the contract's own terms, said so
    assert json.loads((od_folder / "datapackage.json").read_text())["licenses"][0]["name"] == "LicenseRef-CDE-contract"


def test_parquet_has_a_utc_timestamp_beside_the_local_string(packages):
    _, folder = packages["kk-inner-city-presence"]
    table = pq.read_table(folder / "data.parquet")
    assert str(table.schema.field("bin_start").type) == "string"
    assert str(table.schema.field("bin_start_utc").type) == "timestamp[us, tz=UTC]"
    frame = table.to_pandas()
    local = pd.to_datetime(frame["bin_start"].map(dt.datetime.fromisoformat).map(lambda t: t.astimezone(dt.UTC)))
    assert (local.values == frame["bin_start_utc"].values).all()
    assert frame["bin_start"].str.contains(r"\+0[12]:00$").all()


def test_csv_has_coordinates_and_excel_csv_opens_with_a_semicolon_dialect(packages):
    import h3

    _, folder = packages["kk-inner-city-presence"]
    plain = pd.read_csv(folder / "data.csv")
    lat, lng = h3.cell_to_latlng(plain["h3_cell"].iloc[0])
    assert plain["latitude"].iloc[0] == pytest.approx(lat, abs=1e-6)
    assert plain["longitude"].iloc[0] == pytest.approx(lng, abs=1e-6)
    raw = (folder / "data_excel.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark: Excel reads it as UTF-8
    with open(folder / "data_excel.csv", encoding="utf-8-sig", newline="") as f:
        dialect = csv.Sniffer().sniff(f.read(4096))
        assert dialect.delimiter == ";"
        f.seek(0)
        rows = list(csv.DictReader(f, dialect=dialect))
    assert len(rows) == len(plain)
    assert rows[0]["h3_cell"] == plain["h3_cell"].iloc[0]
    assert float(rows[0]["latitude"].replace(",", ".")) == pytest.approx(plain["latitude"].iloc[0])
    assert "," in rows[0]["latitude"]  # decimal comma
    suppressed = [r for r in rows if r["suppressed"] == "true"]
    assert all(r["value"] == "" for r in suppressed)


def test_geoparquet_opens_with_geopandas_and_same_cell_od_pairs_draw(packages):
    import geopandas as gpd

    _, folder = packages["kk-inner-city-presence"]
    cells = gpd.read_parquet(folder / "data.geoparquet")
    assert cells.crs.to_epsg() == 4326 and (cells.geom_type == "Polygon").all()
    assert len(cells) == pq.ParquetFile(folder / "data.parquet").metadata.num_rows
    metadata = json.loads(pq.read_metadata(folder / "data.geoparquet").metadata[b"geo"])
    assert metadata["primary_column"] == "geometry"

    _, od_folder = packages["kk-traffic-od"]
    od = gpd.read_parquet(od_folder / "data.geoparquet")
    same = od["origin_h3"] == od["destination_h3"]
    assert same.any() and (~same).any()
    assert (od.loc[same].geom_type == "Point").all()
    assert (od.loc[~same].geom_type == "LineString").all() and (od.loc[~same].length > 0).all()
    features = json.loads((od_folder / "data.geojson").read_text())["features"]
    assert {f["geometry"]["type"] for f in features} == {"Point", "LineString"}


def test_population_estimate_is_labelled_and_never_reveals_a_value_below_k(packages):
    from jobs.privacy.release import plan_for

    contract, folder = packages["kk-inner-city-presence"]
    frame = pq.read_table(folder / "data.parquet").to_pandas()
    share = contract.market_share
    released, hidden = frame[~frame["suppressed"]], frame[frame["suppressed"]]
    assert len(hidden) and hidden[["population_estimate", "population_ci95_low",
                                   "population_ci95_high"]].isna().all().all()
    k = plan_for(contract, contract.metrics[0], DAY, DAY + dt.timedelta(days=1)).k_threshold(contract.k)
    assert (hidden["value"].isna()).all() and k > 0  # what is hidden stays hidden, estimate or not
    if len(released):
        # divided from the post-processed estimate where there is one (not the winner's-cursed value), and
        # withheld where its interval is wider than the estimate itself
        shown = released[released["population_estimate"].notna()]
        basis = shown["estimate"].astype("Float64").fillna(shown["value"].astype("Float64"))
        assert (shown["population_estimate"] == (basis / share["share"]).round()).all()
        assert (shown["population_ci95_low"] <= shown["population_estimate"]).all()
        assert (shown["population_ci95_high"] >= shown["population_estimate"]).all()
        assert (shown["population_ci95_high"] - shown["population_ci95_low"] <= shown["population_estimate"]).all()
        assert (shown["population_ci95_low"] > 0).all()  # no interval reaching 0 is shown
        withheld = int(released["population_estimate"].isna().sum())
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["contents"][0]["population_withheld"] == withheld
    descriptor = json.loads((folder / "datapackage.json").read_text())
    assert descriptor["marketShare"]["source"] == share["source"]
    field = next(f for r in descriptor["resources"] if r["path"] == "data.parquet"
                 for f in r["schema"]["fields"] if f["name"] == "population_estimate")
    assert "ESTIMATE" in field["description"]
    audit = json.loads((Path(folder).parents[3] / "audit" / contract.id / f"{folder.name}.json").read_text())
    assert audit["population_estimate"]["share"] == share["share"]
    assert "estimate" in audit["population_estimate"]["label"]


def test_population_estimate_columns_follow_released_values_only():
    from jobs.publish.deliver import add_population_estimate

    product = pd.DataFrame({"value": pd.array([500, None, 40], dtype="Int64"),
                            "ci95_half_width": pd.array([20, None, 20], dtype="Int64"),
                            "estimate": pd.array([None, None, None], dtype="Int64"),
                            "estimate_ci95_half_width": pd.array([None, None, None], dtype="Int64"),
                            "suppressed": [False, True, False]})
    out = add_population_estimate(product, {"share": 0.5, "source": "test", "range": [0.4, 0.6]})
    assert out["population_estimate"].tolist()[0] == 1000 and pd.isna(out["population_estimate"].iloc[1])
    assert out["population_ci95_low"].iloc[0] == round(480 / 0.6)
    assert out["population_ci95_high"].iloc[0] == round(520 / 0.4)
    # 40 +/- 20 at a share of 0.4 to 0.6: an interval of 33 to 150 around 80 is wider than 80: withheld
    assert out[["population_estimate", "population_ci95_low", "population_ci95_high"]].iloc[2].isna().all()
    # values in hundredths of a person (present_population): the estimate still counts people
    hundredths = add_population_estimate(product.assign(value=product["value"] * 100,
                                                        ci95_half_width=product["ci95_half_width"] * 100),
                                         {"share": 0.5, "source": "test", "range": [0.4, 0.6]},
                                         pd.Series(100, index=product.index))
    assert hundredths["population_estimate"].iloc[0] == 1000
    assert hundredths["population_ci95_low"].iloc[0] == round(480 / 0.6)


def test_population_estimate_divides_the_estimate_not_the_noisy_value_where_there_is_one():
    from jobs.publish.deliver import add_population_estimate

    # a key released at 255 because noise lifted it over k, whose posterior mean is 18; and a derived row
    # (no estimate) that falls back to its value; and a suppressed row whose estimate must not show
    product = pd.DataFrame({"value": pd.array([255, 600, None], dtype="Int64"),
                            "ci95_half_width": pd.array([144, 144, None], dtype="Int64"),
                            "estimate": pd.array([18, None, None], dtype="Int64"),
                            "estimate_ci95_half_width": pd.array([150, None, None], dtype="Int64"),
                            "suppressed": [False, False, True]})
    out = add_population_estimate(product, {"share": 0.4, "source": "test", "range": [0.35, 0.45]})
    # 18 +/- 150: an interval from 0 to 560 around 45 says nothing: withheld, not shown as informative
    assert out[["population_estimate", "population_ci95_low", "population_ci95_high"]].iloc[0].isna().all()
    assert out["population_estimate"].iloc[1] == round(600 / 0.4)
    assert out["population_ci95_low"].iloc[1] == round(456 / 0.45)
    assert out["population_ci95_high"].iloc[1] == round(744 / 0.35)
    assert out[["population_estimate", "population_ci95_low", "population_ci95_high"]].iloc[2].isna().all()


def test_every_reader_is_told_the_same_threshold_in_its_unit(packages):
    """The OD product's rule is in trips, k 34 people x 3 trips each: README, data package, manifest and audit
    (JSON and HTML) state that one phrase, never a bare k of people."""
    import datetime as dt

    from jobs.privacy import plan_for

    for contract, folder in packages.values():
        plan = plan_for(contract, contract.metrics[0], DAY, DAY + dt.timedelta(days=1))
        statement = plan.k_statement(contract.k)
        manifest = json.loads((folder / "manifest.json").read_text())
        descriptor = json.loads((folder / "datapackage.json").read_text())
        audit_json = folder.parents[3] / "audit" / contract.id / f"{manifest['delivery_id']}.json"
        audit = json.loads(audit_json.read_text())
        assert manifest["privacy"]["thresholds"] == {contract.metrics[0]: statement}
        assert descriptor["privacy"]["thresholds"] == manifest["privacy"]["thresholds"]
        assert audit["privacy"]["threshold_text"] == statement
        assert f"below {statement} are suppressed" in (folder / "README.md").read_text()
        assert statement in audit_json.with_suffix(".html").read_text()
        if contract.id == "kk-traffic-od":
            assert statement == f"{plan.k_threshold(contract.k)} trips (k {contract.k} people x at most 3 trips each)"
            assert f"below k = {contract.k} are" not in (folder / "README.md").read_text()


def test_the_audit_of_a_demo_delivery_says_its_approvals_were_simulated(packages):
    """The simulated day's contracts were approved as its simulated suppliers (``approve_all``): every audit says
    so, in JSON and HTML, so nobody mistakes a demo approval for an officer's."""
    for contract, folder in packages.values():
        manifest = json.loads((folder / "manifest.json").read_text())
        audit_json = folder.parents[3] / "audit" / contract.id / f"{manifest['delivery_id']}.json"
        approvals = json.loads(audit_json.read_text())["contract"]["approvals"]
        assert {a["supplier"] for a in approvals} == set(contract.suppliers)
        assert all(a["approved_as"] == "simulated" and a["identity"] == "approved as simulated supplier"
                   for a in approvals)
        assert "approved as simulated supplier" in audit_json.with_suffix(".html").read_text()


def test_the_readme_opens_with_what_the_delivery_holds(packages):
    """A buyer reads first how many rows carry a value, their range and what a suppressed row means (issue 34);
    the bounds are in words, never JSON."""
    import pandas as pd

    for contract, folder in packages.values():
        manifest = json.loads((folder / "manifest.json").read_text())
        data = pd.read_parquet(folder / "data.parquet")
        (held,) = [h for h in manifest["contents"] if h["metric"] == contract.metrics[0]]
        released = data[data["metric"] == contract.metrics[0]]["value"].dropna()
        assert (held["rows"], held["released"]) == (int((data["metric"] == contract.metrics[0]).sum()), len(released))
        assert held["released"] + held["suppressed"] == held["rows"]
        readme = (folder / "README.md").read_text()
        start = readme.split("## Files")[0]
        assert "## What this delivery holds" in start
        assert f"{held['rows']:,} rows; {held['released']:,} carry a value" in start
        if len(released):
            assert f"from {int(released.min()):,} to {int(released.max()):,}" in start
        assert "It is not missing data, and not zero." in start
        assert '{"' not in readme  # no raw JSON in the prose
        # each file says how its columns differ from the product's (issue 34: they differ between formats)
        assert "`data.parquet` (parquet)" in readme and "adds `bin_start_utc`" in readme
        if "csv" in contract.formats:
            (csv_line,) = [line for line in readme.splitlines() if line.startswith("- `data.csv`")]
            assert "latitude`" in csv_line and "adds" in csv_line


def test_the_audit_says_what_its_guarantees_do_not_cover(packages):
    """Group privacy, other releases, linkage, inference about places, breaches before the noise: each with
    this delivery's figures, computed (issue 34, privacy officer)."""
    import math

    for contract, folder in packages.values():
        manifest = json.loads((folder / "manifest.json").read_text())
        audit_json = folder.parents[3] / "audit" / contract.id / f"{manifest['delivery_id']}.json"
        audit = json.loads(audit_json.read_text())
        risks = {r["risk"]: r for r in audit["privacy"]["what_could_go_wrong"]}
        assert list(risks) == ["Group privacy", "Repeated products and other buyers", "Linkage with other data",
                               "Inference about places and groups", "A breach at the supplier or in the lake"]
        group_odds = math.exp(4 * audit["privacy"]["epsilon_this_delivery"])
        assert f"{group_odds:.3g} for this delivery" in risks["Group privacy"]["not_covered"]
        assert "90 days" in risks["A breach at the supplier or in the lake"]["not_covered"]
        assert audit["privacy"]["pseudonym_key_period_days"] == 90
        assert "one pseudonym links a person's records for up to 90 days" in audit_json.with_suffix(".html").read_text()
        assert "What could go wrong" in audit_json.with_suffix(".html").read_text()
