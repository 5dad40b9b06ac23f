"""Two processes publishing the same release at once: one spend, one draw, identical deliveries."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]
CONTRACT = "retail-stroget-footfall"


def _publish(lake: str, day: str, barrier, results) -> None:
    os.environ["CDE_LAKE"] = lake
    import datetime as dt

    from jobs.common.spark import get_spark
    from jobs.publish.contracts import find_contract
    from jobs.publish.deliver import publish

    spark = get_spark("cde-test-concurrent-publish")
    contract = find_contract(CONTRACT)
    barrier.wait()  # both sessions are up: ask for the release at the same moment
    try:
        out = publish(spark, contract, dt.date.fromisoformat(day))
        results.put(("ok", out["delivery_id"], out["epsilon_spent"], out["manifest"]["files"]))
    except Exception as exc:  # anything else is a bug the test must show
        results.put(("error", repr(exc), None, None))


def test_two_concurrent_publishes_spend_and_draw_once(simulated_day, tmp_path, monkeypatch):
    from jobs.common import lake, tables
    from jobs.privacy import ledger

    root = tmp_path / "lake"
    shutil.copytree(simulated_day.root, root)
    monkeypatch.setenv("CDE_LAKE", str(root))
    ctx = mp.get_context("spawn")  # delta-rs panics in forked processes
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_publish, args=(str(root), simulated_day.day.isoformat(), barrier, results))
             for _ in range(2)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(kind == "ok" for kind, *_ in outcomes), outcomes
    (_, first_id, first_spent, first_files), (_, second_id, second_spent, second_files) = outcomes
    assert first_id == second_id
    assert sorted([first_spent, second_spent]) == [0.0, 0.3]  # one spent, the other reused the release
    assert {f["name"]: f["sha256"] for f in first_files} == {f["name"]: f["sha256"] for f in second_files}
    spends = ledger.read_entries()
    spends = spends[(spends["kind"] == "spend") & (spends["contract_id"] == CONTRACT)]
    assert len(spends) == 1
    releases = lake.read_arrow(tables.RELEASE_LOG.path()).to_pandas()
    assert (releases["contract_id"] == CONTRACT).sum() == 1  # noise drawn and stored once
