"""Approvals hold for one contract file and carry how the approver was known (issue 12, item 7; issue 33):
a simulated supplier's registered approver only on a lake the simulator made, an officer's identity otherwise."""

from __future__ import annotations

import shutil

import pytest

from jobs.common import settings
from jobs.contracts import ContractError, load_registry, parse_registry
from jobs.errors import NotApproved, ReferenceDataError
from jobs.publish.approvals import approve, approve_all, missing_approvals, require_approved
from jobs.publish.portfolio import load_contract

CONTRACTS = settings.REPO_ROOT / "contracts"


@pytest.fixture()
def contracts_copy(tmp_path, monkeypatch):
    """A copy of the example contracts folder that a test may edit; ``CDE_CONTRACTS`` points at it."""
    folder = tmp_path / "contracts"
    shutil.copytree(CONTRACTS, folder)
    monkeypatch.setenv("CDE_CONTRACTS", str(folder))
    return folder


def test_every_source_of_the_examples_has_one_registered_owner():
    from jobs.ingest.feeds import FEEDS

    registry = load_registry()
    owners = {source: registry.owner_of(source) for source in FEEDS}
    assert {source: owner.id for source, owner in owners.items() if owner} == {
        "telco": "nordic-telco", "wifi": "cph-public-wifi", "camera": "citycount-vision", "ticket": "movia-transit"}
    assert owners["mno"] is None  # the ESS format: no example supplier sends it (it is ingested on demand)


def test_a_contract_reading_two_suppliers_sources_needs_both_approvals(simulated_lake):
    movia = load_contract(CONTRACTS / "movia-od-market.yaml")
    assert set(movia.sources) == {"telco", "ticket"}
    assert missing_approvals(movia) == ["nordic-telco", "movia-transit"]
    approve(movia, "nordic-telco", "Privacy office", "simulated")
    with pytest.raises(NotApproved, match="not approved by movia-transit"):
        require_approved(movia)
    approve(movia, "movia-transit", "dpo@movia-transit.example", "simulated")
    require_approved(movia)


def test_approvers_come_from_the_registry_never_from_the_contracts_roles(simulated_lake, contracts_copy):
    path = contracts_copy / "kk-inner-city-presence.yaml"
    # The contract names its own approver for the telco; that person is not the telco's approver.
    path.write_text(path.read_text().replace("name: Privacy office, email: dpo@nordic-telco.example",
                                             "name: Mallory, email: mallory@buyer.example"))
    contract = load_contract(path)
    with pytest.raises(ValueError, match="'Mallory' is not an approver of nordic-telco in the supplier registry"):
        approve(contract, "nordic-telco", "Mallory", "simulated")
    with pytest.raises(ValueError, match="is not one of"):
        approve(contract, "movia-transit", "Privacy office", "simulated")  # not a supplier of this contract
    assert missing_approvals(contract) == ["nordic-telco"]


def test_an_edited_file_is_not_the_file_that_was_approved(simulated_lake, contracts_copy):
    path = contracts_copy / "kk-inner-city-presence.yaml"
    approved = load_contract(path)
    approve_all(approved)
    require_approved(approved)
    # Same id and version, one term changed after approval (k 219 -> 220): the approval no longer holds.
    text = path.read_text()
    assert "{property: k, value: 219}" in text
    path.write_text(text.replace("{property: k, value: 219}", "{property: k, value: 220}"))
    edited = load_contract(path)
    assert (edited.id, edited.version) == (approved.id, approved.version) and edited.sha256 != approved.sha256
    with pytest.raises(NotApproved, match="nordic-telco approved version 2.1.0 with different file contents"):
        require_approved(edited)
    approve_all(edited)
    require_approved(edited)
    # Reverting the edit restores the first file, whose approval is still recorded.
    path.write_text(text)
    require_approved(load_contract(path))


def test_a_contract_not_read_from_a_file_cannot_be_approved(simulated_lake):
    import dataclasses

    contract = dataclasses.replace(load_contract(CONTRACTS / "kk-inner-city-presence.yaml"), sha256="")
    with pytest.raises(ValueError, match="sha256"):
        approve(contract, "nordic-telco", "Privacy office", "simulated")


def test_a_simulated_supplier_approves_only_on_a_lake_the_simulator_made(lake_root):
    contract = load_contract(CONTRACTS / "kk-inner-city-presence.yaml")
    with pytest.raises(ValueError, match="only allowed on a lake the simulator made"):
        approve(contract, "nordic-telco", "Privacy office", "simulated")
    with pytest.raises(ValueError, match="approved_as: 'typed'"):
        approve(contract, "nordic-telco", "Privacy office", "typed")
    assert missing_approvals(contract) == ["nordic-telco"]


def test_each_approval_row_says_how_its_approver_was_known(simulated_lake):
    from jobs.common import tables
    from jobs.publish.approvals import approval_identity, approvals_of

    contract = load_contract(CONTRACTS / "kk-inner-city-presence.yaml")
    approve(contract, "nordic-telco", "telco-dpo <dpo@nordic-telco.example>", "officer")
    approve(contract, "nordic-telco", "Privacy office", "simulated")
    rows = sorted(approvals_of(contract), key=lambda r: r["approved_at"])
    assert [(r["approver"], approval_identity(r)) for r in rows] == [
        ("telco-dpo <dpo@nordic-telco.example>", "privacy officer's identity"),
        ("Privacy office", "approved as simulated supplier")]
    # A row recorded before approvals carried an identity (no approved_as) keeps its meaning and says so.
    old = {k: v for k, v in rows[0].items() if k != "approved_as"}
    assert approval_identity(old).startswith("made without an identity")
    assert "approved_as" in tables.CONTRACT_APPROVALS.schema.names


@pytest.mark.parametrize(("document", "field"), [
    ({"suppliers": [{"id": "a", "name": "A", "sources": ["telco"], "approvers": [{"name": "x", "email": "x@a"}]},
                    {"id": "b", "name": "B", "sources": ["telco"], "approvers": [{"name": "y", "email": "y@b"}]}]},
     "suppliers[1].sources: 'telco' is already owned by 'a'"),
    ({"suppliers": [{"id": "a", "name": "A", "sources": ["telco"], "approvers": []}]}, "suppliers[0].approvers"),
    ({"suppliers": [{"id": "a", "name": "A", "sources": ["telco"], "approvers": [{"name": "x"}]}]},
     "suppliers[0].approvers[0]"),
    ({"suppliers": [{"name": "A", "sources": ["telco"], "approvers": [{"name": "x", "email": "x@a"}]}]},
     "suppliers[0].id"),
    ({"suppliers": [{"id": "a", "name": "A", "sources": [], "approvers": [{"name": "x", "email": "x@a"}]}]},
     "suppliers[0].sources"),
    ({"owners": []}, "(top level)"),
])
def test_an_invalid_registry_names_the_entry_and_field(document, field):
    with pytest.raises(ReferenceDataError, match=field.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")):
        parse_registry(document, "suppliers.yaml")


def test_a_broken_registry_makes_every_contract_invalid_naming_it(tmp_path, monkeypatch):
    broken = tmp_path / "suppliers.yaml"
    broken.write_text("suppliers: [{id: nordic-telco}]\n")
    monkeypatch.setenv("CDE_SUPPLIER_REGISTRY", str(broken))
    with pytest.raises(ContractError) as err:
        load_contract(CONTRACTS / "kk-inner-city-presence.yaml")
    assert any("customProperties.suppliers: the supplier registry is unusable" in line and "suppliers[0].name" in line
               for line in err.value.errors), err.value.errors
