"""Contract files: which files the contracts folder holds, and reading one into a document and its hash."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from jobs.common import settings
from jobs.errors import ContractError


def contract_files(folder: Path | None = None) -> list[Path]:
    """Return the contract YAML files of the contracts folder."""
    folder = folder or settings.contracts_dir()
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def read_contract_file(path: Path) -> tuple[Any, str]:
    """The YAML document of a contract file and the sha256 of its bytes (an approval holds for those bytes).

    Raises
    ------
    ContractError
        The file cannot be read as UTF-8 text, or is not YAML (naming the file).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        document = yaml.safe_load(raw.decode("utf-8"))
    except yaml.YAMLError as exc:
        raise ContractError([f"{path.name}: (file): not valid YAML ({exc})"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError([f"{path.name}: (file): cannot be read as UTF-8 text ({exc})"]) from exc
    return document, hashlib.sha256(raw).hexdigest()


def declares_derived(document: Any) -> bool:
    """True when a contract document names ``derived_from`` (served by another contract's releases)."""
    terms = document.get("customProperties") or [] if isinstance(document, dict) else []
    return any(isinstance(t, dict) and t.get("property") == "derived_from" for t in terms)
