"""Run Airflow locally with the project's DAGs: ``airflow standalone`` (scheduler, DAG processor, API server,
triggerer; SQLite; LocalExecutor) on loopback, used by ``make airflow`` and by the REST API test.

Airflow 3 task processes report to the API server's execution API, so its URL must follow the chosen port;
the log servers get their own ports (8793 is the worker log server's default). The whole standalone tree
runs in its own process group, which ``stop`` ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from jobs.common import settings

DEFAULT_PORT = 8080


def airflow_env(home: Path, port: int, *, log_port: int = 8793, trigger_log_port: int = 8794,
                all_admins: bool = False, lake: Path | None = None) -> dict[str, str]:
    """Environment of a standalone Airflow serving the project's DAGs on ``127.0.0.1:<port>``."""
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(home),
        "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",  # standalone spawns `airflow` subcommands
        "PYSPARK_PYTHON": sys.executable,
        "CDE_LAKE": str(lake or settings.lake_root()),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(trigger_log_port),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True" if all_admins else "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        # Every schedule is the region's local time; naive times and the server's defaults follow it.
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": settings.LOCAL_TZ_NAME,
        # One Spark job per core at most: 32 slots on a 2-core machine only thrash.
        "AIRFLOW__CORE__PARALLELISM": str(os.cpu_count() or 2),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(os.cpu_count() or 2),
        "AIRFLOW__CORE__DEFAULT_POOL_TASK_SLOT_COUNT": str(os.cpu_count() or 2),
        "GX_ANALYTICS_ENABLED": "False",
    })
    return env


def ensure_airflow_db(env: dict[str, str] | None = None) -> None:
    """Create or upgrade Airflow's metadata database and set the Spark pool (quick when both are current).

    Spark tasks run in the ``spark`` pool (``jobs.airflow.orchestration.SPARK_POOL``) with one slot per core
    (``CDE_SPARK_POOL_SLOTS`` overrides): each slot starts a JVM with its own SparkSession.
    """
    from jobs.airflow.orchestration import SPARK_POOL, spark_pool_slots  # loads airflow, jinja2: only when called

    airflow = str(Path(sys.executable).parent / "airflow")
    env = env or dict(os.environ)
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    subprocess.run([airflow, "pools", "set", SPARK_POOL, str(spark_pool_slots()),
                    "Spark jobs: each slot is one JVM with a local SparkSession"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start(env: dict[str, str], log_file: Path) -> subprocess.Popen:
    """Start ``airflow standalone`` in its own process group, writing its output to ``log_file``."""
    ensure_airflow_db(env)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_file, "ab")  # noqa: SIM115 - handed to the child, closed with it
    return subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "standalone"], env=env,
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                            cwd=str(settings.REPO_ROOT))


def wait_healthy(port: int, process: subprocess.Popen, timeout: float = 300) -> dict:
    """Wait until the API server reports a healthy metadatabase, scheduler and DAG processor."""
    url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"airflow standalone exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                health = json.load(response)
            parts = ("metadatabase", "scheduler", "dag_processor")
            if all(health.get(p, {}).get("status") == "healthy" for p in parts):
                return health
            last = json.dumps(health)
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError) as exc:
            last = str(exc)
        time.sleep(2)
    raise TimeoutError(f"Airflow on port {port} not healthy after {timeout:.0f} s: {last}")


def group_processes(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, read from ``/proc``.

    ``killpg(pgid, 0)`` also succeeds for zombies that no init has reaped yet, which would make a stopped
    group look alive.
    """
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            pids.append(int(stat.parent.name))
    return pids


def _group_alive(pgid: int) -> bool:
    return bool(group_processes(pgid))


def stop(process: subprocess.Popen, grace: float = 30) -> None:
    """Stop the whole standalone process group (components, task workers, Spark JVMs): SIGTERM, then SIGKILL
    whatever is left after ``grace`` seconds."""
    pgid = process.pid
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and (process.poll() is None or _group_alive(pgid)):
        time.sleep(0.5)
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.2)
    process.wait(10)


def login(home: Path) -> tuple[str, str]:
    """The admin login standalone generated (simple auth manager passwords file)."""
    path = home / "simple_auth_manager_passwords.json.generated"
    deadline = time.monotonic() + 60
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(1)
    return "admin", json.loads(path.read_text())["admin"]


def main(port: int = DEFAULT_PORT) -> int:
    """Serve the project's DAGs until interrupted (``make airflow``); print the URL and the login."""
    home = Path(os.environ.get("AIRFLOW_HOME") or settings.REPO_ROOT / ".airflow").resolve()
    env = airflow_env(home, port)

    def interrupt(signum, frame):
        raise KeyboardInterrupt  # `kill` stops Airflow as Ctrl-C does (it runs in its own process group)

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    log_file = home / "standalone.log"
    process = start(env, log_file)
    try:
        wait_healthy(port, process)
        user, password = login(home)
        print(f"Airflow UI: http://127.0.0.1:{port}   login: {user} / {password}\n"
              f"DAGs from {env['AIRFLOW__CORE__DAGS_FOLDER']}, lake {env['CDE_LAKE']}; new DAGs start paused.\n"
              f"Output of the scheduler, DAG processor and API server: {log_file}; task logs: {home / 'logs'}\n"
              "Ctrl-C stops Airflow.", flush=True)
        process.wait()
    except KeyboardInterrupt:
        print("Stopping Airflow ...", flush=True)
        stop(process)
        # stopped as asked: the components' exit codes after SIGTERM (-15, which make reported as 241) are no failure
        return 0
    finally:
        stop(process)
    return process.returncode or 0
