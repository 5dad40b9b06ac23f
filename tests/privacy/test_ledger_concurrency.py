"""The ledger under concurrent releases in separate processes, and windows across days."""

from __future__ import annotations

import dataclasses
import datetime as dt
import multiprocessing as mp
import os

import pytest

from jobs.privacy import ledger

pytestmark = pytest.mark.slow
SPEND = ledger.Spend(
    contract_id="c-concurrent", contract_version="1.0.0", release_id="r", sources=("telco",), unit="person",
    window_start=dt.date(2026, 3, 2), window_end=dt.date(2026, 3, 3), epsilon=1.0, delta=0.0, rho=0.5,
    mechanism="geometric", sensitivity=12, budget_epsilon_per_period=5.0,
)


def _worker(lake: str, index: int, barrier, results) -> None:
    os.environ["CDE_LAKE"] = lake
    from jobs.privacy import ledger as worker_ledger

    barrier.wait()
    try:
        worker_ledger.record_spend(dataclasses.replace(SPEND, release_id=f"r-{index}"))
        results.put(("spent", index))
    except worker_ledger.BudgetExceeded as exc:
        results.put(("refused", str(exc)))
    except Exception as exc:  # anything else is a bug the test must show
        results.put(("error", repr(exc)))


@pytest.fixture(params=["local", "s3"])
def any_lake(request):
    """A fresh lake on the local disk, or in a bucket of the S3 endpoint on loopback (delta-rs commits there
    with a conditional put: ``If-None-Match`` on the next log entry)."""
    return str(request.getfixturevalue("lake_root" if request.param == "local" else "s3_lake"))


def test_eight_concurrent_releases_against_a_budget_for_five(any_lake):
    ctx = mp.get_context("spawn")   # delta-rs panics in forked processes
    barrier, results = ctx.Barrier(8), ctx.Queue()  # children inherit the environment (CDE_LAKE, AWS_*)
    procs = [ctx.Process(target=_worker, args=(any_lake, i, barrier, results)) for i in range(8)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    kinds = sorted(kind for kind, _ in outcomes)
    assert kinds == ["refused"] * 3 + ["spent"] * 5, outcomes
    entries = ledger.read_entries()
    spends = entries[entries["kind"] == "spend"]
    assert len(spends) == 5 and spends["epsilon"].sum() == 5.0
    assert (entries["kind"] == "refusal").sum() == 3
    assert ledger.verify_chain(entries) == 8
    assert all("left 0" in message for kind, message in outcomes if kind == "refused")
    assert ledger.ledger_path().exists() and str(ledger.ledger_path()).startswith(any_lake)


def test_releases_on_different_days_in_one_window_share_the_cap(lake_root):
    for day in (2, 12, 22, 28, 30):   # all inside one 30-day window starting on 2 March
        start = dt.date(2026, 3, day)
        ledger.record_spend(dataclasses.replace(SPEND, release_id=f"d{day}", window_start=start,
                                                window_end=start + dt.timedelta(days=1)))
    with pytest.raises(ledger.BudgetExceeded):
        start = dt.date(2026, 3, 31)
        ledger.record_spend(dataclasses.replace(SPEND, release_id="d31", window_start=start,
                                                window_end=start + dt.timedelta(days=1)))
    # 2 April shares no 30-day window with 2 March, only with the four later days: 4 + 1 fits the budget.
    start = dt.date(2026, 4, 2)
    ledger.record_spend(dataclasses.replace(SPEND, release_id="a2", window_start=start,
                                            window_end=start + dt.timedelta(days=1)))
    start = dt.date(2026, 4, 3)
    with pytest.raises(ledger.BudgetExceeded):
        ledger.record_spend(dataclasses.replace(SPEND, release_id="a3", window_start=start,
                                                window_end=start + dt.timedelta(days=1)))
