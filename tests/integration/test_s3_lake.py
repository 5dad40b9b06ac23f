"""The whole pipeline with the lake in a bucket (``CDE_LAKE=s3://...`` on the moto endpoint on loopback): simulate
(uploaded as a supplier's drop), ingest every feed with Great Expectations, aggregate, publish a contract and a
derived one, republish (reusing the release), audit the ledger, then retention (DELETE, OPTIMIZE, VACUUM) on
the bucket. Nothing in the jobs changes between a local lake and a bucket: bronze, quarantine and silver equal
a local-mode run of the same landing files, and nothing is left on the local disk."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.spark]
DAY = dt.date(2026, 3, 3)
PEOPLE, SEED = 600, 13
ROOT = Path(__file__).resolve().parents[2]
PIPELINE = """
import datetime as dt, json, sys, time
from jobs.aggregate.silver import build_silver
from jobs.common.spark import get_spark
from jobs.ingest import FEEDS
from jobs.ingest.runner import ingest
from jobs.publish.approvals import approve_all
from jobs.contracts import contract_files
from jobs.publish.portfolio import load_contract
from jobs.publish.deliver import publish
from jobs.simulate.main import run as simulate
day = dt.date.fromisoformat(sys.argv[1])
started = time.monotonic()
simulate(int(sys.argv[2]), 1, day, seed=int(sys.argv[3]), events_per_person=20)
spark = get_spark("cde-s3-test", master="local[2]")
runs = {feed: ingest(spark, FEEDS[feed], day, validate=True) for feed in ("telco", "wifi", "camera", "ticket")}
build_silver(spark, day)
contracts = {load_contract(p).id: load_contract(p) for p in contract_files()}
for contract in contracts.values():
    approve_all(contract)
out = {"runs": {f: {k: r[k] for k in ("records_in", "accepted", "quarantined", "data_docs")} for f, r in runs.items()}}
for name in ("kk-inner-city-presence", "metro-od-market", "kk-inner-city-presence"):
    result = publish(spark, contracts[name], day, day + dt.timedelta(days=1))
    out.setdefault("publish", []).append({k: result[k] for k in ("delivery_id", "outbox", "audit", "epsilon_spent",
                                                                  "released", "suppressed")})
out["seconds"] = time.monotonic() - started
print(json.dumps(out))
"""
RETENTION = """
import datetime as dt, json, sys
from jobs.ingest.retention import apply_retention
print(json.dumps(apply_retention(dt.date.fromisoformat(sys.argv[1]))))
"""


def _run(code: str, *args: str, env: dict) -> str:
    """Run ``code`` as a script file in a driver process of its own; return its last line of output. (Run with
    ``python -c``, Great Expectations' imports end the process early with status 0 and no output.)"""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".py", prefix="cde-s3-driver-", delete=False) as script:
        script.write(code)
    try:
        out = subprocess.run([sys.executable, script.name, *args], env=env, capture_output=True, text=True,
                             timeout=1500, cwd=ROOT)
    finally:
        os.unlink(script.name)
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def bucket_run(s3_env, spark, tmp_path_factory):
    """The pipeline on a bucket (a driver process of its own, whose Spark reads ``s3://`` through S3A), and
    the same landing files ingested and aggregated into a local lake by the test session's Spark."""
    import uuid

    from jobs.aggregate.silver import build_silver
    from jobs.common import objectstore
    from jobs.ingest import FEEDS
    from jobs.ingest.runner import ingest
    from jobs.simulate.main import run as simulate

    local = tmp_path_factory.mktemp("s3-compare") / "lake"
    scratch = tmp_path_factory.mktemp("s3-tmp")
    bucket = f"cde-e2e-{uuid.uuid4().hex[:10]}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CDE_LAKE", str(local))
        simulate(PEOPLE, 1, DAY, seed=SEED, events_per_person=20)
        for feed in ("telco", "wifi", "camera", "ticket"):
            ingest(spark, FEEDS[feed], DAY, validate=False)
        build_silver(spark, DAY)
        for name, value in s3_env.items():
            mp.setenv(name, value)
        objectstore.client().create_bucket(Bucket=bucket,
                                           CreateBucketConfiguration={"LocationConstraint": "eu-north-1"})
        env = {**os.environ, "CDE_LAKE": f"s3://{bucket}/lake", "PYSPARK_PYTHON": sys.executable,
               "TMPDIR": str(scratch)}
        env.pop("CDE_SECRETS", None)
        run = json.loads(_run(PIPELINE, DAY.isoformat(), str(PEOPLE), str(SEED), env=env))
        print(f"[s3] pipeline on the bucket in {run['seconds']:.1f} s")
        yield {"run": run, "local": local, "remote": objectstore.S3Path(f"s3://{bucket}/lake"), "env": env,
               "scratch": scratch}


