"""Shared releases: a derived contract is checked against the contract whose releases serve it, each
mistake named by its field; summed noise has the tail and interval the checks and manifests state."""

from __future__ import annotations


import numpy as np
import pytest
import yaml

from jobs.common import settings
from jobs.contracts import ContractError
from jobs.privacy.noise import add_discrete_noise, sum_noise_scale, sum_noise_tail
from jobs.publish.portfolio import load_contract, load_contracts
from jobs.publish.shared_releases import derivation_errors, derived_cut

CONTRACTS = settings.REPO_ROOT / "contracts"


def _derived(folder, parent: str, cid: str = "derived-c", **terms):
    """Write a contract derived from ``parent`` (its terms, changed by ``terms``) and return its path."""
    doc = yaml.safe_load((folder / f"{parent}.yaml").read_text())
    doc["id"] = cid
    terms.setdefault("derived_from", parent)
    for item in doc["customProperties"]:
        if item["property"] in terms:
            item["value"] = terms.pop(item["property"])
    doc["customProperties"] += [{"property": p, "value": v} for p, v in terms.items()]
    path = folder / f"{cid}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_the_example_derived_contract_shares_its_parents_release_unchanged():
    valid, invalid = load_contracts()
    assert not invalid
    metro, movia = valid["metro-od-market"], valid["movia-od-market"]
    assert metro.derived_from == "movia-od-market"
    cut = derived_cut(metro, movia, "od_trips")
    assert cut.terms == 1 and cut.parent_id == "movia-od-market"
    assert not derivation_errors(metro, movia, "metro-od-market.yaml")


KK_PLUS = {"type": "Polygon", "coordinates": [[[12.40, 55.58], [12.75, 55.58], [12.75, 55.76], [12.40, 55.76],
                                               [12.40, 55.58]]]}


@pytest.mark.parametrize(("parent", "terms", "field", "says"), [
    ("movia-od-market", {"derived_from": "no-such-contract"}, "customProperties.derived_from", "no valid contract"),
    ("movia-od-market", {"epsilon": 0.2}, "customProperties.epsilon", "above this contract's ceiling 0.2"),
    ("movia-od-market", {"h3_resolution": 8}, "customProperties.h3_resolution", "finer than"),
    ("movia-od-market", {"time_bin": "1h"}, "customProperties.time_bin", "not a whole number"),
    ("movia-od-market", {"schedule": "30 8 * * 1"}, "customProperties.schedule", "never releases"),
    # the first gap of these crons is one day, as the parent's; their other windows (6 and 30 days) are not
    ("movia-od-market", {"schedule": "30 8 * * 1,2"}, "customProperties.schedule", "never releases"),
    ("movia-od-market", {"schedule": "30 8 1,2 * *"}, "customProperties.schedule", "never releases"),
    ("movia-od-market", {"area": KK_PLUS}, "customProperties.area", "outside movia-od-market's area"),
    ("movia-od-market", {"k": 20}, "customProperties.k", "by noise alone"),
    ("movia-od-market", {"max_trips_per_day": 9}, None, None),  # the release's bounds are the parent's: no error
    ("kk-inner-city-presence", {"h3_resolution": 8, "max_cells_per_day": 8},
     "customProperties.h3_resolution", "not additive"),
    ("wonderful-cph-tourists", {"countries": ["DK", "DE"]}, "customProperties.countries", "differs from"),
    ("metro-od-market", {}, "customProperties.derived_from", "cannot serve others"),
])
def test_a_derivation_its_parent_cannot_serve_is_refused_naming_the_field(folder, parent, terms, field, says):
    path = _derived(folder, parent, **terms)
    if field is None:
        assert load_contract(path).derived_from == parent
        return
    with pytest.raises(ContractError) as err:
        load_contract(path)
    lines = [e for e in err.value.errors if field in e]
    assert lines and any(says in line for line in lines), err.value.errors
    assert all(line.startswith("derived-c.yaml: ") for line in lines)


def test_a_derived_contract_costs_its_own_budget_but_nothing_globally(folder, monkeypatch):
    from jobs.privacy.planning import global_year

    monkeypatch.setenv("CDE_CONTRACTS", str(folder))
    valid, _ = load_contracts(folder)
    before = global_year(valid.values())["person"]["epsilon"]
    _derived(folder, "movia-od-market", "second-buyer")
    valid, invalid = load_contracts(folder)
    assert "second-buyer" in valid, invalid
    assert global_year(valid.values())["person"]["epsilon"] == pytest.approx(before)


