"""Named crash points at every write that matters, for the fault-injection suite (``tests/reliability/``).

``reached(name)`` is called just before a write. In production it does nothing. A test makes it fail in
one of two ways:

- in-process: ``faults.HOOK = fn`` (``fn(name)`` raises where the test wants the crash);
- a real kill: ``CDE_CRASH_AT=<name>`` in the environment of a subprocess, which then kills itself with
  SIGKILL at that point (nothing runs after it: no ``finally``, no atexit).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from jobs.common.settings import setting

HOOK: Callable[[str], None] | None = None

# Every crash point, in the order a publish or an ingest reaches them.
POINTS = (
    "ingest.bronze", "ingest.quarantine", "ingest.run_record",
    "release.spend", "release.gold", "release.draw", "release.log",
    "deliver.product", "deliver.files", "deliver.audit", "deliver.swap",
)


def reached(name: str) -> None:
    """Mark that the code is about to perform the write ``name`` (one of ``POINTS``)."""
    if HOOK is not None:
        HOOK(name)
    if setting("CDE_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
