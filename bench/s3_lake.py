"""What a lake in a bucket costs: the same day through the same jobs on a local folder and on an S3 endpoint.

Starts the ``moto`` S3 server from ``.venv-tools`` on loopback, then runs one driver process per lake (simulate,
ingest every feed, aggregate, publish one contract, each stage timed) and prints the stages side by side.
The endpoint is on loopback, so the figures show the cost of object-store semantics (listing, ranged reads,
S3A's copy-on-rename commits, conditional writes), not of a network.

    .venv/bin/python bench/s3_lake.py --people 3000
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DRIVER = """
import datetime as dt, json, sys, time
laps, t = {}, time.monotonic()
def lap(name):
    global t
    laps[name] = round(time.monotonic() - t, 1)
    t = time.monotonic()
from jobs.simulate.main import run as simulate
day = dt.date(2026, 3, 3)
simulate(int(sys.argv[1]), 1, day, seed=11, events_per_person=40)
lap("simulate")
from jobs.common.spark import get_spark
spark = get_spark("cde-bench-s3", master="local[2]")
lap("spark start")
from jobs.ingest import FEEDS
from jobs.ingest.runner import ingest
for feed in ("telco", "wifi", "camera", "ticket"):
    ingest(spark, FEEDS[feed], day, validate=(feed == "telco"))
    lap(f"ingest {feed}")
from jobs.aggregate.silver import build_silver
build_silver(spark, day)
lap("aggregate")
from jobs.publish.approvals import approve_all
from jobs.publish.portfolio import find_contract
from jobs.publish.deliver import publish
contract = find_contract("kk-inner-city-presence")
approve_all(contract)
publish(spark, contract, day)
lap("publish kk-inner-city-presence")
print(json.dumps(laps))
"""


def _run(lake: str, people: int, env: dict) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(DRIVER)
    try:
        started = time.monotonic()
        out = subprocess.run([sys.executable, script.name, str(people)], env={**env, "CDE_LAKE": lake},
                             capture_output=True, text=True, cwd=ROOT)
    finally:
        os.unlink(script.name)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    laps = json.loads(out.stdout.strip().splitlines()[-1])
    return {**laps, "whole process": round(time.monotonic() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=3000)
    args = parser.parse_args()
    moto = ROOT / ".venv-tools" / "bin" / "moto_server"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "AWS_ENDPOINT_URL": endpoint,
               "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "eu-north-1",
               "AWS_ALLOW_HTTP": "true", "CDE_PSEUDONYM_KEY": "bench-key-not-secret-0123456789abcdef0123"}
        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
        import boto3

        bucket = f"cde-bench-{uuid.uuid4().hex[:8]}"
        boto3.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-north-1"})
        with tempfile.TemporaryDirectory(prefix="cde-bench-local-") as local:
            results = {"local folder": _run(str(Path(local) / "lake"), args.people, env),
                       "bucket (moto, loopback)": _run(f"s3://{bucket}/lake", args.people, env)}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
    names = list(results)
    print(f"{args.people} people, one day, local[2] (seconds)")
    print(f"| stage | {' | '.join(names)} |")
    print("|---|" + "---:|" * len(names))
    for stage in results[names[0]]:
        print(f"| {stage} | {' | '.join(str(results[n].get(stage)) for n in names)} |")


if __name__ == "__main__":
    main()
