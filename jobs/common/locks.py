"""Exclusive locks between processes on one machine (``lake/ops/locks/<name>.lock``, ``fcntl.flock``).

A release is made by one writer: a second process asking for the same release waits for the lock, then
finds the stored release and reuses it (it never spends or draws). The lock is released when the holder
exits, even if it dies. The same lock guards each commit of a Spark-written Delta table (``jobs/common/lake.py``):
Delta's local log store is atomic only inside one JVM. Object storage has no flock: a cluster deployment needs
a lock service or a log store that commits conditionally (issue 17).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from jobs.common import settings


@contextlib.contextmanager
def exclusive(name: str, timeout_s: float = 3600.0, poll_s: float = 0.2) -> Iterator[None]:
    """Hold the lock ``name`` for the ``with`` block, waiting up to ``timeout_s`` for another holder.

    Raises
    ------
    TimeoutError
        Another process held the lock for longer than ``timeout_s``.
    """
    folder = settings.lake_root() / "ops" / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with locked_file(folder / f"{name}.lock", timeout_s, poll_s):
        yield


@contextlib.contextmanager
def locked_file(path: Path, timeout_s: float = 3600.0, poll_s: float = 0.2) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the ``with`` block.

    Raises
    ------
    TimeoutError
        Another process held it for longer than ``timeout_s``.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"lock {path} held by another process for over {timeout_s:g} s") from None
                time.sleep(poll_s)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