def _table(root, name: str, drop: tuple[str, ...] = ("run_id", "ingested_at")) -> pd.DataFrame:
    from jobs.common import lake

    frame = lake.read_arrow(root / name).to_pandas()
    frame = frame[sorted(c for c in frame.columns if c not in drop)].astype(str)
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_every_record_is_accounted_for_and_validated_on_the_bucket(bucket_run):
    remote = bucket_run["remote"]
    for feed, run in bucket_run["run"]["runs"].items():
        assert run["records_in"] == run["accepted"] + run["quarantined"] > 0, feed
        docs = run["data_docs"]
        assert docs.startswith(str(remote / "data_docs" / feed)), docs
        html = (remote / "data_docs" / feed / DAY.isoformat() / "index.html").read_text()
        assert "../../_assets/" in html and "cdn.jsdelivr" not in html  # served from the bucket's copy
    assert (remote / "data_docs" / "_assets" / "jquery" / "dist" / "jquery.min.js").is_file()


def test_bronze_quarantine_and_silver_equal_a_local_run(bucket_run):
    local, remote = bucket_run["local"], bucket_run["remote"]
    compared = 0
    for table in ("bronze/telco_events", "bronze/wifi_events", "bronze/camera_events", "bronze/ticket_events",
                  "quarantine/telco", "quarantine/wifi", "silver/presence", "silver/stays", "silver/trips",
                  "silver/anchors"):
        a, b = _table(local, table), _table(remote, table)
        pd.testing.assert_frame_equal(a, b, obj=table)
        compared += len(a)
    assert compared > 10_000  # the comparison covers real volume, not empty tables


def test_deliveries_in_the_bucket_verify_against_their_manifests(bucket_run):
    from jobs.common.objectstore import lake_path

    first, derived, again = bucket_run["run"]["publish"]
    assert first["epsilon_spent"] == 0.5 and again["epsilon_spent"] == 0  # the rerun reused the stored release
    assert again["delivery_id"] == first["delivery_id"]
    for result in (first, derived):
        outbox = lake_path(result["outbox"])
        assert str(outbox).startswith("s3://")
        manifest = json.loads((outbox / "manifest.json").read_text())
        for entry in manifest["files"]:
            assert hashlib.sha256((outbox / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
        assert {"datapackage.json", "README.md", "manifest.json"} <= {p.name for p in outbox.iterdir()}
        for kind in ("json", "html"):
            assert lake_path(result["audit"][kind]).is_file()
        assert result["released"] + result["suppressed"] > 0
    assert not [p for p in Path(bucket_run["scratch"]).rglob("*") if "cde-staging" in str(p) and p.is_file()]


def test_the_ledger_on_the_bucket_verifies(bucket_run):
    from jobs.common import lake

    env = bucket_run["env"]
    out = subprocess.run([sys.executable, "-m", "jobs", "audit", "ledger"], env=env, capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "anchors" in out.stdout
    rows = lake.read_arrow(bucket_run["remote"] / "ledger" / "privacy_budget").to_pylist()
    # parent, kk and metro's use of it; each spend's draw recorded after it
    assert sorted(r["kind"] for r in rows) == ["draw", "draw", "spend", "spend", "use"]


def test_retention_deletes_and_vacuums_on_the_bucket(bucket_run):
    from jobs.common import lake

    remote = bucket_run["remote"]
    bronze = remote / "bronze" / "telco_events"
    files_before = len(list(bronze.rglob("*.parquet")))
    later = dt.date.today() + dt.timedelta(days=90)  # past every layer's retention, landing's counted from ingest
    report = json.loads(_run(RETENTION, later.isoformat(), env=bucket_run["env"]))
    assert report["bronze/telco_events"]["rows_deleted"] > 0
    assert lake.read_arrow(bronze).num_rows == 0
    assert report["bronze/telco_events"]["files_vacuumed"] >= files_before > 0
    assert not list(bronze.rglob("*.parquet"))  # the deleted rows' files are physically gone
    assert not (remote / "landing" / "telco" / DAY.isoformat()).exists()


def test_the_sharing_server_serves_the_bucket_to_the_official_client(bucket_run, tmp_path, monkeypatch):
    import io
    import socket
    import threading
    import time

    import delta_sharing
    import uvicorn

    from jobs.common.objectstore import lake_path
    from jobs.publish.recipients import add_recipient, reads_of
    from jobs.sharing.server import create_app

    for name in ("CDE_LAKE", *(k for k in bucket_run["env"] if k.startswith("AWS_"))):
        monkeypatch.setenv(name, bucket_run["env"][name])
    monkeypatch.setenv("CDE_SECRETS", str(tmp_path / "secrets"))  # the profile (a token) stays off the bucket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        profile = add_recipient("kobenhavns-kommune", f"http://127.0.0.1:{port}/delta-sharing", days=7)
        assert str(profile).startswith(str(tmp_path / "secrets"))
        shared = delta_sharing.load_as_pandas(f"{profile}#kobenhavns-kommune.products.kk-inner-city-presence")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    outbox = lake_path(bucket_run["run"]["publish"][0]["outbox"])
    delivered = pd.read_parquet(io.BytesIO((outbox / "data.parquet").read_bytes()))
    assert len(shared) == len(delivered) > 0
    released = sorted(delivered.loc[~delivered["suppressed"], "value"])
    assert sorted(shared.loc[~shared["suppressed"], "value"]) == released
    assert {r["request"] for r in reads_of("kk-inner-city-presence")} >= {"query"}  # logged in the bucket
