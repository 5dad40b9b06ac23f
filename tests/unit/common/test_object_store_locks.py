"""Locks on a lake in an object store: a lease created with a conditional write, renewed while held, taken
over only once expired. Exercised by separate processes against the moto endpoint on loopback."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time

import pytest

from jobs.common import locks

pytestmark = pytest.mark.slow


def _increment(lake: str, env: dict, rounds: int, barrier, results) -> None:
    """Read a counter object, wait a little, write it back plus one, under the lock: a lost update shows."""
    os.environ.update(env)
    os.environ["CDE_LAKE"] = lake
    from jobs.common import locks as worker_locks
    from jobs.common import settings

    counter = settings.lake_root() / "counter.json"
    barrier.wait()
    try:
        for _ in range(rounds):
            with worker_locks.exclusive("counter", timeout_s=120, poll_s=0.02):
                value = json.loads(counter.read_text())["n"] if counter.exists() else 0
                time.sleep(0.02)  # widen the window a racing writer would need
                counter.write_text(json.dumps({"n": value + 1}))
        results.put(("done", os.getpid()))
    except Exception as exc:
        results.put(("error", repr(exc)))


def _aws_env() -> dict:
    return {k: v for k, v in os.environ.items() if k.startswith("AWS_")}


def test_eight_processes_take_turns_on_one_lease(s3_lake):
    ctx = mp.get_context("spawn")  # delta-rs and botocore do not survive a fork well
    barrier, results = ctx.Barrier(8), ctx.Queue()
    procs = [ctx.Process(target=_increment, args=(str(s3_lake), _aws_env(), 5, barrier, results)) for _ in range(8)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [kind for kind, _ in outcomes] == ["done"] * 8, outcomes
    assert json.loads((s3_lake / "counter.json").read_text()) == {"n": 40}  # no update lost
    assert not (s3_lake / "ops" / "locks" / "counter.lock").exists()  # every holder gave the lease back


def test_a_held_lease_is_renewed_and_an_expired_one_taken_over(s3_lake, monkeypatch):
    monkeypatch.setenv("CDE_LOCK_LEASE_SECONDS", "1.5")
    lease = s3_lake / "ops" / "locks" / "job.lock"
    with locks.exclusive("job"):
        time.sleep(4)  # well past one lease: the holder renews it
        body = json.loads(lease.read_text())
        assert body["expires_at"] > time.time()
        with pytest.raises(TimeoutError), locks.exclusive("job", timeout_s=2, poll_s=0.1):
            pass  # a second taker never gets a live lease
    assert not lease.exists()
    # A holder that died leaves its lease behind; once expired, the next taker replaces it.
    lease.write_text(json.dumps({"owner": "dead", "pid": 1, "renewed_at": time.time() - 60,
                                 "expires_at": time.time() - 30}))
    with locks.exclusive("job", timeout_s=5):
        assert json.loads(lease.read_text())["owner"] != "dead"
    assert not lease.exists()


def test_a_lease_taken_over_while_held_fails_the_holder(s3_lake, monkeypatch):
    monkeypatch.setenv("CDE_LOCK_LEASE_SECONDS", "1.5")
    lease = s3_lake / "ops" / "locks" / "stalled.lock"
    with pytest.raises(locks.LockLost, match="taken by another holder"), locks.exclusive("stalled"):
        # Another holder takes the lease over (as if this one had stalled past its expiry).
        lease.write_text(json.dumps({"owner": "other", "expires_at": time.time() + 60}))
        time.sleep(1.5)  # the next renewal finds the lease changed
    assert json.loads(lease.read_text())["owner"] == "other"  # the other holder's lease is left alone


def _release_like(lake: str, env: dict, name: str, failing_renewals: bool, stall: float, started, results) -> None:
    """The release protocol in small: under the lock, reuse a stored draw, else check, spend, work, check,
    store the draw. ``failing_renewals``: the store answers every renewal of this process with an error."""
    os.environ.update(env)
    os.environ["CDE_LAKE"] = lake
    from jobs.common import locks as worker_locks
    from jobs.common import settings
    from jobs.common.objectstore import S3Path

    if failing_renewals:
        def refuse(self, body, etag):  # noqa: ARG001 - the store's answer to a renewal
            raise ConnectionError("503 Service Unavailable")

        S3Path.put_if_match = refuse
    draws = settings.lake_root() / "draws"
    try:
        with worker_locks.exclusive("release-rel-1", timeout_s=60, poll_s=0.05) as held:
            started.set()
            if list(draws.iterdir()) if draws.exists() else []:
                results.put((name, "reused"))
                return
            held.check()
            (settings.lake_root() / "spends" / f"{name}.json").write_text("{}")
            time.sleep(stall)  # the work between spend and stored draw
            held.check()
            (draws / f"{name}.json").write_text("{}")
        results.put((name, "drew"))
    except worker_locks.LockLost as exc:
        results.put((name, f"lost: {exc}"))


def test_a_holder_whose_renewals_fail_never_draws_beside_the_one_that_took_over(s3_lake, monkeypatch):
    """Process A's renewals are answered with errors while it works past its lease; B takes the expired lease
    over and makes the release. A stops at its next write (LockLost), so one release id has one draw."""
    monkeypatch.setenv("CDE_LOCK_LEASE_SECONDS", "3")
    ctx = mp.get_context("spawn")
    started_a, started_b, results = ctx.Event(), ctx.Event(), ctx.Queue()
    env = {**_aws_env(), "CDE_LOCK_LEASE_SECONDS": "3"}
    a = ctx.Process(target=_release_like, args=(str(s3_lake), env, "a", True, 6.0, started_a, results))
    a.start()
    assert started_a.wait(60)
    b = ctx.Process(target=_release_like, args=(str(s3_lake), env, "b", False, 0.5, started_b, results))
    b.start()
    outcomes = dict(results.get(timeout=120) for _ in range(2))
    for p in (a, b):
        p.join(timeout=60)
    assert outcomes["b"] == "drew", outcomes
    assert outcomes["a"].startswith("lost:") and "could not be renewed" in outcomes["a"], outcomes
    assert sorted(p.name for p in (s3_lake / "draws").iterdir()) == ["b.json"]  # one draw for the release id
