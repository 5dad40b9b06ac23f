"""Which contracts have ended: the operator's record (``cde contracts end``), ``status: retired``, or an
agreement past its ``agreement_end``.

A fact about contracts that validation, publishing, the sharing catalogue and retention all ask, so it sits
with the contracts; ending one (and purging it) is ``jobs/publish/ending.py``'s.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from jobs.common import paths, settings
from jobs.contracts.model import Contract


def endings_path() -> Path:
    """The record of ended contracts (``ops/contract_endings.json``)."""
    return paths.ops_file("contract_endings.json")


def ended_contracts() -> dict[str, dict[str, Any]]:
    """Contract id to its ending record (ended_at, by, reason, delete_after, purged_at)."""
    path = endings_path()
    return json.loads(path.read_text()) if path.exists() else {}


def agreement_over(contract: Contract, today: dt.date | None = None) -> bool:
    """True when the contract's agreement has ended: the local date is past its ``agreement_end``."""
    today = today or dt.datetime.now(settings.LOCAL_TZ).date()
    return contract.agreement_end is not None and today > contract.agreement_end


def is_ended(contract: Contract) -> bool:
    """True when a contract was ended by the operator, its file says ``status: retired``, or its agreement's
    end has passed (publishing and the daily contracts check then record the ending)."""
    return contract.status == "retired" or contract.id in ended_contracts() or agreement_over(contract)
