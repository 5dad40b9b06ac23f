"""Shared fixtures: one SparkSession for the whole test session, and a fresh lake per test module."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

# Set before any job module reads them; each module still gets its own lake (see `lake_root`).
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("CDE_SHUFFLE_PARTITIONS", "4")
os.environ.setdefault("CDE_PSEUDONYM_KEY", "test-master-key-not-secret-0123456789abcdef")
# Airflow reads its home when first imported: give the test session its own, away from the user's.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="cde-tests-airflow-"))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


@pytest.fixture(scope="session")
def spark():
    """The one local SparkSession (local[2], UTC, small shuffles, UI off)."""
    from jobs.common.spark import get_spark

    session = get_spark("cde-tests", master="local[2]")
    yield session
    session.stop()


@pytest.fixture
def lake_root(tmp_path, monkeypatch):
    """An empty lake for one test; `CDE_LAKE` points at it."""
    root = tmp_path / "lake"
    root.mkdir()
    monkeypatch.setenv("CDE_LAKE", str(root))
    return root


@pytest.fixture
def simulated_lake(lake_root):
    """An empty lake with the simulator's marker: the tests' simulated suppliers may approve contracts here
    (``approve_all``), as on every lake the simulator makes."""
    from jobs.common import paths

    paths.simulation(paths.SIMULATION_MARKER).parent.mkdir(parents=True)
    paths.simulation(paths.SIMULATION_MARKER).write_text("{}")
    return lake_root


SIMULATED_DAY = dt.date(2026, 3, 3)


@pytest.fixture(scope="session")
def simulated_day(spark, tmp_path_factory):
    """1,500 simulated people on 2026-03-03: simulate -> ingest (every feed) -> aggregate -> approve."""
    from jobs.aggregate.silver import build_silver
    from jobs.contracts import contract_files
    from jobs.ingest import FEEDS
    from jobs.ingest.runner import ingest
    from jobs.publish.approvals import approve_all
    from jobs.publish.portfolio import load_contract
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
def lake_copy(simulated_day, tmp_path, monkeypatch):
    """A private copy of the simulated day's lake (``CDE_LAKE`` points at it), with only its ingested and
    aggregated state: other tests publish into the shared day, and a copy must not inherit their spends."""
    root = copy_before_publish(Path(simulated_day.root), tmp_path / "lake")
    monkeypatch.setenv("CDE_LAKE", str(root))
    return root


@pytest.fixture(scope="session")
def lake_copier():
    """``copy_before_publish`` for fixtures of wider scope than ``lake_copy`` (e.g. one lake per module)."""
    return copy_before_publish


def copy_before_publish(source: Path, root: Path) -> Path:
    """Copy a lake's ingested and aggregated state to ``root``, leaving out everything publishing made."""
    import shutil

    def before_any_publish(folder: str, names: list[str]) -> set[str]:
        if Path(folder) == source:
            return {"gold", "ledger", "outbox", "audit"} & set(names)
        return {"releases", "locks", "sla_alerts.jsonl"} & set(names) if Path(folder) == source / "ops" else set()

    shutil.copytree(source, root, ignore=before_any_publish)
    return root


