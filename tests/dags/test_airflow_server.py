"""``airflow standalone`` with the project's DAGs on a free loopback port: health, the REST API v2, an invalid
contract reported by the DAG processor and contracts_health, the scheduled chain ingest_wifi -> (bronze Asset)
-> aggregate_silver, and a DAG run triggered through the API with params."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import time
import urllib.request

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.integration, pytest.mark.slow]


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class Api:
    """A tiny REST API v2 client (standard library only, so it tests the server, not a client library)."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{self.base}/auth/token", timeout=10) as response:  # all-admins mode
            self.token = json.load(response)["access_token"]

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.base}/api/v2{path}", method=method, data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def wait_for_run(self, dag_id: str, run_id: str | None = None, timeout: float = 420) -> dict:
        """Wait until a run of the DAG (the given one, or its first) ends; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.call("GET", f"/dags/{dag_id}/dagRuns")["dag_runs"]
            run = next((r for r in runs if run_id in (None, r["dag_run_id"])), None)
            if run and run["state"] in ("success", "failed"):
                return run
            time.sleep(3)
        raise TimeoutError(f"no finished run of {dag_id} after {timeout} s: {runs}")


@pytest.fixture
def airflow_server(tmp_path):
    from jobs.airflow import standalone as airflow_local
    from jobs.common import settings

    port, log_port, trigger_log_port = _free_ports(3)
    home = tmp_path / "airflow"
    home.mkdir()
    env = airflow_local.airflow_env(home, port, log_port=log_port, trigger_log_port=trigger_log_port,
                                    all_admins=True, lake=tmp_path / "lake")
    # The example contracts plus one invalid file, which must not stop the others' DAGs.
    contracts = tmp_path / "contracts"
    shutil.copytree(settings.REPO_ROOT / "contracts", contracts)
    shutil.copy(settings.REPO_ROOT / "tests" / "fixtures" / "contracts" / "invalid" / "k-below-minimum.yaml",
                contracts / "broken.yaml")
    env["CDE_CONTRACTS"] = str(contracts)
    process = airflow_local.start(env, home / "standalone.log")
    try:
        started = time.monotonic()
        airflow_local.wait_healthy(port, process)
        yield port, tmp_path / "lake", home, time.monotonic() - started
    finally:
        airflow_local.stop(process)
        assert process.poll() is not None
        # The whole group is gone: scheduler, API server, DAG processor, triggerer, task workers.
        assert airflow_local.group_processes(process.pid) == []


def test_standalone_serves_the_dags_and_runs_them_through_the_rest_api(airflow_server, monkeypatch, capsys):
    from jobs.common.settings import LOCAL_TZ
    from jobs.simulate.main import run as simulate

    port, lake, home, healthy_after = airflow_server
    started = time.monotonic()
    # The latest complete local day is what the scheduler's first ingest run processes.
    yesterday = dt.datetime.now(LOCAL_TZ).date() - dt.timedelta(days=1)
    monkeypatch.setenv("CDE_LAKE", str(lake))
    simulate(200, 1, yesterday, seed=11, events_per_person=10, feeds=("wifi",))

    api = Api(port)
    deadline = time.monotonic() + 120
    while (dags := api.call("GET", "/dags?limit=100"))["total_entries"] < 13 and time.monotonic() < deadline:
        time.sleep(2)  # the DAG processor is still parsing
    dag_ids = {d["dag_id"] for d in dags["dags"]}
    assert {"ingest_wifi", "aggregate_silver", "contracts_health", "publish_kk-inner-city-presence"} <= dag_ids
    assert len([d for d in dag_ids if d.startswith("publish_")]) == 6
    assert api.call("GET", "/importErrors")["total_entries"] == 0
    processor_logs = "".join(p.read_text() for p in (home / "logs" / "dag_processor").rglob("cde_publish.py.log"))
    assert "broken.yaml is invalid" in processor_logs and "customProperties.k" in processor_logs

    # contracts_health, triggered through the API, fails naming the invalid file and field; the examples'
    # schedules fit their budgets and the global caps for a year, so the budget plan logs no warning.
    api.call("PATCH", "/dags/contracts_health", {"is_paused": False})
    health = api.call("POST", "/dags/contracts_health/dagRuns", {"logical_date": None, "conf": {}})
    assert api.wait_for_run("contracts_health", health["dag_run_id"])["state"] == "failed"
    task_log = next((home / "logs" / "dag_id=contracts_health").rglob(
        f"run_id={health['dag_run_id']}/task_id=validate_contracts/attempt=1.log")).read_text()
    assert "broken.yaml: customProperties.k" in task_log and "budget plan:" not in task_log

    # The scheduled chain: unpaused, ingest_wifi runs its latest interval (yesterday), its bronze Asset event
    # triggers aggregate_silver, which reads the day from the event.
    api.call("PATCH", "/dags/aggregate_silver", {"is_paused": False})
    api.call("PATCH", "/dags/ingest_wifi", {"is_paused": False})
    ingest = api.wait_for_run("ingest_wifi")
    assert ingest["state"] == "success", (home / "standalone.log").read_text()[-3000:]
    assert ingest["run_type"] == "scheduled"
    aggregate = api.wait_for_run("aggregate_silver")
    assert aggregate["state"] == "success" and aggregate["run_type"] == "asset_triggered"
    work = api.call("GET", f"/dags/aggregate_silver/dagRuns/{aggregate['dag_run_id']}/taskInstances/work/"
                           "xcomEntries/return_value")
    assert work["value"] == [{"date": yesterday.isoformat(), "sources": ["wifi"]}]
    assert any((lake / "silver" / "presence").rglob("*.parquet"))
    logs = list((home / "logs").rglob("attempt=1.log"))
    assert any("rows in" in p.read_text() for p in logs if "task_id=commit" in str(p))

    # A manual run triggered through the API with params: rebuild that day's wifi silver again (idempotent).
    manual = api.call("POST", "/dags/aggregate_silver/dagRuns",
                      {"logical_date": None, "conf": {"date": yesterday.isoformat(), "sources": ["wifi"]}})
    assert api.wait_for_run("aggregate_silver", manual["dag_run_id"])["state"] == "success"
    rebuilt = api.call("GET", f"/dags/aggregate_silver/dagRuns/{manual['dag_run_id']}/taskInstances/work/"
                              "xcomEntries/return_value")
    assert rebuilt["value"] == work["value"]
    with capsys.disabled():
        print(f"\n[airflow standalone] healthy after {healthy_after:.0f} s on port {port}; trigger, scheduled "
              f"ingest, asset-triggered and API-triggered aggregation done {time.monotonic() - started:.0f} s later")


def test_cde_airflow_stops_cleanly_on_sigterm(tmp_path):
    """``make airflow`` ended in make's "Error 241" after Ctrl-C or kill: the command now exits 0 when stopped
    as asked, with its whole process group gone (issue 34, operator)."""
    import os
    import signal
    import subprocess
    import sys

    (port,) = _free_ports(1)
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "CDE_LAKE": str(tmp_path / "lake"),
           "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}
    process = subprocess.Popen([sys.executable, "-m", "jobs", "airflow", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        seen = ""
        while "Ctrl-C stops Airflow" not in seen and time.monotonic() < deadline and process.poll() is None:
            seen += process.stdout.readline()
        assert "Airflow UI: http://127.0.0.1:" in seen, seen[-2000:]
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, out[-2000:]
    assert "Stopping Airflow" in out
