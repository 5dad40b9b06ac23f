"""Load on the Delta Sharing server over loopback (not a test): metadata and query requests, 32 at a time.

    .venv/bin/python bench/sharing_load.py                        # 10,000 requests, 32 concurrent
    .venv/bin/python bench/sharing_load.py --requests 2000       # a shorter run

Simulates and ingests one day, publishes ``kk-inner-city-presence``, starts the server in its own process
(``serve()``, one uvicorn worker, as ``make share`` runs it) and makes the buyer's recipient. Then
``--concurrency`` threads, each with its own HTTP connection, send ``--requests`` requests in total,
alternating table metadata (GET) and query (POST, latest version: the answer lists every file with a signed
URL). Every request is authenticated and logged by the server like a buyer's. Prints p50, p90, p99 and max
latency, throughput and the count of errors (any status but 200, or a failed connection). Exits 1 on any
error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONTRACT, BUYER = "kk-inner-city-presence", "kobenhavns-kommune"


def prepare(people: int, day: dt.date) -> None:
    """Simulate, ingest and aggregate one day and publish the contract into ``CDE_LAKE``."""
    from jobs.aggregate.silver import build_silver
    from jobs.common.spark import get_spark
    from jobs.contracts import contract_files
    from jobs.ingest import FEEDS
    from jobs.ingest.runner import ingest
    from jobs.publish.approvals import approve_all
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract, load_contract
    from jobs.simulate.main import run as simulate

    simulate(people, 1, day, seed=41, events_per_person=25)
    spark = get_spark("cde-bench-sharing")
    for feed in FEEDS.values():
        ingest(spark, feed, day, validate=False)
    build_silver(spark, day)
    for path in contract_files():
        approve_all(load_contract(path))
    publish(spark, find_contract(CONTRACT), day)
    spark.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    """The sharing server in its own process group; returns once it answers."""
    import requests

    proc = subprocess.Popen([sys.executable, "-c", f"from jobs.sharing.server import serve; serve(port={port})"],
                            cwd=ROOT, start_new_session=True)
    for _ in range(300):
        try:
            requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            return proc
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the sharing server did not start")


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_values[min(len(sorted_values) - 1, max(0, int(round(share * len(sorted_values))) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1500)
    parser.add_argument("--day", type=dt.date.fromisoformat, default=dt.date(2026, 3, 3))
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "sharing")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    os.environ.update(CDE_LAKE=str(args.out / "lake"), CDE_PSEUDONYM_KEY="bench-key-not-secret-0123456789abcdef",
                      PYSPARK_PYTHON=sys.executable)
    import requests

    from jobs.publish.recipients import add_recipient

    started = time.monotonic()
    prepare(args.people, args.day)
    print(f"[sharing] prepared and published {CONTRACT} in {time.monotonic() - started:.0f} s", flush=True)
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}/delta-sharing"
    token = json.loads(add_recipient(BUYER, endpoint, days=1).read_text())["bearerToken"]
    server = start_server(port)
    table = f"{endpoint}/shares/{BUYER}/schemas/products/tables/{CONTRACT}"
    local = threading.local()

    def one(index: int) -> tuple[str, float, int]:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
        kind = "metadata" if index % 2 == 0 else "query"
        began = time.perf_counter()
        try:
            if kind == "metadata":
                response = session.get(f"{table}/metadata", timeout=60)
            else:
                response = session.post(f"{table}/query", json={}, timeout=60)
            status = response.status_code
            if status == 200 and kind == "query" and '"file"' not in response.text:
                status = -2  # a query that lists no file is wrong: the contract was delivered
        except requests.RequestException:
            status = -1
        return kind, (time.perf_counter() - began) * 1000, status

    try:
        one(0), one(1)  # warm the server's caches once, as any buyer's first read would
        began = time.monotonic()
        with ThreadPoolExecutor(args.concurrency) as pool:
            outcomes = list(pool.map(one, range(args.requests)))
        wall = time.monotonic() - began
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    errors = sum(status != 200 for _, _, status in outcomes)
    print(f"[sharing] {args.requests:,} requests ({args.requests // 2:,} metadata, {args.requests - args.requests // 2:,} "
          f"query) at {args.concurrency} concurrent in {wall:.1f} s: {args.requests / wall:,.0f} requests/s, "
          f"{errors} errors")
    for kind in ("all", "metadata", "query"):
        latencies = sorted(ms for k, ms, _ in outcomes if kind in ("all", k))
        print(f"[sharing] {kind:<8} p50 {percentile(latencies, 0.5):7.1f} ms  p90 {percentile(latencies, 0.9):7.1f} ms  "
              f"p99 {percentile(latencies, 0.99):7.1f} ms  max {latencies[-1]:7.1f} ms")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
