"""The telco slice DAG end to end with ``dag.test()`` on a small simulated day."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]
DAY = dt.date(2026, 3, 3)


def test_dag_runs_ingest_aggregate_publish(spark, airflow_db, dagbag, lake_root, capsys):
    from jobs.common.settings import LOCAL_TZ
    from jobs.simulate.main import run as simulate

    simulate(800, 1, DAY, seed=5, events_per_person=20)
    dag = dagbag.dags["cde_telco_slice"]
    started = dt.datetime.now()
    # No 'date' param: the data date comes from the data interval, which starts at local midnight of DAY.
    run = dag.test(logical_date=dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(), tzinfo=LOCAL_TZ))
    seconds = (dt.datetime.now() - started).total_seconds()
    with capsys.disabled():
        print(f"\n[dag.test] cde_telco_slice: {seconds:.1f} s")
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == dict.fromkeys(["data_date", "ingest_telco", "aggregate", "publish"], "success")
    audits = list((lake_root / "audit" / "kk-inner-city-presence").glob("*.json"))
    assert len(audits) == 1
    audit = json.loads(audits[0].read_text())
    assert audit["delivery"]["window_start"].startswith(DAY.isoformat())
    outbox = Path(next((lake_root / "outbox").rglob("manifest.json")).parent)
    from jobs.publish.deliver import verify_manifest

    assert verify_manifest(outbox) == []


def test_ingest_dag_runs_for_a_feed(spark, airflow_db, dagbag, lake_root):
    from jobs.common import lake, settings
    from jobs.simulate.main import run as simulate

    simulate(300, 1, DAY, seed=9, feeds=("camera",))
    run = dagbag.dags["ingest_camera"].test(run_conf={"date": DAY.isoformat()})
    assert run.state == "success"
    bronze = lake.read_arrow(settings.table_path("bronze", "camera_events"))
    assert bronze.num_rows > 0
    assert set(bronze.column("event_date").to_pylist()) == {DAY}
