"""Refusals: errors that retrying cannot fix, under one base class.

Airflow tasks and the CLI catch :class:`Refusal` once: a refusal fails a task at once (no retries) and makes
the CLI exit with status 2 and the message, while any other error (a lost executor, a commit conflict) is
an infrastructure fault that a retry may cure.
"""

from __future__ import annotations


class Refusal(Exception):
    """Base of every refusal: the input, the contract or the budget says no; a retry would say no again."""


class IngestRefused(Refusal, RuntimeError):
    """A run that committed nothing (no landing files, too many invalid records, a failed critical
    expectation, broken accounting)."""


class ReferenceDataError(Refusal, ValueError):
    """Reference data (towers, access points, cameras, stops) that cannot be used; the message names the
    file, row and field."""


class ContractError(Refusal, ValueError):
    """A contract that fails validation; ``errors`` lists ``file: field: what is wrong`` lines."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


class NotApproved(Refusal, RuntimeError):
    """A contract version not approved by every supplier it names."""


class BudgetExceeded(Refusal, RuntimeError):
    """A release refused before any noise was drawn; the message names the budget and the figures."""


class LedgerTampered(Refusal, RuntimeError):
    """The hash chain of the ledger does not verify."""


class DerivationRefused(Refusal, ValueError):
    """A product that cannot be derived from this release without new spend."""


class ReleaseRefused(Refusal, ValueError):
    """A release that no measure can make (unknown metric, a segment the metric does not allow)."""


class StorageFault(Refusal, OSError):
    """Storage that cannot take a write or be read: a full or read-only folder, a damaged Delta log. Final:
    checked before any spend, so a retry would only be refused again (or, after a spend, spend again)."""


class SpentNotStored(Refusal, RuntimeError):
    """A release whose spend was recorded but whose noisy table was not stored. The spend stands (it is never
    given back); a rerun records a new spend and draws anew, so it is never retried automatically."""


class KeyRefused(Refusal, RuntimeError):
    """A pseudonym master key that is missing, too short or not the key this lake was built with."""


class ContractEnded(Refusal, RuntimeError):
    """A contract ended by ``cde contracts end`` (or with status ``retired``): nothing more is released."""


class NotSimulated(Refusal, RuntimeError):
    """A lake the simulator did not make: there is no truth to compare with, and exact figures of real data
    are never printed."""


class WindowRefused(Refusal, ValueError):
    """A delivery window the contract's schedule does not make, with no officer's backfill approval."""


class SpendConflict(Refusal, RuntimeError):
    """A second spend of a release id whose earlier spend is not recorded ``lost``: one spend per release id
    (the ledger refuses it before any noise is drawn)."""


def error_line(exc: BaseException) -> str:
    """One line for an error, for a person: the deepest ``Caused by:`` of a Java error (whose text carries its
    whole stack, shown with ``-v``), else the message's first line; at most 400 characters."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    causes = [line[len("Caused by: "):] for line in lines if line.startswith("Caused by: ")]
    line = causes[-1] if causes else (lines[0] if lines else type(exc).__name__)
    return line if len(line) <= 400 else line[:400] + "..."
