"""A mistyped term is named with the closest valid name (issue 34, contract author)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jobs.common import settings
from jobs.contracts import ContractError, parse_contract

EXAMPLE = settings.REPO_ROOT / "contracts" / "kk-inner-city-presence.yaml"


def test_an_unknown_term_is_named_with_the_closest_valid_one():
    document = yaml.safe_load(EXAMPLE.read_text())
    for item in document["customProperties"]:
        if item["property"] == "epsilon":
            item["property"] = "epsilonn"
    document["customProperties"].append({"property": "colour", "value": "blue"})
    with pytest.raises(ContractError) as refused:
        parse_contract(document, "x.yaml", Path(EXAMPLE.parent))
    assert "x.yaml: customProperties.epsilonn: not a known property; did you mean 'epsilon'?" in refused.value.errors
    (colour,) = [line for line in refused.value.errors if ".colour:" in line]
    assert "not a known property (known: " in colour and "epsilon" in colour  # nothing close: the list instead


def test_a_contract_copied_anywhere_finds_its_area_in_the_region(tmp_path):
    copied = tmp_path / "elsewhere.yaml"
    copied.write_text(EXAMPLE.read_text())  # copied outside the contracts folder, without any areas/
    contract = parse_contract(yaml.safe_load(copied.read_text()), copied.name, tmp_path)
    assert contract.area_population == 57_000  # areas/indre-by.geojson of the region (regions/copenhagen/areas)


def test_a_missing_area_file_says_where_it_looked(tmp_path):
    from jobs.common import settings

    document = yaml.safe_load(EXAMPLE.read_text())
    for item in document["customProperties"]:
        if item["property"] == "area":
            item["value"] = "areas/nowhere.geojson"
    with pytest.raises(ContractError) as refused:
        parse_contract(document, "elsewhere.yaml", tmp_path)
    (line,) = [e for e in refused.value.errors if "customProperties.area" in e]
    assert f"areas/nowhere.geojson not found (looked in {tmp_path.resolve()} and in the region copenhagen's " \
           f"folder {settings.REGION.folder}" in line, line


def test_contracts_new_writes_a_valid_starting_file(tmp_path, monkeypatch, capsys):
    import shutil

    from jobs.cli import main
    from jobs.publish.portfolio import load_contract

    store = tmp_path / "store"
    shutil.copytree(EXAMPLE.parent, store)
    monkeypatch.setenv("CDE_CONTRACTS", str(store))
    assert main(["contracts", "new", "my-footfall", "--from", "retail-stroget-footfall", "--buyer", "movia"]) == 0
    assert "it validates" in capsys.readouterr().out
    made = load_contract(store / "my-footfall.yaml")
    assert (made.id, made.version, made.buyer, made.derived_from) == ("my-footfall", "1.0.0", "movia", "")
    assert main(["contracts", "new", "my-footfall", "--from", "retail-stroget-footfall"]) == 2  # never overwrites


def test_errors_of_a_contract_file_name_the_line_of_the_field(tmp_path):
    from jobs.publish.portfolio import load_contract

    lines = EXAMPLE.read_text().splitlines()
    epsilon = next(i for i, line in enumerate(lines) if "property: epsilon," in line)
    lines[epsilon] = lines[epsilon].replace("property: epsilon,", "property: epsilonn,")
    name = next(i for i, line in enumerate(lines) if line.startswith("name:"))
    lines[name] = "name: 42"
    path = tmp_path / "edited.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ContractError) as refused:
        load_contract(path)
    errors = refused.value.errors
    assert f"edited.yaml: name: 42 is not of type 'string' (line {name + 1})" in errors, errors
    lines[name] = "name: An edited contract"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ContractError) as refused:
        load_contract(path)
    (typo,) = [e for e in refused.value.errors if "epsilonn" in e]
    assert typo.endswith(f"did you mean 'epsilon'? (line {epsilon + 1})"), typo


def test_an_envelope_error_in_a_term_names_the_term():
    document = yaml.safe_load(EXAMPLE.read_text())
    del document["customProperties"][0]["value"]
    first = document["customProperties"][0]["property"]
    with pytest.raises(ContractError) as refused:
        parse_contract(document, "x.yaml", Path(EXAMPLE.parent))
    assert any(e.startswith(f"x.yaml: customProperties[0] (the {first!r} term): ") for e in refused.value.errors), \
        refused.value.errors
