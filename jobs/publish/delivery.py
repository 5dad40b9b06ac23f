"""A delivery compiled once: everything a publish needs to know before it makes anything.

``compile_delivery`` is called once at the start of a publish (in the manner of Tumult Analytics, which
compiles a query into a plan that everything downstream takes): it refuses an ended contract, checks the
approvals of the contract (and of its parent, for a derived one) once, makes the release plan of each metric,
and plans the contract's year. The release, the files, the audit and the notifications all read this object;
none of them loads the contract again, checks approvals again or re-plans.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import TYPE_CHECKING, Any

from jobs.common import settings
from jobs.contracts import agreement_over, is_ended
from jobs.errors import ContractEnded
from jobs.privacy import contract_year, plan_for
from jobs.publish.approvals import approval_identity, approved_parent, require_approved
from jobs.publish.backfills import require_window
from jobs.publish.ending import end_past_agreement
from jobs.publish.portfolio import children_of

if TYPE_CHECKING:
    from jobs.contracts import Contract
    from jobs.privacy import ReleasePlan


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One delivery of one contract, compiled.

    Attributes
    ----------
    contract : Contract
        The contract delivered (approved: ``compile_delivery`` checked it).
    window_start, window_end : datetime.date
        The local dates delivered, ``[start, end)``.
    delivery_id : str
        Deterministic id from the contract's id and version and the window.
    plans : tuple of ReleasePlan
        One release plan per metric, in the contract's order: the contract's own, or its parent's for a
        derived contract (whose releases serve it).
    parent : Contract or None
        The approved contract whose releases serve a derived one.
    approvals : tuple of dict
        Who approved this exact contract file for each supplier, and when (for the audit).
    year : dict
        A year of the contract's schedule against its budget (``privacy.contract_year``).
    served : tuple of str
        The contracts derived from this one, whose products this delivery's releases also serve.
    backfill : dict or None
        The approval of a window the schedule does not make (who, when, why), or None.
    """

    contract: Contract
    window_start: dt.date
    window_end: dt.date
    delivery_id: str
    plans: tuple[ReleasePlan, ...]
    parent: Contract | None
    approvals: tuple[dict[str, Any], ...]
    year: dict[str, Any]
    served: tuple[str, ...]
    backfill: dict[str, Any] | None = None


def delivery_id(contract: Contract, window_start: dt.date, window_end: dt.date) -> str:
    """Deterministic delivery id from contract id, version and window."""
    digest = hashlib.sha256(f"{contract.id}|{contract.version}|{window_start}|{window_end}".encode()).hexdigest()
    return f"{window_start:%Y%m%d}-{window_end:%Y%m%d}-v{contract.version}-{digest[:8]}"


def require_within_agreement(contract: Contract, window_start: dt.date, today: dt.date | None = None) -> None:
    """Refuse a delivery past the contract's agreement: after its ``agreement_end`` the contract is ended
    (recorded as ``cde contracts end`` would, so sharing stops too), and a window starting after that date is
    never delivered.

    Raises
    ------
    ContractEnded
        Naming the agreement's end date.
    """
    if contract.agreement_end is None:
        return
    today = today or dt.datetime.now(settings.LOCAL_TZ).date()
    if agreement_over(contract, today):
        end_past_agreement(contract)
    if agreement_over(contract, today) or window_start > contract.agreement_end:
        raise ContractEnded(f"contract {contract.id}: its agreement ended on {contract.agreement_end} "
                            "(customProperties.agreement_end): nothing more is released or delivered")


def compile_delivery(contract: Contract, window_start: dt.date, window_end: dt.date | None = None) -> Delivery:
    """Check and plan one delivery of ``contract`` for local dates ``[start, end)`` (one day by default).

    Raises
    ------
    ContractEnded
        The contract was ended (``cde contracts end``) or retired.
    NotApproved
        The contract's file (or its parent's, for a derived contract) is not approved by every supplier.
    WindowRefused
        The window is not one the schedule makes, and no approver allowed it as a backfill.
    """
    require_within_agreement(contract, window_start)  # first: a contract past its agreement is recorded as ended
    if is_ended(contract):
        raise ContractEnded(f"contract {contract.id} has ended (cde contracts end, or status retired): "
                            "nothing more is released or delivered")
    window_end = window_end or window_start + dt.timedelta(days=1)
    approved = require_approved(contract)  # nothing is released or delivered for an unapproved version
    backfill = require_window(contract, window_start, window_end)  # a window of the cron, or an approved backfill
    parent = approved_parent(contract) if contract.derived_from else None
    plans = tuple(plan_for(parent or contract, metric, window_start, window_end) for metric in contract.metrics)
    approvals = tuple({"supplier": row["supplier"], "approver": row["approver"],
                       "approved_at": row["approved_at"].isoformat(timespec="seconds"),
                       "approved_as": row.get("approved_as"), "identity": approval_identity(row)}
                      for row in approved)
    return Delivery(contract=contract, window_start=window_start, window_end=window_end,
                    delivery_id=delivery_id(contract, window_start, window_end), plans=plans, parent=parent,
                    approvals=approvals, year=contract_year(contract),
                    served=() if contract.derived_from else tuple(children_of(contract.id)), backfill=backfill)
