"""Two processes publishing the same release at once: one spend, one draw, identical deliveries; the
same for a shared release asked for by its contract and a derived contract at once."""

from __future__ import annotations

import multiprocessing as mp
import os

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]
CONTRACT = "retail-stroget-footfall"


def _publish(lake: str, day: str, barrier, results, contract_id: str = CONTRACT) -> None:
    os.environ["CDE_LAKE"] = lake
    import datetime as dt

    from jobs.common.spark import get_spark
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract

    spark = get_spark("cde-test-concurrent-publish")
    contract = find_contract(contract_id)
    barrier.wait()  # both sessions are up: ask for the release at the same moment
    try:
        out = publish(spark, contract, dt.date.fromisoformat(day))
        results.put(("ok", out["delivery_id"], out["epsilon_spent"], out["manifest"]["files"],
                     out["manifest"]["release_ids"], out["outbox"]))
    except Exception as exc:  # anything else is a bug the test must show
        results.put(("error", repr(exc), None, None, None, None))


def _race(simulated_day, lake_copy, contract_ids: tuple[str, str]) -> list[tuple]:
    """Publish two contracts for the simulated day at the same moment, in two spawned processes, on a copy of
    the day's lake; return both outcomes."""
    root = lake_copy
    ctx = mp.get_context("spawn")  # delta-rs panics in forked processes
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_publish, args=(str(root), simulated_day.day.isoformat(), barrier, results, cid))
             for cid in contract_ids]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return outcomes


def test_two_concurrent_publishes_spend_and_draw_once(simulated_day, lake_copy):
    from jobs.common import lake, tables
    from jobs.privacy import ledger

    outcomes = _race(simulated_day, lake_copy, (CONTRACT, CONTRACT))
    assert all(kind == "ok" for kind, *_ in outcomes), outcomes
    (_, first_id, first_spent, first_files, *_), (_, second_id, second_spent, second_files, *_) = outcomes
    assert first_id == second_id
    assert sorted([first_spent, second_spent]) == [0.0, 0.3]  # one spent, the other reused the release
    assert {f["name"]: f["sha256"] for f in first_files} == {f["name"]: f["sha256"] for f in second_files}
    spends = ledger.read_entries()
    spends = spends[(spends["kind"] == "spend") & (spends["contract_id"] == CONTRACT)]
    assert len(spends) == 1
    releases = lake.read_arrow(tables.RELEASE_LOG.path()).to_pandas()
    assert (releases["contract_id"] == CONTRACT).sum() == 1  # noise drawn and stored once
    # the buyer's file holds one row per key (3,600 rows for 1,800 keys when both draws landed)
    import pandas as pd

    delivered = pd.read_parquet(os.path.join(outcomes[0][5], "data.parquet"))
    keys = ["h3_cell", "bin_start", "metric"]
    print(f"delivered {len(delivered)} rows for {len(delivered.drop_duplicates(keys))} keys")
    assert len(delivered) > 0 and not delivered.duplicated(keys).any()


def test_a_shared_release_asked_for_by_two_contracts_at_once_is_spent_and_drawn_once(simulated_day, lake_copy):
    import pandas as pd

    from jobs.common import lake, tables
    from jobs.privacy import ledger

    outcomes = _race(simulated_day, lake_copy, ("movia-od-market", "metro-od-market"))
    assert all(kind == "ok" for kind, *_ in outcomes), outcomes
    (release_id,) = {tuple(o[4]) for o in outcomes}
    assert sorted(o[2] for o in outcomes) == [0.0, 0.25]  # whoever came second waited and reused the release
    entries = ledger.read_entries()
    mine = entries[entries["release_id"] == release_id[0]]
    assert sorted(mine["kind"]) == ["draw", "spend", "use"] and mine.loc[mine["kind"] == "spend", "contract_id"].tolist() \
        == ["movia-od-market"]
    releases = lake.read_arrow(tables.RELEASE_LOG.path()).to_pandas()
    assert (releases["release_id"] == release_id[0]).sum() == 1
    keys = ["origin_h3", "destination_h3", "bin_start"]
    a, b = (pd.read_parquet(f"{o[5]}/data.parquet").set_index(keys).sort_index() for o in outcomes)
    assert a["value"].equals(b["value"])
