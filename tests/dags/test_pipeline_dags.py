"""The scheduled chain ingest_<feed> -> aggregate_silver -> publish_<contract> with ``dag.test()`` on a small
simulated day, the one-shot ``cde_daily`` DAG, and refusals that fail without retries."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]
DAY = dt.date(2026, 3, 3)
NEXT = DAY + dt.timedelta(days=1)
FEEDS = ("telco", "wifi", "camera", "ticket")


def _approve_examples():
    from jobs.contracts import contract_files
    from jobs.publish.approvals import approve_all
    from jobs.publish.portfolio import load_contract

    for path in contract_files():
        approve_all(load_contract(path))
    return len(contract_files())


def _asset_events(asset_name: str) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                               .where(AssetModel.name == asset_name)).all()
        return [dict(e.extra or {}) for e in rows]


def test_ingest_aggregate_publish_chain(spark, airflow_db, dagbag, lake_root, capsys):
    from jobs.common import lake, settings
    from jobs.common.settings import LOCAL_TZ
    from jobs.publish.deliver import verify_manifest
    from jobs.simulate.main import run as simulate

    simulate(800, 1, DAY, seed=5, events_per_person=20)
    contracts = _approve_examples()
    timings = {}

    for feed in FEEDS:
        started = dt.datetime.now()
        # No 'date' param: a run at local midnight ending DAY gets the interval of DAY, so data date DAY.
        run = dagbag.dags[f"ingest_{feed}"].test(logical_date=dt.datetime.combine(NEXT, dt.time(), tzinfo=LOCAL_TZ))
        timings[f"ingest_{feed}"] = (dt.datetime.now() - started).total_seconds()
        assert run.state == "success", feed
        assert {ti.task_id: ti.state for ti in run.get_task_instances()} == dict.fromkeys(
            ("data_date", "wait_for_landing", "stage", "validate", "commit"), "success")
        # The bronze Asset event names the day, which is what triggers and steers aggregate_silver.
        assert {"feed": feed, "date": DAY.isoformat()}.items() <= _asset_events(f"bronze/{feed}_events")[-1].items()
    assert not any((lake_root / "ingest_staging").rglob("run.json")), "committed batches leave no staging"

    started = dt.datetime.now()
    run = dagbag.dags["aggregate_silver"].test(run_conf={"date": DAY.isoformat()})
    timings["aggregate_silver"] = (dt.datetime.now() - started).total_seconds()
    assert run.state == "success"
    presence = lake.read_arrow(settings.table_path("silver", "presence"))
    assert set(presence.column("source").to_pylist()) == {"telco", "wifi", "ticket"}
    assert set(presence.column("event_date").to_pylist()) == {DAY}
    assert _asset_events("silver/presence")[-1]["date"] == DAY.isoformat()

    publish_dags = sorted(d for d in dagbag.dags if d.startswith("publish_"))
    assert len(publish_dags) == contracts
    for dag_id in publish_dags:
        started = dt.datetime.now()
        # The contract crons fire in the morning of DAY+1; their latest complete interval then spans DAY.
        run = dagbag.dags[dag_id].test(logical_date=dt.datetime.combine(NEXT, dt.time(12), tzinfo=LOCAL_TZ))
        timings[dag_id] = (dt.datetime.now() - started).total_seconds()
        assert run.state == "success", dag_id
        window = next(ti for ti in run.get_task_instances() if ti.task_id == "window").xcom_pull(task_ids="window")
        assert window == {"start": DAY.isoformat(), "end": NEXT.isoformat()}, dag_id
    manifests = list((lake_root / "outbox").rglob("manifest.json"))
    assert len(manifests) == contracts
    for manifest in manifests:
        assert verify_manifest(manifest.parent) == []
        assert json.loads(manifest.read_text())["window_start"].startswith(DAY.isoformat())
    assert len(list((lake_root / "audit").glob("*/*.html"))) == contracts  # and each attempt's under attempts/
    assert len(list((lake_root / "audit").glob("*/attempts/*.html"))) == contracts
    # no raw identifier anywhere: the lake, and Airflow's task logs and metadata database
    from jobs.privacy.identifier_scan import landing_identifiers, scan_lake

    identifiers = landing_identifiers(lake_root)
    assert len(identifiers) > 1000
    assert scan_lake(lake_root, identifiers, also=[Path(os.environ["AIRFLOW_HOME"])]) == []
    with capsys.disabled():
        print(f"\n[dag.test] chain total {sum(timings.values()):.1f} s: "
              + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))


def test_publish_waits_for_its_inputs(airflow_db, lake_root):
    from jobs.airflow.tasks import inputs_ready

    # Nothing ingested for the day: the sensor keeps waiting instead of releasing (and spending) on nothing.
    assert inputs_ready("kk-inner-city-presence", {"start": "2026-03-03", "end": "2026-03-04"}) is False


def test_cde_daily_runs_one_day_end_to_end(spark, airflow_db, dagbag, lake_root, capsys):
    from jobs.simulate.main import run as simulate

    simulate(300, 1, DAY, seed=7, events_per_person=15)
    contracts = _approve_examples()
    started = dt.datetime.now()
    run = dagbag.dags["cde_daily"].test(run_conf={"date": DAY.isoformat()})
    with capsys.disabled():
        print(f"\n[dag.test] cde_daily: {(dt.datetime.now() - started).total_seconds():.1f} s")
    assert run.state == "success"
    instances = run.get_task_instances()
    assert sum(ti.task_id == "ingest" for ti in instances) == len(FEEDS)
    assert sum(ti.task_id == "publish" and ti.state == "success" for ti in instances) == contracts
    assert len(list((lake_root / "outbox").rglob("manifest.json"))) == contracts
    # mapped tasks carry their feed or contract as the label the UI shows, not 0..n (issue 34, operator)
    from jobs.contracts import contract_files

    assert {ti.rendered_map_index for ti in instances if ti.task_id == "ingest"} == set(FEEDS)
    assert {ti.rendered_map_index for ti in instances if ti.task_id == "publish"} == {
        p.stem for p in contract_files()}


def test_a_refused_ingest_fails_at_once_without_retries(spark, airflow_db, dagbag, lake_root):
    from jobs.common import lake, settings
    from jobs.simulate.main import run as simulate

    simulate(50, 1, DAY, seed=3, feeds=("camera",))  # the camera reference data
    folder = lake_root / "landing" / "camera" / DAY.isoformat()
    for path in folder.iterdir():
        path.unlink()
    (folder / "counts.csv").write_text("camera_id,interval_start,interval_minutes,count_in,count_out\n"
                                       + "cam-x,not a time,15,1,1\n" * 20)
    run = dagbag.dags["ingest_camera"].test(run_conf={"date": DAY.isoformat()})
    assert run.state == "failed"
    stage = next(ti for ti in run.get_task_instances() if ti.task_id == "stage")
    assert stage.state == "failed" and stage.try_number == 1  # not up_for_retry: a rerun would be refused again
    (record,) = lake.read_arrow(settings.table_path("ops", "ingest_runs")).to_pylist()
    assert record["status"] == "refused" and record["records_in"] == 20
