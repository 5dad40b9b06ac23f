"""The shared integration fixture: one small simulated day of every feed, ingested, aggregated, with the
example contracts approved. Tests that publish into it set ``CDE_LAKE`` with ``in_simulated_day``."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

SIMULATED_DAY = dt.date(2026, 3, 3)


@pytest.fixture(scope="session")
def simulated_day(spark, tmp_path_factory):
    """1,500 simulated people on 2026-03-03: simulate -> ingest (every feed) -> aggregate -> approve."""
    from jobs.aggregate.silver import build_silver
    from jobs.ingest import FEEDS
    from jobs.ingest.runner import ingest
    from jobs.publish.approvals import approve_all
    from jobs.publish.contracts import contract_files, load_contract
    from jobs.simulate.main import run as simulate

    root = tmp_path_factory.mktemp("simulated-day") / "lake"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CDE_LAKE", str(root))
        simulate(1500, 1, SIMULATED_DAY, seed=21, events_per_person=25)
        runs = {feed: ingest(spark, FEEDS[feed], SIMULATED_DAY, validate=False) for feed in ("telco", "wifi",
                                                                                               "camera", "ticket")}
        build_silver(spark, SIMULATED_DAY)
        for path in contract_files():
            approve_all(load_contract(path))
    return SimpleNamespace(root=root, day=SIMULATED_DAY, runs=runs)


@pytest.fixture
def in_simulated_day(simulated_day, monkeypatch):
    """The shared simulated day, with ``CDE_LAKE`` pointing at it for this test."""
    monkeypatch.setenv("CDE_LAKE", str(simulated_day.root))
    return simulated_day
