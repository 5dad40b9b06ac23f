"""A two-metric contract: each metric is its own release, and the manifest and the audit state each one's
bound, sensitivity, noise scale, interval and k in its units; the delivery's epsilon is their sum."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from jobs.common import settings

pytestmark = [pytest.mark.spark, pytest.mark.integration]


@pytest.fixture
def two_metric_contract(tmp_path):
    from jobs.publish.portfolio import load_contract

    source = settings.contracts_dir() / "kk-inner-city-presence.yaml"
    document = yaml.safe_load(source.read_text())
    document["id"] = "kk-presence-and-footfall"
    terms = {item["property"]: item for item in document["customProperties"]}
    terms["metrics"]["value"] = ["unique_people", "footfall"]
    # the area (areas/indre-by.geojson) resolves in the region's areas/ wherever the contract file is
    document["customProperties"].append({"property": "max_events_per_pair", "value": 3})
    # Two releases a day must fit the global cap beside the approved examples (46.5 of 60 per 30 days), and
    # k must keep phantoms under the rule at footfall's triple sensitivity.
    terms["max_cells_per_day"]["value"], terms["epsilon"]["value"] = 12, 0.15
    terms["budget_epsilon_per_period"]["value"], terms["k"]["value"] = 9.5, 400
    path = tmp_path / "kk-presence-and-footfall.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load_contract(path)


def test_every_metric_has_its_own_figures_in_manifest_and_audit(spark, in_simulated_day, two_metric_contract):
    from jobs.publish.approvals import approve_all
    from jobs.publish.deliver import publish

    contract = two_metric_contract
    approve_all(contract)
    result = publish(spark, contract, in_simulated_day.day)
    manifest = json.loads((Path(result["outbox"]) / "manifest.json").read_text())
    privacy = manifest["privacy"]
    people, footfall = privacy["metrics"]
    assert (people["metric"], footfall["metric"]) == ("unique_people", "footfall")
    assert len(manifest["release_ids"]) == 2 and people["release_id"] != footfall["release_id"]
    assert privacy["epsilon"] == pytest.approx(2 * contract.epsilon)
    assert people["sensitivity_l1"] == 12 and footfall["sensitivity_l1"] == 12 * 3
    assert footfall["noise_scale"] == pytest.approx(3 * people["noise_scale"])
    assert footfall["ci95_half_width"] > people["ci95_half_width"]
    assert people["bound"] != footfall["bound"] and "at most 3 events" in footfall["bound"]
    assert (people["k_threshold"], footfall["k_threshold"]) == (contract.k, 3 * contract.k)
    assert privacy["noise_scale"] == footfall["noise_scale"] and privacy["noise_of"] == "footfall"
    assert privacy["bounds"] == {"max_cells_per_day": 12, "max_events_per_pair": 3}

    # k applies in each metric's units: no released footfall value below k people x 3 events
    table = pq.read_table(Path(result["outbox"]) / "data.parquet").to_pandas()
    released = table[~table["suppressed"]]
    assert set(table["metric"]) == {"unique_people", "footfall"}
    assert (released.loc[released["metric"] == "footfall", "value"] >= 3 * contract.k).all()
    assert (released.loc[released["metric"] == "unique_people", "value"] >= contract.k).all()
    # Each metric's estimates come from its own release (its own noise and fitted distribution).
    assert people["post_processing"] != footfall["post_processing"]

    audit = json.loads(Path(result["audit"]["json"]).read_text())
    assert [m["metric"] for m in audit["privacy"]["metrics"]] == ["unique_people", "footfall"]
    assert audit["privacy"]["epsilon_this_delivery"] == pytest.approx(2 * contract.epsilon)
    assert [r["bound"] for r in audit["releases"]] == [people["bound"], footfall["bound"]]
    page = Path(result["audit"]["html"]).read_text()
    assert 'id="metric-unique_people"' in page and 'id="metric-footfall"' in page
    assert footfall["bound"] in page and f"k = {contract.k} people x at most 3 events" in page

    # the record of processing names each metric's bound
    from jobs.publish.record import record_of_processing

    measures = record_of_processing(contract)["technical_and_organisational_measures"]
    assert any("footfall" in line and "3 events" in line for line in measures)
