"""The portfolio: every live contract of the contracts folder, fully validated, and the approved ones.

Full validation of a contract is three layers' checks together: the document's own
(``jobs/contracts/document.py``), privacy's (``jobs/privacy/feasibility.py``: measures, k and phantoms,
affordability, zones) and, for a derived contract, that its parent's releases can serve it
(``jobs/publish/shared_releases.py``). An invalid file never hides the valid ones: a broken new version
leaves the last valid (and approved) version in force, and the invalid file is reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobs.common import settings
from jobs.contracts import (
    Contract,
    contract_files,
    declares_derived,
    field_lines,
    read_contract_file,
    version_key,
    with_lines,
)
from jobs.contracts import parse_contract as parse_document
from jobs.errors import ContractError
from jobs.privacy import feasibility_errors, measure_errors
from jobs.publish.shared_releases import derivation_errors


def parse_contract(document: Any, where: str, base: Path, sha256: str = "") -> Contract:
    """Validate a parsed contract document (document and privacy checks) and return it typed.

    The parameters are those of ``jobs.contracts.parse_contract``, whose checks run with privacy's
    ``measure_errors``; privacy's ``feasibility_errors`` follow on the typed contract.

    Raises
    ------
    ContractError
        With one line per problem, each naming the field.
    """
    contract = parse_document(document, where, base, sha256, term_checks=(measure_errors,))
    errors = feasibility_errors(contract, where)
    if errors:
        raise ContractError(errors)
    return contract


def load_contract(path: Path) -> Contract:
    """Read and validate one contract YAML file (a derived one against its parent in the same folder)."""
    path = Path(path)
    document, sha256 = read_contract_file(path)
    try:
        contract = parse_contract(document, path.name, path.parent, sha256=sha256)
        if contract.derived_from:  # served by another contract's releases: check it against that contract
            parent = _parent_in(path.parent, contract.derived_from) if contract.derived_from != contract.id else None
            errors = derivation_errors(contract, parent, path.name)
            if errors:
                raise ContractError(errors)
    except ContractError as exc:  # the author edits a file: say on which line each field is
        raise ContractError(with_lines(exc.errors, path.name, field_lines(path.read_text(encoding="utf-8")))) from None
    return contract


def load_contracts(folder: Path | None = None) -> tuple[dict[str, Contract], dict[str, list[str]]]:
    """Validate every contract file of the folder.

    Returns
    -------
    tuple
        The newest valid version of each contract id, and the errors of each invalid file (by file name).
        An invalid file never hides the valid ones: a broken new version leaves the last valid (and
        approved) version in force, and the invalid file is reported.
    """
    valid: dict[str, Contract] = {}
    invalid: dict[str, list[str]] = {}
    for path in contract_files(folder):
        try:
            contract = load_contract(path)
        except ContractError as exc:
            invalid[path.name] = exc.errors
            continue
        except Exception as exc:  # noqa: BLE001 (one bad file stays one bad file: named, never fatal to the rest)
            invalid[path.name] = [f"{path.name}: (file): could not be validated ({type(exc).__name__}: {exc})"]
            continue
        if contract.id not in valid or version_key(contract) > version_key(valid[contract.id]):
            valid[contract.id] = contract
    return valid, invalid


def _parent_in(folder: Path, parent_id: str) -> Contract | None:
    """The newest valid version of a (not derived) contract in ``folder``, or None."""
    found = None
    for path in contract_files(folder):
        try:
            document, _ = read_contract_file(path)
        except ContractError:
            continue
        if not isinstance(document, dict) or document.get("id") != parent_id:
            continue
        if declares_derived(document):
            return None  # derived itself: no chains (and no loops between two derived contracts)
        try:
            contract = load_contract(path)
        except Exception:  # noqa: BLE001 (an invalid parent file is reported by load_contracts, not here)
            continue
        if found is None or version_key(contract) > version_key(found):
            found = contract
    return found


def find_contract(contract_id: str, folder: Path | None = None) -> Contract:
    """Return the newest valid version of the contract with this id (invalid files are skipped)."""
    valid, invalid = load_contracts(folder)
    if contract_id in valid:
        return valid[contract_id]
    errors = [line for lines in invalid.values() for line in lines]
    raise ContractError([f"no valid contract {contract_id!r} in {folder or settings.contracts_dir()}",
                         *(f"  {e}" for e in errors)])


def children_of(parent_id: str) -> list[str]:
    """Ids of the valid contracts derived from ``parent_id`` (named in the parent's audit)."""
    valid, _ = load_contracts()
    return sorted(c.id for c in valid.values() if c.derived_from == parent_id)


__all__ = ["ContractError", "children_of", "contract_files", "find_contract", "load_contract",
           "load_contracts", "parse_contract"]
