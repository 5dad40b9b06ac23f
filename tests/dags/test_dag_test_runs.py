"""A run of ``airflow dags test`` (what ``make demo`` uses) shown in the Airflow UI as it happened (issue 34,
operator): its real start, not its logical date months earlier, and each task's log readable, not "not found
on worker"."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.airflow.dag_test_runs import log_record, task_sections

pytestmark = [pytest.mark.airflow]


def test_a_task_s_lines_are_those_between_its_start_and_end():
    output = "\n".join([
        "2026-12-06T08:35:20.1Z [info     ] before [x]",
        "2026-12-06T08:35:20.8Z [info     ] [DAG TEST] starting task_id=publish map_index=4 [airflow.sdk.definitions.dag]",
        "2026-12-06T08:35:21.0Z [info     ] published 18 cells [cde.tasks] loc=tasks.py:278",
        "Traceback (most recent call last):",
        "\x1b[31m2026-12-06T08:35:22.0Z [info     ] [DAG TEST] end task task_id=publish map_index=4 [airflow]\x1b[0m",
        "2026-12-06T08:35:23.0Z [info     ] after [x]",
    ])
    sections = task_sections(output)
    assert list(sections) == [("publish", 4)]
    assert len(sections[("publish", 4)]) == 4 and "\x1b" not in sections[("publish", 4)][-1]


def test_a_console_line_becomes_the_json_airflow_reads():
    line = ("2026-12-06T08:39:15.849954Z [info     ] [DAG TEST] running task <TaskInstance: cde_daily.publish "
            "[TaskInstanceState.SCHEDULED]> [airflow.sdk.definitions.dag] loc=dag.py:1504")
    assert log_record(line) == {
        "timestamp": "2026-12-06T08:39:15.849954Z", "level": "info", "logger": "airflow.sdk.definitions.dag",
        "event": "[DAG TEST] running task <TaskInstance: cde_daily.publish [TaskInstanceState.SCHEDULED]> "
                 "loc=dag.py:1504"}
    assert log_record("  File \"x.py\", line 3") == {"event": "  File \"x.py\", line 3"}


def test_a_test_run_gets_its_real_start_and_its_task_logs(airflow_db, tmp_path):
    from airflow.models import DagRun
    from airflow.utils.log.log_reader import TaskLogReader
    from airflow.utils.session import create_session

    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    logical = "2026-03-02T00:00:00+01:00"
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    airflow = str(Path(sys.executable).parent / "airflow")
    ran = subprocess.run([airflow, "dags", "test", "contracts_health", logical], env=env, capture_output=True,
                         text=True, timeout=600)
    output = tmp_path / "airflow.log"
    output.write_text(ran.stdout + ran.stderr)
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-3000:]
    with create_session() as session:  # what dags test records: a run starting at its logical date
        run = session.query(DagRun).filter(DagRun.dag_id == "contracts_health").order_by(DagRun.id.desc()).first()
        assert run.start_date < started - dt.timedelta(days=200)
    recorded = subprocess.run([sys.executable, "-m", "jobs.airflow.dag_test_runs", "contracts_health", logical,
                               started.isoformat(), str(output)], env=env, capture_output=True, text=True, timeout=300)
    assert recorded.returncode == 0, recorded.stderr[-3000:]
    assert recorded.stdout.strip() == "1 task logs written"
    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == "contracts_health").order_by(DagRun.id.desc()).first()
        assert run.start_date == started and dt.timedelta(0) < run.end_date - run.start_date < dt.timedelta(hours=1)
        (ti,) = run.get_task_instances(session=session)
        chunks, _ = TaskLogReader().read_log_chunks(ti, ti.try_number, {})
        events = [json.loads(c.model_dump_json()) if hasattr(c, "model_dump_json") else c for c in chunks]
    text = "\n".join(str(e.get("event", e)) if isinstance(e, dict) else str(e) for e in events)
    assert "[DAG TEST] starting task_id=" in text and "not found" not in text.lower(), text[-2000:]
