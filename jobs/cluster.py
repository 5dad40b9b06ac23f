"""A Spark standalone cluster on 127.0.0.1 from pyspark's own scripts: one master, two workers.

``make cluster`` starts it (``python -m jobs.cluster start``), ``make cluster-stop`` stops it; while it runs,
``CDE_SPARK_MASTER=spark://127.0.0.1:7077`` runs every job on it (``jobs/common/spark.py``). Logs and pid
files live in ``.spark/`` (ignored by git). The workers share this machine's cores: the point is the
deployment shape (a driver talking to remote executors over the network, each executor a JVM of its own),
not speed.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from jobs.common.settings import REPO_ROOT

MASTER_PORT = 7077
MASTER_URL = f"spark://127.0.0.1:{MASTER_PORT}"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def spark_home() -> Path:
    """The pip-installed pyspark folder (its ``sbin/spark-daemon.sh`` starts the daemons)."""
    import pyspark

    return Path(pyspark.__file__).parent


def _env(state: Path) -> dict[str, str]:
    return {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOG_DIR": str(state / "logs"),
            "SPARK_PID_DIR": str(state / "pids"), "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_MASTER_HOST": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}


def _daemon(action: str, cls: str, instance: int, args: list[str], state: Path) -> None:
    script = spark_home() / "sbin" / "spark-daemon.sh"
    subprocess.run(["bash", str(script), action, cls, str(instance), *args], env=_env(state), check=True,
                   stdout=subprocess.DEVNULL)


def _wait_for_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds:.0f} s (see .spark/logs)")


def start(workers: int = 2, cores: int = 1, memory: str = "2g", state: Path | None = None) -> str:
    """Start the master and ``workers`` workers on loopback; return the master URL.

    Parameters
    ----------
    workers, cores, memory
        Workers, cores and memory each (``SPARK_WORKER_CORES`` / ``_MEMORY`` in Spark's terms).
    state : Path, optional
        Folder for logs and pid files (``.spark/``).
    """
    state = state or REPO_ROOT / ".spark"
    (state / "logs").mkdir(parents=True, exist_ok=True)
    _daemon("start", MASTER_CLASS, 1, ["--host", "127.0.0.1", "--port", str(MASTER_PORT),
                                       "--webui-port", "8090"], state)
    _wait_for_port(MASTER_PORT)
    for instance in range(1, workers + 1):
        _daemon("start", WORKER_CLASS, instance, ["--host", "127.0.0.1", "--cores", str(cores), "--memory", memory,
                                                  "--webui-port", str(8090 + instance), MASTER_URL], state)
    _wait_for_workers(workers)
    return MASTER_URL


def _wait_for_workers(workers: int, seconds: float = 90) -> None:
    """Wait until the master's JSON page lists ``workers`` ALIVE workers."""
    import json
    import urllib.request

    deadline = time.monotonic() + seconds
    alive = 0
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen("http://127.0.0.1:8090/json/", timeout=5) as response:
                alive = sum(w.get("state") == "ALIVE" for w in json.load(response).get("workers", []))
            if alive >= workers:
                return
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"{alive} of {workers} Spark workers registered with {MASTER_URL} (see .spark/logs)")


def stop(workers: int = 2, state: Path | None = None) -> None:
    """Stop the workers and the master (pid files in ``state``)."""
    state = state or REPO_ROOT / ".spark"
    for instance in range(1, workers + 1):
        _daemon("stop", WORKER_CLASS, instance, [], state)
    _daemon("stop", MASTER_CLASS, 1, [], state)


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.cluster start|stop``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.action == "start":
        url = start(args.workers)
        print(f"Spark master {url} with {args.workers} workers (UI http://127.0.0.1:8090); run jobs with "
              f"CDE_SPARK_MASTER={url}; make cluster-stop stops it")
    else:
        stop(args.workers)
        print("Spark cluster stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
