"""Exclusive locks between processes and machines (``lake/ops/locks/<name>.lock``).

A release is made by one writer: a second process asking for the same release waits for the lock, then
finds the stored release and reuses it (it never spends or draws). The same kind of lock guards each commit
of a Spark-written Delta table (``jobs/common/lake.py``): Delta's log stores for local files and for S3 make
"write version N unless it exists" atomic only inside one JVM.

- On a local lake the lock is an ``fcntl.flock`` on the file: released when the holder exits, even if it
  dies.
- On a lake in an object store (``CDE_LAKE=s3://...``) it is a lease object created with a conditional
  write (``If-None-Match: *``): exactly one of several creators wins. The holder renews the lease in the
  background every third of ``CDE_LOCK_LEASE_SECONDS`` (default 120) with ``If-Match`` on the version it
  wrote, and deletes it (``If-Match`` again) when done. A holder that died leaves a lease that expires; the
  next taker replaces the expired lease with ``If-Match`` on the version it read, so two takers cannot both
  win. The lease's expiry is wall-clock time: the machines' clocks must agree to well within a lease.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from jobs.common import paths, settings
from jobs.common.objectstore import S3Path

log = logging.getLogger(__name__)


class LockLost(RuntimeError):
    """A lease that could not be renewed (another holder took it after it expired): the work done under it
    may have overlapped with the other holder's."""


def lease_seconds() -> float:
    """How long an object-store lease lasts without renewal (``CDE_LOCK_LEASE_SECONDS``, default 120)."""
    return settings.setting("CDE_LOCK_LEASE_SECONDS")


@contextlib.contextmanager
def exclusive(name: str, timeout_s: float = 3600.0, poll_s: float = 0.2) -> Iterator[None]:
    """Hold the lock ``name`` for the ``with`` block, waiting up to ``timeout_s`` for another holder.

    Raises
    ------
    TimeoutError
        Another process held the lock for longer than ``timeout_s``.
    """
    folder = paths.ops_file("locks")
    folder.mkdir(parents=True, exist_ok=True)
    with locked_file(folder / f"{name}.lock", timeout_s, poll_s):
        yield


@contextlib.contextmanager
def locked_file(path: Path | S3Path, timeout_s: float = 3600.0, poll_s: float = 0.2) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a local file, created if missing, or an object-store lease) for
    the ``with`` block.

    Raises
    ------
    TimeoutError
        Another process held it for longer than ``timeout_s``.
    LockLost
        (object store) The lease could not be renewed while held.
    """
    if isinstance(path, S3Path):
        with _lease(path, timeout_s, poll_s):
            yield
        return
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


def _lease_body(owner: str, seconds: float) -> bytes:
    now = time.time()
    return json.dumps({"owner": owner, "host": socket.gethostname(), "pid": os.getpid(),
                       "renewed_at": now, "expires_at": now + seconds}).encode()


def _take(path: S3Path, owner: str, seconds: float) -> str | None:
    """One attempt to take the lease: create it, or replace an expired one; its ETag, or None."""
    etag = path.put_if_absent(_lease_body(owner, seconds))
    if etag is not None:
        return etag
    current = path.read_with_etag()
    if current is None:  # released between our two calls: try again at once
        return path.put_if_absent(_lease_body(owner, seconds))
    body, seen = current
    try:
        expires = float(json.loads(body)["expires_at"])
    except (ValueError, KeyError, TypeError):
        expires = 0.0  # a lease nobody can read is taken over like an expired one
    if expires < time.time():
        taken = path.put_if_match(_lease_body(owner, seconds), seen)
        if taken is not None:
            log.warning("lock %s: took over an expired lease (%s)", path, body[:200].decode(errors="replace"))
        return taken
    return None


@contextlib.contextmanager
def _lease(path: S3Path, timeout_s: float, poll_s: float) -> Iterator[None]:
    owner, seconds = uuid.uuid4().hex, lease_seconds()
    deadline = time.monotonic() + timeout_s
    while (etag := _take(path, owner, seconds)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"lock {path} held by another process for over {timeout_s:g} s")
        time.sleep(poll_s)
    state = {"etag": etag, "lost": False}
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(seconds / 3):
            renewed = path.put_if_match(_lease_body(owner, seconds), state["etag"])
            if renewed is None:
                state["lost"] = True
                log.error("lock %s: the lease was taken by another holder while held", path)
                return
            state["etag"] = renewed

    keeper = threading.Thread(target=renew, name=f"lease {path.name}", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join()
        if not state["lost"]:
            path.delete_if_match(state["etag"])
    if state["lost"]:
        raise LockLost(f"lock {path}: the lease expired and was taken by another holder while this one held it; "
                       f"raise CDE_LOCK_LEASE_SECONDS (now {seconds:g}) if work under it can stall that long")
