"""Supplier approvals of contract versions (``ops/contract_approvals``).

Every supplier named in a contract's ``suppliers`` has an approver in its ``roles``; a contract version is
published only once each of them has approved that exact version (``cde contracts approve``). An approval
names the contract id, version, supplier, approver and time; a new version needs new approvals.
"""

from __future__ import annotations

import datetime as dt
import logging

from jobs.common import lake, tables
from jobs.errors import NotApproved
from jobs.publish.contracts import Contract

log = logging.getLogger(__name__)
SCHEMA = tables.CONTRACT_APPROVALS.schema


def approvals_path():
    """Folder of ``ops/contract_approvals``."""
    return tables.CONTRACT_APPROVALS.path()


def approve(contract: Contract, supplier: str, approver: str) -> dict:
    """Record one supplier's approval of a contract version.

    Raises
    ------
    ValueError
        The supplier is not named by the contract, or the approver is not its ``supplier_approver`` role.
    """
    if supplier not in contract.suppliers:
        raise ValueError(f"contract {contract.id} {contract.version}: supplier {supplier!r} is not one of "
                         f"{list(contract.suppliers)}")
    roles = [r for r in contract.document.get("roles") or []
             if r.get("role") == "supplier_approver" and r.get("supplier") == supplier]
    names = {r.get("name") for r in roles} | {r.get("email") for r in roles}
    if approver not in names:
        raise ValueError(f"contract {contract.id} {contract.version}: {approver!r} is not the approver of "
                         f"{supplier} (roles name {sorted(n for n in names if n)})")
    row = {"contract_id": contract.id, "version": contract.version, "supplier": supplier, "approver": approver,
           "approved_at": dt.datetime.now(dt.timezone.utc)}
    tables.CONTRACT_APPROVALS.append([row])
    log.info("contract %s %s approved by %s for %s", contract.id, contract.version, approver, supplier)
    return row


def missing_approvals(contract: Contract) -> list[str]:
    """Suppliers that have not approved this contract version."""
    approved = set()
    if lake.exists(approvals_path()):
        for row in lake.read_arrow(approvals_path()).to_pylist():
            if row["contract_id"] == contract.id and row["version"] == contract.version:
                approved.add(row["supplier"])
    return [s for s in contract.suppliers if s not in approved]


def require_approved(contract: Contract) -> None:
    """Raise ``NotApproved`` unless every supplier approved this contract version."""
    missing = missing_approvals(contract)
    if missing:
        raise NotApproved(f"contract {contract.id} version {contract.version} is not approved by "
                          f"{', '.join(missing)}: run `cde contracts approve {contract.id} --supplier ...`")


def approve_all(contract: Contract) -> None:
    """Approve a contract version as each supplier's named approver (the demo and tests act for them)."""
    for supplier in contract.suppliers:
        role = next(r for r in contract.document["roles"]
                    if r.get("role") == "supplier_approver" and r.get("supplier") == supplier)
        approve(contract, supplier, role.get("name") or role.get("email"))