def test_the_summed_noise_tail_matches_a_large_sample():
    """The exact tail of a sum of 7 geometric draws (parent cell from 7 children) against 200,000 draws."""
    draws = add_discrete_noise(np.zeros((200_000, 7), dtype=np.int64), 0.5, 4).sum(axis=1)
    for t in (10, 30, 60):
        expected = sum_noise_tail(0.5, 4, t, 7)
        seen = float((draws >= t).mean())
        spread = 4 * np.sqrt(expected * (1 - expected) / len(draws)) + 1e-4
        assert abs(seen - expected) < spread, (t, seen, expected)
    half = sum_noise_scale(0.5, 4, 7)["ci95_half_width"]
    covered = float((np.abs(draws) <= half).mean())
    assert 0.947 <= covered < 0.96, covered  # the smallest half-width covering 95% (sampling spread below)


def test_a_single_term_is_the_release_noise_itself():
    from jobs.privacy.noise import noise_scale, noise_tail

    assert sum_noise_tail(0.25, 5, 40, 1) == noise_tail(0.25, 5, 40)
    assert sum_noise_scale(0.25, 5, 1)["ci95_half_width"] == noise_scale(0.25, 5)["ci95_half_width"]


def _with(folder, source: str, cid: str, **terms):
    """A stand-alone copy of ``source`` under another id, its terms changed (``None`` removes a term)."""
    doc = yaml.safe_load((folder / f"{source}.yaml").read_text())
    doc["id"] = cid
    kept = []
    for item in doc["customProperties"]:
        if item["property"] in terms:
            value = terms.pop(item["property"])
            if value is None:
                continue
            item["value"] = value
        kept.append(item)
    doc["customProperties"] = kept + [{"property": p, "value": v} for p, v in terms.items() if v is not None]
    (folder / f"{cid}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder / f"{cid}.yaml"


def test_cde_contracts_validate_refuses_a_child_asking_less_delta_than_its_parents_release(folder, monkeypatch,
                                                                                          capsys):
    from jobs.cli import main

    monkeypatch.setenv("CDE_CONTRACTS", str(folder))
    _with(folder, "movia-od-market", "movia-selected", od_domain="partition_selection", delta=1e-7)
    assert load_contract(folder / "movia-selected.yaml").delta == 1e-7
    child = _derived(folder, "movia-selected", od_domain="partition_selection", delta=1e-15)
    assert main(["contracts", "validate", str(child)]) == 1
    out = capsys.readouterr().out
    assert "customProperties.delta: movia-selected's od_trips release has delta 1e-07, above this contract's 1e-15" \
        in out, out


def test_a_child_of_an_ended_or_retired_parent_is_refused(folder, tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("CDE_LAKE", str(tmp_path / "lake"))
    child = _derived(folder, "movia-od-market")
    assert load_contract(child).derived_from == "movia-od-market"
    endings = tmp_path / "lake" / "ops" / "contract_endings.json"
    endings.parent.mkdir(parents=True)
    endings.write_text(json.dumps({"movia-od-market": {"ended_at": "2026-03-01T00:00:00+00:00", "by": "t",
                                                       "reason": "test"}}))
    with pytest.raises(ContractError, match="movia-od-market has ended"):
        load_contract(child)
    endings.unlink()
    parent = folder / "movia-od-market.yaml"
    assert "\nstatus: active\n" in parent.read_text()
    parent.write_text(parent.read_text().replace("\nstatus: active\n", "\nstatus: retired\n"))
    with pytest.raises(ContractError, match="movia-od-market has ended"):
        load_contract(child)


def test_a_child_of_a_zoned_parent_is_refused_where_the_release_is_made_per_zone(folder):
    source = settings.REPO_ROOT / "tests" / "data" / "zones" / "indre-by-quarters.geojson"
    (folder / "areas").mkdir(exist_ok=True)
    (folder / "areas" / source.name).write_bytes(source.read_bytes())  # a file beside the contract
    zones = {"file": f"areas/{source.name}", "id_property": "name"}
    _with(folder, "kk-inner-city-presence", "kk-zoned", zones=zones, k=250)
    assert load_contract(folder / "kk-zoned.yaml").zones
    child = _with(folder, "kk-zoned", "derived-c", zones=None, derived_from="kk-zoned")
    with pytest.raises(ContractError, match="release is made per zone"):
        load_contract(child)


def test_the_area_population_check_sums_the_delta_of_every_shared_release():
    import dataclasses

    valid, _ = load_contracts()
    parent = dataclasses.replace(valid["kk-inner-city-presence"], metrics=("unique_people", "footfall"),
                                 mechanism="gaussian_discrete", delta=5e-7)
    child = dataclasses.replace(parent, id="child", derived_from=parent.id, area_population=1_500_000)
    errors = derivation_errors(child, parent, "child.yaml")
    # each release's delta (5e-7) is below 1 / 1.5 million, their sum (1e-6) is not
    assert any("one delivery's delta 1e-06 (summed over the shared releases)" in e for e in errors), errors


def test_an_ended_parent_stops_its_childs_publish(tmp_path, monkeypatch):
    import json

    from jobs.errors import ContractEnded
    from jobs.publish.approvals import approved_parent

    monkeypatch.setenv("CDE_LAKE", str(tmp_path / "lake"))
    metro = load_contracts()[0]["metro-od-market"]  # loaded while its parent was live
    endings = tmp_path / "lake" / "ops" / "contract_endings.json"
    endings.parent.mkdir(parents=True)
    endings.write_text(json.dumps({"movia-od-market": {"ended_at": "2026-03-01T00:00:00+00:00"}}))
    with pytest.raises(ContractEnded, match="movia-od-market has ended"):
        approved_parent(metro)


def test_a_childs_manifest_never_states_advice_its_parent_paid_for(tmp_path, monkeypatch):
    import datetime as dt
    import json

    from jobs.privacy.plan import plan_for
    from jobs.publish.deliver import privacy_terms

    monkeypatch.setenv("CDE_LAKE", str(tmp_path / "lake"))
    valid, _ = load_contracts()
    movia, metro = valid["movia-od-market"], valid["metro-od-market"]
    plan = plan_for(movia, "od_trips", dt.date(2026, 3, 2), dt.date(2026, 3, 3))
    advice = tmp_path / "lake" / "advice" / "movia-od-market" / "adv-test.json"
    advice.parent.mkdir(parents=True)
    advice.write_text(json.dumps({
        "advice_id": "adv-test", "metric": "od_trips", "property": "max_trips_per_day",
        "histogram": [50, 30, 15, 5] + [0] * 20,
        "window_start": "2026-03-01", "window_end": "2026-03-02", "created_at": "2026-03-02T00:00:00+00:00",
        "epsilon": 0.1}))
    assert privacy_terms(movia, [plan])["metrics"][0]["dropped_share"]["advice_id"] == "adv-test"
    assert privacy_terms(metro, [plan])["metrics"][0]["dropped_share"] is None


def test_k_is_stated_with_the_true_most_one_person_adds_to_a_summed_or_multi_source_value(folder):
    """One person adds at most 3 trips per source to one OD key; with telco and ticket pseudonyms that is 6,
    and a value summed from 7 x 7 release values can take up to the release's L1 bound: the statement says
    so, and how few people a value at the threshold may hold."""
    import datetime as dt
    import math

    from jobs.privacy import plan_for

    day = dt.date(2026, 3, 2)
    movia = load_contract(CONTRACTS / "movia-od-market.yaml")
    plan = plan_for(movia, "od_trips", day, day + dt.timedelta(days=1))
    per_person, threshold = plan.bounder.max_per_key(), plan.k_threshold(movia.k)
    assert plan.most_per_value() == 2 * per_person
    stated = plan.k_statement(movia.k)
    assert stated.startswith(plan.measure.k_statement(movia.k, plan.bounder))
    assert f"up to {2 * per_person} trips to one value (one pseudonym in each of 2 sources)" in stated
    assert f"as few as {math.ceil(threshold / (2 * per_person))} people" in stated
    import dataclasses

    child = dataclasses.replace(movia, id="coarser", derived_from=movia.id, h3_resolution=6)  # the cut alone
    assert derived_cut(child, movia, "od_trips").terms == 49
    assert plan.most_per_value(49) == plan.sensitivity == 2 * per_person  # trips per day cap every key at once
    assert "summed" not in plan.k_statement(movia.k, 49)
    retail = load_contract(CONTRACTS / "retail-stroget-footfall.yaml")  # events: 4 per pair, 6 pairs a day
    footfall = plan_for(retail, "footfall", day, day + dt.timedelta(days=1))
    coarser = dataclasses.replace(retail, id="coarser", derived_from=retail.id, metrics=("footfall",),
                                  h3_resolution=retail.h3_resolution - 1)
    terms = derived_cut(coarser, retail, "footfall").terms
    assert terms == 7 and footfall.most_per_value(terms) == min(7 * 4, footfall.sensitivity) == 24
    summed = footfall.k_statement(retail.k, terms)
    assert "up to 24 events to one value (each value summed from 7 release values)" in summed
    assert f"as few as {math.ceil(footfall.k_threshold(retail.k) / 24)} people" in summed
    kk = load_contract(CONTRACTS / "kk-traffic-od.yaml")  # one source, unsummed: the plain statement
    single = plan_for(kk, "od_trips", day, day + dt.timedelta(days=1))
    assert single.k_statement(kk.k) == single.measure.k_statement(kk.k, single.bounder)
