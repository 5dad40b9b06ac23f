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

A holder fences its own writes: ``held.check()`` before each write raises ``LockLost`` once the lease was
taken, or once too little of it is left to be sure it is still ours (renewals failing because the store
answers errors, or the holder paused longer than its renewals). So a holder that lost its lease stops before
its next write, not after it; readers fence too (a release's rows must be its newest spend's).
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
    """A lease that could not be renewed (another holder took it after it expired, or renewals failed until too
    little of it was left): the holder must not write again."""


class Held:
    """What a lock's holder gets: ``check()`` before each write it makes under the lock."""

    def __init__(self, path, state: dict | None = None, seconds: float = 0.0) -> None:
        self._path, self._state, self._seconds = path, state, seconds

    def check(self) -> None:
        """Raise ``LockLost`` unless the lock is surely still held for a while (a local ``flock`` always is).

        An object-store lease counts as held while it was not taken over and more than a third of it is left
        since the last successful renewal: a write started now ends before another holder could take over.
        """
        if self._state is None:
            return
        if self._state["lost"]:
            raise LockLost(f"lock {self._path}: the lease was taken by another holder; nothing more is written")
        left = self._state["expires_at"] - time.time()
        if left < self._seconds / 3:
            why = self._state["error"] or "the holder paused past its renewals"
            raise LockLost(f"lock {self._path}: the lease could not be renewed ({why}) and has {max(left, 0):.1f} s "
                           "left: stopping before the next write, as another holder may take it over")


def lease_seconds() -> float:
    """How long an object-store lease lasts without renewal (``CDE_LOCK_LEASE_SECONDS``, default 120)."""
    return settings.setting("CDE_LOCK_LEASE_SECONDS")


@contextlib.contextmanager
def exclusive(name: str, timeout_s: float = 3600.0, poll_s: float = 0.2) -> Iterator[Held]:
    """Hold the lock ``name`` for the ``with`` block, waiting up to ``timeout_s`` for another holder; the block
    gets a ``Held`` whose ``check()`` it calls before each write.

    Raises
    ------
    TimeoutError
        Another process held the lock for longer than ``timeout_s``.
    """
    folder = paths.ops_file("locks")
    folder.mkdir(parents=True, exist_ok=True)
    with locked_file(folder / f"{name}.lock", timeout_s, poll_s) as held:
        yield held


@contextlib.contextmanager
def locked_file(path: Path | S3Path, timeout_s: float = 3600.0, poll_s: float = 0.2) -> Iterator[Held]:
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
        with _lease(path, timeout_s, poll_s) as held:
            yield held
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
        yield Held(path)
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
def _lease(path: S3Path, timeout_s: float, poll_s: float) -> Iterator[Held]:
    owner, seconds = uuid.uuid4().hex, lease_seconds()
    deadline = time.monotonic() + timeout_s
    while (etag := _take(path, owner, seconds)) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"lock {path} held by another process for over {timeout_s:g} s")
        time.sleep(poll_s)
    # expires_at: of the last lease this holder wrote, by its own clock (renewals that fail do not move it)
    state = {"etag": etag, "lost": False, "expires_at": time.time() + seconds, "error": ""}
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(seconds / 3 if not state["error"] else min(seconds / 10, 1.0)):
            body = _lease_body(owner, seconds)
            try:
                renewed = path.put_if_match(body, state["etag"])
            except Exception as exc:  # the store answered an error: keep trying while the lease lasts
                state["error"] = f"{type(exc).__name__}: {exc}"[:200]
                log.warning("lock %s: renewal failed (%s); retrying", path, state["error"])
                continue
            if renewed is None:
                state["lost"] = True
                log.error("lock %s: the lease was taken by another holder while held", path)
                return
            state.update(etag=renewed, expires_at=json.loads(body)["expires_at"], error="")

    keeper = threading.Thread(target=renew, name=f"lease {path.name}", daemon=True)
    keeper.start()
    try:
        yield Held(path, state, seconds)
    finally:
        stop.set()
        keeper.join()
        if not state["lost"]:
            try:
                path.delete_if_match(state["etag"])
            except Exception as exc:  # noqa: BLE001 - the lease expires by itself; never mask the block's error
                log.warning("lock %s: could not release the lease (%s); it expires in %.0f s", path, exc, seconds)
    if state["lost"]:
        raise LockLost(f"lock {path}: the lease expired and was taken by another holder while this one held it; "
                       f"raise CDE_LOCK_LEASE_SECONDS (now {seconds:g}) if work under it can stall that long")
