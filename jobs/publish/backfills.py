"""Backfills: a delivery window outside a contract's schedule, allowed only by one of its suppliers' approvers.

A contract's schedule decides which windows are delivered (``jobs.contracts.delivery_windows``); validation
judges those. A window the cron does not make (two days at once, a week of a daily product, a manual
``cde publish --end``) has privacy figures nobody checked, so publishing refuses it unless an approver of one of
the contract's suppliers (the supplier registry) approved that exact window for that contract version:
``cde contracts backfill``. Approvals are kept in ``ops/backfill_approvals.json`` with who, when and why.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from jobs.common import paths
from jobs.common.locks import exclusive
from jobs.common.storage import write_atomic
from jobs.contracts import Contract, makes_window
from jobs.errors import WindowRefused
from jobs.publish.approvals import APPROVED_AS, require_simulated


def _path():
    return paths.ops_file("backfill_approvals.json")


def _key(contract: Contract, start: dt.date, end: dt.date) -> str:
    return f"{contract.id}|{contract.version}|{start.isoformat()}|{end.isoformat()}"


def backfill_approvals() -> dict[str, dict[str, Any]]:
    """Every recorded backfill approval by ``contract|version|start|end``."""
    path = _path()
    return json.loads(path.read_text()) if path.exists() else {}


def approve_backfill(contract: Contract, start: dt.date, end: dt.date, supplier: str, approver: str,
                     reason: str, approved_as: str) -> dict[str, Any]:
    """Record that one of the contract's suppliers' approvers allows the window ``[start, end)``.

    Parameters
    ----------
    approver, approved_as : str
        As for a contract's approval (``jobs.publish.approvals.approve``): an officer's identity the caller
        verified (``officer``), or a simulated supplier's registered approver on a simulated lake.

    Raises
    ------
    ValueError
        An empty window, a supplier the contract does not list, or a simulated approval refused.
    """
    if end <= start:
        raise ValueError(f"the window {start} to {end} is empty")
    if supplier not in contract.suppliers:
        raise ValueError(f"supplier {supplier!r} is not one of {contract.id}'s {list(contract.suppliers)}")
    if approved_as not in APPROVED_AS:
        raise ValueError(f"approved_as: {approved_as!r} is not one of {', '.join(APPROVED_AS)}")
    if approved_as == "simulated":
        require_simulated(contract, supplier, approver)
    record = {"contract_id": contract.id, "version": contract.version, "window_start": start.isoformat(),
              "window_end": end.isoformat(), "supplier": supplier, "approver": approver, "reason": reason,
              "approved_as": approved_as, "approved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    with exclusive("backfill-approvals"):
        approvals = backfill_approvals()
        approvals[_key(contract, start, end)] = record
        write_atomic(_path(), json.dumps(approvals, indent=2, sort_keys=True))
    return record


def require_window(contract: Contract, start: dt.date, end: dt.date) -> dict[str, Any] | None:
    """Refuse a window the schedule does not make unless a backfill of it was approved; return that approval
    (None for a window of the schedule).

    Raises
    ------
    WindowRefused
        The window is not one the cron makes and no approver allowed it.
    """
    if makes_window(contract.schedule, start, end):
        return None
    approval = backfill_approvals().get(_key(contract, start, end))
    if approval is None:
        raise WindowRefused(
            f"contract {contract.id}: the window {start} to {end} is not one its schedule {contract.schedule!r} "
            "delivers, so its privacy figures were never checked; one of its suppliers' approvers may allow it: "
            f"cde contracts backfill {contract.id} --date {start} --end {end} --supplier S "
            "--reason TEXT")
    return approval
