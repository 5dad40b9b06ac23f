"""Supplier approvals of contract files (``ops/contract_approvals``).

The owner of every source a contract reads (per the supplier registry, ``jobs/contracts/suppliers.py``) is one of
its ``suppliers`` and must approve it, through an identity: one of the supplier's privacy officers known to
the portal (a login, or an approver token on the command line), never a name typed or one the contract names
itself; on a lake the simulator made, the demo and tests approve as the simulated suppliers and the row says
so. An approval records the contract id, version, supplier, approver, how the approver was known, time and
the sha256 of the contract file approved: nothing is published for a contract whose file differs from the
one every owner approved (an edit, even at the same version, needs new approvals).
"""

from __future__ import annotations

import datetime as dt
import logging

from jobs.common import lake, paths, tables
from jobs.contracts import Contract, is_ended, load_registry
from jobs.errors import ContractEnded, ContractError, NotApproved
from jobs.privacy import global_cap_errors, global_year
from jobs.publish.portfolio import find_contract, load_contracts

log = logging.getLogger(__name__)
SCHEMA = tables.CONTRACT_APPROVALS.schema


def approvals_path():
    """Folder of ``ops/contract_approvals``."""
    return tables.CONTRACT_APPROVALS.path()


APPROVED_AS = ("officer", "simulated")


def approve(contract: Contract, supplier: str, approver: str, approved_as: str) -> dict:
    """Record one supplier's approval of a contract file, with how the approver is known.

    Parameters
    ----------
    contract : Contract
        Loaded from its file (``load_contract``), so its ``sha256`` names the bytes approved.
    supplier : str
        A supplier the contract lists (the owner of one of its sources).
    approver : str
        Who approved: a portal identity (``username <e-mail>``) the caller has verified as one of this
        supplier's privacy officers, or, for ``simulated``, one of the supplier's approvers in the registry.
    approved_as : str
        ``officer`` (a portal login or an approver token, checked by the portal's accounts) or ``simulated``
        (the demo and tests acting for a simulated supplier: only on a lake the simulator made).

    Raises
    ------
    ValueError
        The contract was not read from a file, the supplier is not one of its suppliers, ``approved_as`` is
        unknown, or a simulated approval on a lake the simulator did not make or by a name the registry does
        not list.
    ContractError
        With this contract, the approved contracts would exceed a global cap in some window of a year.
    """
    if not contract.sha256:
        raise ValueError(f"contract {contract.id} {contract.version}: only a contract read from its file can be "
                         "approved (the approval records the file's sha256)")
    if supplier not in contract.suppliers:
        raise ValueError(f"contract {contract.id} {contract.version}: supplier {supplier!r} is not one of "
                         f"{list(contract.suppliers)}")
    if approved_as not in APPROVED_AS:
        raise ValueError(f"approved_as: {approved_as!r} is not one of {', '.join(APPROVED_AS)}")
    if approved_as == "simulated":
        require_simulated(contract, supplier, approver)
    _require_affordable(contract)
    row = {"contract_id": contract.id, "version": contract.version, "supplier": supplier, "approver": approver,
           "approved_at": dt.datetime.now(dt.timezone.utc), "contract_sha256": contract.sha256,
           "approved_as": approved_as}
    tables.CONTRACT_APPROVALS.append([row])
    log.info("contract %s %s (sha256 %s) approved by %s for %s (%s)", contract.id, contract.version,
             contract.sha256[:12], approver, supplier, approved_as)
    return row


def require_simulated(contract: Contract, supplier: str, approver: str) -> None:
    """Refuse a simulated approval but on a lake the simulator made, by an approver the registry names: a real
    supplier's data is approved by its officer's identity, never by a name.

    Raises
    ------
    ValueError
        The lake has no simulator's marker, or the registry does not name the approver for the supplier.
    """
    if not paths.is_simulated_lake():
        raise ValueError(f"contract {contract.id} {contract.version}: approving as a simulated supplier is only "
                         f"allowed on a lake the simulator made (its marker simulation/{paths.SIMULATION_MARKER}); "
                         "here each supplier's privacy officer approves with an identity (the portal, or "
                         "CDE_APPROVER_TOKEN for cde contracts approve)")
    registry = load_registry()
    entry = registry.get(supplier)
    if entry is None or not entry.is_approver(approver):
        names = sorted(a["name"] for a in entry.approvers) if entry else []
        raise ValueError(f"contract {contract.id} {contract.version}: {approver!r} is not an approver of "
                         f"{supplier} in the supplier registry {registry.path} (approvers: {names})")


def approval_identity(row: dict) -> str:
    """How an approval's approver was known, in words (audits, the portal)."""
    return {"officer": "privacy officer's identity", "simulated": "approved as simulated supplier"}.get(
        row.get("approved_as") or "", "made without an identity (recorded before approvals carried one)")


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
    """Approve a contract file as each simulated supplier's first registered approver (the demo and tests act
    for them, only on a lake the simulator made; the audit says so)."""
    registry = load_registry()
    for supplier in contract.suppliers:
        approve(contract, supplier, registry.get(supplier).approvers[0]["name"], "simulated")


def approved_portfolio(adding: Contract | None = None) -> list[Contract]:
    """The live contracts of the contracts folder that every supplier has approved, plus ``adding`` (the
    contract being approved) in place of any other version of it. An ended contract (``cde contracts end``,
    retired, or past its agreement) plans no more releases, so ending one makes room under the global caps
    (what it spent stays in the ledger, which enforces the caps at every release)."""
    valid, _ = load_contracts()
    portfolio = [c for c in valid.values() if not missing_approvals(c) and not is_ended(c)
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
