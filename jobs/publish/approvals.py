"""Supplier approvals of contract files (``ops/contract_approvals``).

The owner of every source a contract reads (per the supplier registry, ``jobs/contracts/suppliers.py``) is one of
its ``suppliers`` and must approve it; the approver must be one the registry names for that supplier, never
one the contract names itself. An approval records the contract id, version, supplier, approver, time and
the sha256 of the contract file approved: nothing is published for a contract whose file differs from the
one every owner approved (an edit, even at the same version, needs new approvals).
"""

from __future__ import annotations

import datetime as dt
import logging

from jobs.common import lake, tables
from jobs.contracts import Contract, is_ended, load_registry
from jobs.errors import ContractEnded, ContractError, NotApproved
from jobs.privacy import global_cap_errors, global_year
from jobs.publish.portfolio import find_contract, load_contracts

log = logging.getLogger(__name__)
SCHEMA = tables.CONTRACT_APPROVALS.schema


def approvals_path():
    """Folder of ``ops/contract_approvals``."""
    return tables.CONTRACT_APPROVALS.path()


def approve(contract: Contract, supplier: str, approver: str) -> dict:
    """Record one supplier's approval of a contract file.

    Parameters
    ----------
    contract : Contract
        Loaded from its file (``load_contract``), so its ``sha256`` names the bytes approved.
    supplier : str
        A supplier the contract lists (the owner of one of its sources).
    approver : str
        Name or e-mail of one of that supplier's approvers in the supplier registry.

    Raises
    ------
    ValueError
        The contract was not read from a file, the supplier is not one of its suppliers, or the approver is
        not one the registry names for that supplier.
    ContractError
        With this contract, the approved contracts would exceed a global cap in some window of a year.
    """
    if not contract.sha256:
        raise ValueError(f"contract {contract.id} {contract.version}: only a contract read from its file can be "
                         "approved (the approval records the file's sha256)")
    if supplier not in contract.suppliers:
        raise ValueError(f"contract {contract.id} {contract.version}: supplier {supplier!r} is not one of "
                         f"{list(contract.suppliers)}")
    registry = load_registry()
    entry = registry.get(supplier)
    if entry is None or not entry.is_approver(approver):
        names = sorted(a["name"] for a in entry.approvers) if entry else []
        raise ValueError(f"contract {contract.id} {contract.version}: {approver!r} is not an approver of "
                         f"{supplier} in the supplier registry {registry.path} (approvers: {names})")
    _require_affordable(contract)
    row = {"contract_id": contract.id, "version": contract.version, "supplier": supplier, "approver": approver,
           "approved_at": dt.datetime.now(dt.timezone.utc), "contract_sha256": contract.sha256}
    tables.CONTRACT_APPROVALS.append([row])
    log.info("contract %s %s (sha256 %s) approved by %s for %s", contract.id, contract.version,
             contract.sha256[:12], approver, supplier)
    return row


def _require_affordable(contract: Contract) -> None:
    """Refuse an approval that would make the approved portfolio exceed a global cap in some window of a
    year (look-back windows included): the ledger would refuse those releases later."""
    errors = global_cap_errors(global_year(approved_portfolio(adding=contract)))
    if errors:
        raise ContractError([f"{contract.path}: customProperties.epsilon: approving {contract.id} {contract.version} "
                             f"with the contracts already approved: {line}; lower its epsilon or schedule, or "
                             "retire another contract" for line in errors])


def approvals_of(contract: Contract) -> list[dict]:
    """Every approval row recorded for this contract id and version (any file contents)."""
    if not lake.exists(approvals_path()):
        return []
    return [row for row in lake.read_arrow(approvals_path()).to_pylist()
            if row["contract_id"] == contract.id and row["version"] == contract.version]


def _of_this_file(contract: Contract, rows: list[dict]) -> list[dict]:
    return [row for row in rows if contract.sha256 and row.get("contract_sha256") == contract.sha256]


def missing_approvals(contract: Contract) -> list[str]:
    """Suppliers that have not approved this exact contract file (same id, version and sha256)."""
    approved = {row["supplier"] for row in _of_this_file(contract, approvals_of(contract))}
    return [s for s in contract.suppliers if s not in approved]


def require_approved(contract: Contract) -> list[dict]:
    """The approvals of this exact contract file, one per supplier at least.

    Raises
    ------
    NotApproved
        A supplier has not approved this exact file (the message says when the file changed after approval).
    """
    rows = approvals_of(contract)
    approved = _of_this_file(contract, rows)
    missing = [s for s in contract.suppliers if s not in {row["supplier"] for row in approved}]
    if not missing:
        return approved
    other_files = sorted({row["supplier"] for row in rows if row["supplier"] in missing})
    changed = (f"; {', '.join(other_files)} approved version {contract.version} with different file contents "
               f"(sha256 now {contract.sha256[:12]}): the file changed after approval"
               if other_files else "")
    raise NotApproved(f"contract {contract.id} version {contract.version} is not approved by "
                      f"{', '.join(missing)}{changed}: run `cde contracts approve {contract.id} --supplier ...`")


def approve_all(contract: Contract) -> None:
    """Approve a contract file as each supplier's first registered approver (the demo and tests act for
    them)."""
    registry = load_registry()
    for supplier in contract.suppliers:
        approve(contract, supplier, registry.get(supplier).approvers[0]["name"])


def approved_portfolio(adding: Contract | None = None) -> list[Contract]:
    """The valid contracts of the contracts folder that every supplier has approved, plus ``adding`` (the
    contract being approved) in place of any other version of it."""
    valid, _ = load_contracts()
    portfolio = [c for c in valid.values() if not missing_approvals(c)
                 and (adding is None or c.id != adding.id)]
    return [*portfolio, adding] if adding is not None else portfolio


def approved_parent(child: Contract) -> Contract:
    """The approved contract whose releases serve ``child`` (``derived_from``).

    Raises
    ------
    ContractError
        No valid parent in the contracts folder (validation refuses that first).
    NotApproved
        The parent's current version is not approved by every supplier: its releases are not made.
    ContractEnded
        The parent has ended (validation refuses the child then too).
    """
    parent = find_contract(child.derived_from)
    if is_ended(parent):
        raise ContractEnded(f"contract {child.id} is served by {parent.id}'s releases, and {parent.id} has ended "
                            "(cde contracts end, or status retired): nothing more is released for either")
    require_approved(parent)
    return parent
