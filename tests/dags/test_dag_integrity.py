"""Every DAG imports cleanly and carries tags, an owner, retries and docs (Astronomer's template)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pendulum
import pytest

pytestmark = pytest.mark.airflow


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "cde_daily" in dagbag.dags


def test_every_dag_has_tags_owner_retries_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id} has no owner"
            assert task.retries >= 2, f"{dag_id}.{task.task_id} has {task.retries} retries"
            assert task.execution_timeout is not None, f"{dag_id}.{task.task_id} has no execution timeout"


def test_dag_files_parse_fast(dagbag, capsys):
    from airflow.dag_processing.dagbag import DagBag

    dags = Path(__file__).resolve().parents[2] / "dags"
    for path in sorted(dags.glob("*.py")):
        started = time.perf_counter()
        bag = DagBag(dag_folder=str(path))
        seconds = time.perf_counter() - started
        assert bag.dags and not bag.import_errors, path.name
        with capsys.disabled():
            print(f"\n[parse time] {path.name}: {seconds:.2f} s")  # reported, not asserted


def test_data_date_is_the_local_date_of_the_interval_start():
    from jobs.tasks import data_date

    # Local midnight of 2 March in Copenhagen is 23:00 UTC on 1 March.
    start = pendulum.datetime(2026, 3, 1, 23, 0, tz="UTC")
    assert data_date({}, start) == "2026-03-02"
    summer = pendulum.datetime(2026, 6, 30, 22, 0, tz="UTC")
    assert data_date({}, summer) == "2026-07-01"
    assert data_date({"date": "2026-03-05"}, start) == "2026-03-05"
    with pytest.raises(ValueError):
        data_date({}, None)
    assert isinstance(dt.date.fromisoformat(data_date({}, start)), dt.date)
