"""A soak of concurrent publishes (not a test): 5 contracts x 4 days = 20 publishes, 4 at a time, tight caps.

    .venv/bin/python bench/soak.py                 # 1,500 people, 2026-03-03 to 03-06
    .venv/bin/python bench/soak.py --people 600    # a shorter run

Simulates and ingests four days, approves the example contracts, records an earlier spend that leaves
``--headroom`` epsilon under the global cap, then starts 20 publishes in 4 spawned worker processes (one
``local[1]`` SparkSession each). Prints one line per publish and the figures the reliability issue asks for:
spends never past the caps, one spend per release, every refusal a clear ``BudgetExceeded`` naming the cap,
every delivery's manifest verified. Exits 1 when any promise is broken.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONTRACTS = ("retail-stroget-footfall", "kk-inner-city-presence", "movia-od-market", "kk-traffic-od",
             "wonderful-cph-tourists")
CAP = 16.0  # the largest example contract budget: contracts above the global cap are refused at load


def worker(lake: str, jobs, results) -> None:
    """Publish (contract, day) pairs from ``jobs`` until it is empty; put one outcome per pair."""
    os.environ.update(CDE_LAKE=lake, CDE_GLOBAL_EPSILON_CAP=str(CAP))
    from jobs.common.spark import get_spark
    from jobs.errors import Refusal
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract

    spark = get_spark("cde-bench-soak", master="local[1]")
    while True:
        try:
            contract_id, day = jobs.get_nowait()
        except Exception:  # queue empty
            return
        started = time.monotonic()
        try:
            out = publish(spark, find_contract(contract_id), dt.date.fromisoformat(day))
            outcome = ("ok", out["outbox"], f"epsilon {out['epsilon_spent']:g}")
        except Refusal as exc:
            outcome = ("refused", type(exc).__name__, str(exc).splitlines()[0])
        except Exception as exc:  # a bug: the soak must show it
            outcome = ("error", type(exc).__name__, repr(exc))
        results.put((contract_id, day, time.monotonic() - started, *outcome))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1500)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 3, 3))
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--headroom", type=float, default=2.0, help="epsilon left under the cap")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "soak")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    lake = args.out / "lake"
    os.environ.update(CDE_LAKE=str(lake), CDE_PSEUDONYM_KEY="bench-key-not-secret-0123456789abcdef",
                      PYSPARK_PYTHON=sys.executable)

    from jobs.aggregate.silver import build_silver
    from jobs.common.spark import get_spark
    from jobs.contracts import contract_files
    from jobs.ingest import FEEDS
    from jobs.ingest.runner import ingest
    from jobs.privacy import ledger
    from jobs.publish.approvals import approve_all
    from jobs.publish.deliver import verify_manifest
    from jobs.publish.portfolio import load_contract
    from jobs.simulate.main import run as simulate

    started = time.monotonic()
    days = [args.start + dt.timedelta(days=i) for i in range(args.days)]
    simulate(args.people, args.days, args.start, seed=31, events_per_person=25)
    spark = get_spark("cde-bench-soak-prepare")
    for day in days:
        for feed in ("telco", "ticket"):
            ingest(spark, FEEDS[feed], day, validate=False)
        build_silver(spark, day)
    spark.stop()
    for path in contract_files():
        approve_all(load_contract(path))
    ledger.record_spend(ledger.Spend("earlier-contract", "1.0.0", "earlier-release", ("telco",), "person",
                                     days[0], days[-1] + dt.timedelta(days=1), CAP - args.headroom, 0.0, 0.0,
                                     "geometric", 1, CAP))
    print(f"[soak] prepared {args.days} days of {args.people} people in {time.monotonic() - started:.0f} s; "
          f"cap {CAP:g}, headroom {args.headroom:g}", flush=True)

    ctx = mp.get_context("spawn")  # delta-rs panics in forked processes
    jobs, results = ctx.Queue(), ctx.Queue()
    asked = [(c, d.isoformat()) for d in days for c in CONTRACTS]
    for job in asked:
        jobs.put(job)
    started = time.monotonic()
    procs = [ctx.Process(target=worker, args=(str(lake), jobs, results)) for _ in range(args.workers)]
    for proc in procs:
        proc.start()
    outcomes = []
    for _ in asked:
        outcome = results.get(timeout=3600)
        print(f"[soak] {outcome[0]:<24} {outcome[1]} {outcome[2]:6.1f} s {outcome[3]:<8} {outcome[5]}", flush=True)
        outcomes.append(outcome)
    for proc in procs:
        proc.join(timeout=300)
    wall = time.monotonic() - started

    entries = ledger.read_entries()
    spent = entries[(entries["kind"] == "spend") & (entries["contract_id"] != "earlier-contract")]
    delivered = [o for o in outcomes if o[3] == "ok"]
    refused = [o for o in outcomes if o[3] == "refused"]
    errors = [o for o in outcomes if o[3] == "error"]
    broken = {
        "spent past the headroom": spent["epsilon"].sum() > args.headroom + 1e-9,
        "a release spent twice": len(spent) != spent["release_id"].nunique(),
        "a refusal not a clear cap refusal": any(o[4] != "BudgetExceeded" or "cap" not in o[5] for o in refused),
        "a delivery not verified": any(verify_manifest(Path(o[4])) for o in delivered),
        "an error": bool(errors),
    }
    print(f"[soak] {len(asked)} publishes of {len(CONTRACTS)} contracts over {args.days} days, {args.workers} at a "
          f"time, in {wall:.0f} s: {len(delivered)} delivered (manifests verified), {len(refused)} refused, "
          f"{len(errors)} errors")
    print(f"[soak] epsilon spent {spent['epsilon'].sum():g} of the headroom {args.headroom:g} "
          f"({len(spent)} spends for {spent['release_id'].nunique()} releases); ledger chain verified: "
          f"{ledger.verify_chain()} rows")
    for what, yes in broken.items():
        print(f"[soak] {what}: {'YES' if yes else 'no'}")
    sys.exit(1 if any(broken.values()) else 0)


if __name__ == "__main__":
    main()
