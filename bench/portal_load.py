"""Load on the portal over loopback (not a test): 100 buyers' sessions browsing and downloading for a minute.

    .venv/bin/python bench/portal_load.py --lake lake              # the demo's lake (make demo)
    .venv/bin/python bench/portal_load.py --lake lake --sessions 20 --seconds 20

Makes ``--sessions`` buyer accounts (spread over the buyers whose contracts have deliveries in the lake) in a
fresh SQLite database in a temporary folder, starts the portal in its own process (``cde portal serve``,
one uvicorn worker, as ``make portal`` runs it), then runs every session at once, each in its own thread with
its own cookie jar: log in, then until the time is up open the workspace, a delivery's page (map and chart),
download its CSV and open the catalogue. The lake is only read. Prints p50, p90, p99 and max latency per kind
of request and overall, throughput, and the count of errors (any status but 200, or a failed connection).
Exits 1 on any error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PASSWORD = "load test password 0123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deliveries(lake: Path) -> dict[str, list[tuple[str, str]]]:
    """Per buyer, its (contract, delivery) pairs with a CSV file, from the lake's outbox."""
    found: dict[str, list[tuple[str, str]]] = {}
    for manifest in sorted((lake / "outbox").glob("*/*/*/manifest.json")):
        names = {f["name"] for f in json.loads(manifest.read_text())["files"]}
        if "data.csv" in names:
            buyer, contract, delivery = manifest.parts[-4:-1]
            found.setdefault(buyer, []).append((contract, delivery))
    return found


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=ROOT / "lake")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    import requests

    lake = args.lake.resolve()
    offered = deliveries(lake)
    if not offered:
        print(f"no delivery with a CSV file in {lake}/outbox: run make demo first", file=sys.stderr)
        return 1
    state = Path(tempfile.mkdtemp(prefix="cde-portal-load-"))
    env = {**os.environ, "CDE_LAKE": str(lake), "CDE_SECRETS": str(state),
           "CDE_PORTAL_DB": f"sqlite:///{state / 'portal.sqlite3'}"}
    os.environ.update(env)
    from jobs.portal.accounts import add_user

    buyers = sorted(offered)
    names = [f"load-{i:03d}" for i in range(args.sessions)]
    for i, name in enumerate(names):
        add_user(name, PASSWORD, "buyer", buyers[i % len(buyers)])
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "jobs", "portal", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if requests.get(base + "/login", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.1)
    latencies: dict[str, list[float]] = {}
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + args.seconds

    def timed(kind: str, session, method: str, url: str, **kwargs):
        start = time.perf_counter()
        try:
            response = session.request(method, base + url, timeout=60, allow_redirects=False, **kwargs)
            ok = response.status_code in (200, 303)
            detail = f"{kind} {url}: {response.status_code}"
        except requests.RequestException as exc:
            response, ok, detail = None, False, f"{kind} {url}: {type(exc).__name__}"
        with lock:
            latencies.setdefault(kind, []).append(time.perf_counter() - start)
            if not ok:
                errors.append(detail)
        return response

    def run(i: int) -> None:
        session = requests.Session()
        buyer = buyers[i % len(buyers)]
        contract, delivery = offered[buyer][i % len(offered[buyer])]
        page = timed("login form", session, "GET", "/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1) if page is not None else ""
        timed("login", session, "POST", "/login", data={"username": names[i], "password": PASSWORD,
                                                       "csrf_token": token, "next": "/"})
        while time.monotonic() < deadline:
            timed("workspace", session, "GET", "/buyer")
            timed("delivery page", session, "GET", f"/buyer/deliveries/{contract}/{delivery}")
            timed("download csv", session, "GET", f"/buyer/deliveries/{contract}/{delivery}/files/data.csv")
            timed("catalogue", session, "GET", "/catalog")

    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=args.sessions) as pool:
            list(pool.map(run, range(args.sessions)))
    finally:
        server.terminate()
        server.wait(timeout=30)
    elapsed = time.monotonic() - started
    every = [v for values in latencies.values() for v in values]
    print(f"portal load: {args.sessions} sessions for {args.seconds:g} s over loopback, {len(every)} requests in "
          f"{elapsed:.1f} s ({len(every) / elapsed:.1f}/s), {len(errors)} errors")
    for kind, values in [*sorted(latencies.items()), ("all", every)]:
        print(f"  {kind:14} n={len(values):6d}  p50 {percentile(values, .5) * 1000:8.1f} ms  "
              f"p90 {percentile(values, .9) * 1000:8.1f} ms  p99 {percentile(values, .99) * 1000:8.1f} ms  "
              f"max {max(values) * 1000:8.1f} ms")
    for line in errors[:10]:
        print("  error:", line)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
