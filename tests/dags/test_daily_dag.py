"""The daily DAG end to end with ``dag.test()`` on a small simulated day, and one ingest DAG."""

from __future__ import annotations

import datetime as dt
import json

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]
DAY = dt.date(2026, 3, 3)


def test_dag_runs_ingest_aggregate_publish(spark, airflow_db, dagbag, lake_root, capsys):
    from jobs.common.settings import LOCAL_TZ
    from jobs.publish.contracts import contract_files
    from jobs.publish.deliver import verify_manifest
    from jobs.simulate.main import run as simulate

    simulate(800, 1, DAY, seed=5, events_per_person=20)
    from jobs.publish.approvals import approve_all
    from jobs.publish.contracts import load_contract

    for path in contract_files():
        approve_all(load_contract(path))
    dag = dagbag.dags["cde_daily"]
    started = dt.datetime.now()
    # No 'date' param: the data date comes from the data interval, which starts at local midnight of DAY.
    run = dag.test(logical_date=dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(), tzinfo=LOCAL_TZ))
    seconds = (dt.datetime.now() - started).total_seconds()
    with capsys.disabled():
        print(f"\n[dag.test] cde_daily: {seconds:.1f} s")
    assert run.state == "success"
    instances = run.get_task_instances()
    assert {ti.state for ti in instances} == {"success"}
    assert sum(ti.task_id == "ingest" for ti in instances) == 4
    contracts = len(contract_files())
    assert sum(ti.task_id == "publish" for ti in instances) == contracts
    manifests = list((lake_root / "outbox").rglob("manifest.json"))
    assert len(manifests) == contracts
    for manifest in manifests:
        assert verify_manifest(manifest.parent) == []
        assert json.loads(manifest.read_text())["window_start"].startswith(DAY.isoformat())
    assert len(list((lake_root / "audit").rglob("*.html"))) == contracts


def test_ingest_dag_runs_for_a_feed(spark, airflow_db, dagbag, lake_root):
    from jobs.common import lake, settings
    from jobs.simulate.main import run as simulate

    simulate(300, 1, DAY, seed=9, feeds=("camera",))
    run = dagbag.dags["ingest_camera"].test(run_conf={"date": DAY.isoformat()})
    assert run.state == "success"
    bronze = lake.read_arrow(settings.table_path("bronze", "camera_events"))
    assert bronze.num_rows > 0
    assert set(bronze.column("event_date").to_pylist()) == {DAY}
