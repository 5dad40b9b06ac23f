"""Which contracts have ended: the operator's record (``cde contracts end``) or ``status: retired``.

A fact about contracts that validation, publishing, the sharing catalogue and retention all ask, so it sits
with the contracts; ending one (and purging it) is ``jobs/publish/ending.py``'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jobs.common import paths
from jobs.contracts.model import Contract


def endings_path() -> Path:
    """The record of ended contracts (``ops/contract_endings.json``)."""
    return paths.ops_file("contract_endings.json")


def ended_contracts() -> dict[str, dict[str, Any]]:
    """Contract id to its ending record (ended_at, by, reason, delete_after, purged_at)."""
    path = endings_path()
    return json.loads(path.read_text()) if path.exists() else {}


def is_ended(contract: Contract) -> bool:
    """True when a contract was ended by the operator or its file says ``status: retired``."""
    return contract.status == "retired" or contract.id in ended_contracts()