@contextlib.contextmanager
def serve_on_loopback(app, what: str):
    """Serve an ASGI app with uvicorn in a thread on a free loopback port; yield its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, f"the {what} did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def loopback():
    """``serve_on_loopback`` for fixtures of any scope: ``with loopback(app, "portal") as url: ...``."""
    return serve_on_loopback


@pytest.fixture
def in_simulated_day(simulated_day, monkeypatch):
    """The shared simulated day, with ``CDE_LAKE`` pointing at it for this test."""
    monkeypatch.setenv("CDE_LAKE", str(simulated_day.root))
    return simulated_day


@pytest.fixture
def receiver():
    """A buyer's webhook endpoint on loopback: answers the queued statuses in turn (200 when none is queued).

    Yields ``(url, hits, answers)``: each hit is ``{"body": bytes, "headers": dict}``; a queued 302 redirects
    to the cloud metadata address (which must never be followed).
    """
    import http.server
    import threading

    hits: list[dict] = []
    answers: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hits.append({"body": body, "headers": dict(self.headers)})
            status = answers.pop(0) if answers else 200
            self.send_response(status)
            if status == 302:
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", hits, answers
    server.shutdown()


@pytest.fixture
def smtp_sink():
    """A local SMTP server on loopback that keeps every message; yields ``(port, messages)``.

    Speaks just enough SMTP for ``smtplib`` (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT); each message is
    ``{"from": ..., "to": [...], "data": "<headers and body>"}``.
    """
    import socketserver
    import threading

    messages: list[dict] = []

    class Session(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            def say(line: str) -> None:
                self.wfile.write(f"{line}\r\n".encode())

            say("220 cde-test-sink ESMTP")
            message: dict = {"to": []}
            while line := self.rfile.readline():
                command = line.decode(errors="replace").strip()
                verb = command.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    say("250 cde-test-sink")
                elif verb == "MAIL":
                    message = {"from": command.split(":", 1)[1].strip(" <>"), "to": []}
                    say("250 OK")
                elif verb == "RCPT":
                    message["to"].append(command.split(":", 1)[1].strip(" <>"))
                    say("250 OK")
                elif verb == "DATA":
                    say("354 end with <CR><LF>.<CR><LF>")
                    body = []
                    while (data := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                        body.append(data.decode(errors="replace"))
                    messages.append({**message, "data": "".join(body)})
                    say("250 OK queued")
                elif verb == "QUIT":
                    say("221 bye")
                    return
                else:  # RSET, NOOP and anything else
                    say("250 OK")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Session)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], messages
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def zoned_contract():
    """Load an example contract with a ``zones`` term (and optionally another k) from a copy in a folder."""
    import shutil

    import yaml

    from jobs.publish.portfolio import load_contract

    repo = Path(__file__).resolve().parents[1]

    def make(folder: Path, contract_id: str, zones_value, k: int | None = None):
        (folder / "areas").mkdir(parents=True, exist_ok=True)  # the region's areas resolve without a copy
        document = yaml.safe_load((repo / "contracts" / f"{contract_id}.yaml").read_text())
        if isinstance(zones_value, dict) and Path(zones_value.get("file", "")).is_absolute():
            # contracts read named files only from inside their folder: bring the zones file along
            source = Path(zones_value["file"])
            shutil.copyfile(source, folder / "areas" / source.name)
            zones_value = {**zones_value, "file": f"areas/{source.name}"}
        document["customProperties"].append({"property": "zones", "value": zones_value})
        for item in document["customProperties"]:
            if item["property"] == "k" and k is not None:
                item["value"] = k
        path = folder / f"{contract_id}.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
        return load_contract(path)

    return make


# ------------------------------------------------------------------------------------ object storage (S3)

MOTO_SERVER = Path(__file__).resolve().parents[1] / ".venv-tools" / "bin" / "moto_server"


@pytest.fixture(scope="session")
def s3_endpoint():
    """An S3-compatible endpoint on loopback: the ``moto`` server from the tools environment (``make test``
    installs it), in its own process group, stopped at the end of the session. Yields its URL."""
    import signal
    import socket
    import subprocess
    import time
    import urllib.request

    if not MOTO_SERVER.exists():
        pytest.skip(f"{MOTO_SERVER} is missing: `make install` puts the moto server into .venv-tools")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tempfile.NamedTemporaryFile(prefix="cde-moto-", suffix=".log", delete=False)
    server = subprocess.Popen([str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the moto server did not start (log: {log.name})") from None
            time.sleep(0.2)
    yield url
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


@pytest.fixture(scope="session")
def s3_env(s3_endpoint):
    """The AWS environment (read by boto3, delta-rs and Spark's S3A) pointing at the test endpoint."""
    return {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "cde-test",
            "AWS_SECRET_ACCESS_KEY": "cde-test-secret", "AWS_REGION": "eu-north-1", "AWS_ALLOW_HTTP": "true",
            "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture
def s3_lake(s3_env, monkeypatch):
    """An empty lake in a fresh bucket of the test endpoint; ``CDE_LAKE`` points at ``s3://<bucket>/lake``.
    Yields the lake root as an ``S3Path``."""
    import uuid

    from jobs.common import objectstore

    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)
    bucket = f"cde-test-{uuid.uuid4().hex[:12]}"
    objectstore.client().create_bucket(Bucket=bucket,
                                       CreateBucketConfiguration={"LocationConstraint": "eu-north-1"})
    monkeypatch.setenv("CDE_LAKE", f"s3://{bucket}/lake")
    return objectstore.S3Path(f"s3://{bucket}/lake")
