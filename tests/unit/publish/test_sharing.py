"""Shared releases: a derived contract is checked against the contract whose releases serve it, each
mistake named by its field; summed noise has the tail and interval the checks and manifests state."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from jobs.common import settings
from jobs.contracts import ContractError
from jobs.privacy.noise import add_discrete_noise, sum_noise_scale, sum_noise_tail
from jobs.publish.portfolio import load_contract, load_contracts
from jobs.publish.shared_releases import derivation_errors, derived_cut

CONTRACTS = settings.REPO_ROOT / "contracts"


@pytest.fixture
def folder(tmp_path):
    """A copy of the example contracts (with their areas), to add derived contracts to."""
    target = tmp_path / "contracts"
    shutil.copytree(CONTRACTS, target)
    return target


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
    ("movia-od-market", {"schedule": "30 8 * * 1"}, "customProperties.schedule", "must deliver on dates"),
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
