"""Fault injection: each test copies the shared simulated day's lake, breaks something, and checks the
promise (nothing spent and nothing written; or the spend and the stored release; or the spend, nothing
stored and a final, clear error)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CONTRACT = "retail-stroget-footfall"


@pytest.fixture
def crash_at(monkeypatch):
    """``crash_at(point, exc)``: make the named write point (``jobs.common.faults.POINTS``) raise ``exc``."""
    from jobs.common import faults

    def arm(point: str, exc: BaseException | None = None) -> None:
        def hook(name: str) -> None:
            if name == point:
                raise exc or RuntimeError(f"injected crash at {point}")
        monkeypatch.setattr(faults, "HOOK", hook)

    yield arm
    monkeypatch.setattr(faults, "HOOK", None)


@pytest.fixture
def spends():
    """``spends(contract_id)``: the ledger's spend rows of a contract (the test contract by default)."""
    from jobs.privacy import ledger

    def rows(contract_id: str = CONTRACT):
        entries = ledger.read_entries()
        return entries[(entries["kind"] == "spend") & (entries["contract_id"] == contract_id)]

    return rows


@pytest.fixture
def tmpfs():
    """``tmpfs(folder, size, read_only=False)``: mount a small tmpfs over ``folder`` (a real full or read-only
    file system); unmounted at the end. Skips, saying why, where mounting is not permitted."""
    mounted: list[Path] = []

    def mount(folder: Path, size: str = "1m", read_only: bool = False) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        options = f"size={size}" + (",ro" if read_only else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                              text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): a full or read-only disk needs root")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], check=False)
