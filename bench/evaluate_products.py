"""Every example product against the exact counts of its cut (not a test): a bench for sizing contracts.

    .venv/bin/python bench/evaluate_products.py --people 10000            # the demo's scale
    .venv/bin/python bench/evaluate_products.py --people 500000 --feeds telco ticket   # city scale
    .venv/bin/python bench/evaluate_products.py --people 500000 --present-population   # placement, issue 35

Simulates ``--days`` local days from ``--start``, ingests and aggregates them, approves and publishes every
example contract for the last day, then runs ``cde evaluate`` on each delivery (``jobs/evaluate.py``) and,
for distinct-people products, compares the exact counts with the simulator's ground truth
(``jobs.simulate.truth.presence_truth``: where people really were, not where their events were placed).
Prints population, events, run times and one block of figures per product.

``--present-population`` instead measures ``present_population`` placed by centroids and by footprints on one
simulated day of the signal network against where the simulated people were (``bench/present_population.py``,
with ``unique_people``'s location error for both placements).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 3, 2))
    parser.add_argument("--feeds", nargs="*", default=None, help="simulated feeds (default: all)")
    parser.add_argument("--contracts", nargs="*", default=None, help="contract ids (default: all examples)")
    parser.add_argument("--truth", action="store_true", help="also compare with the simulator's ground truth")
    parser.add_argument("--truth-step", type=int, default=5, help="minutes between sampled true positions")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "evaluate")
    parser.add_argument("--keep", action="store_true", help="reuse the lake in --out (skip simulate and ingest)")
    parser.add_argument("--report", action="store_true", help="only print the Markdown table of --out/evaluation.json")
    parser.add_argument("--present-population", action="store_true",
                        help="only the placement bench of present_population (bench/present_population.py)")
    args = parser.parse_args()
    if args.present_population:
        import runpy

        os.environ.setdefault("CDE_PSEUDONYM_KEY", "bench-key-not-secret-0123456789abcdef")
        bench = runpy.run_path(str(ROOT / "bench" / "present_population.py"))
        bench["compare"](argparse.Namespace(people=args.people, seed=11, min_people=500, unique=True,
                                            tolerance=bench["INSTANT_TOLERANCE_MINUTES"],
                                            steepness=bench["MODEL"].steepness_db))
        return
    if args.report:
        print(markdown(json.loads((args.out / "evaluation.json").read_text())))
        return
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)
    os.environ.update(CDE_LAKE=str(args.out), CDE_PSEUDONYM_KEY="bench-key-not-secret-0123456789abcdef")
    from jobs.aggregate.silver import build_silver
    from jobs.common.spark import get_spark
    from jobs.evaluate import evaluate_delivery, format_evaluation
    from jobs.ingest.feeds import get_feed
    from jobs.ingest.runner import ingest
    from jobs.publish.approvals import approve_all, missing_approvals
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import load_contracts
    from jobs.simulate.main import run as simulate
    from jobs.simulate.main import simulated_feeds

    feeds = tuple(args.feeds or simulated_feeds())
    timings: dict[str, float] = {}
    started = time.monotonic()
    spark = get_spark("cde-bench-evaluate")
    days = [args.start + dt.timedelta(days=i) for i in range(args.days)]
    if not args.keep:
        sim = simulate(args.people, args.days, args.start, seed=11, feeds=feeds)
        timings["simulate"] = time.monotonic() - started
        print(f"simulated {args.people:,} people, {args.days} day(s): " + ", ".join(
            f"{sum(v.values()):,} {feed} records" for feed, v in sim["records"].items()), flush=True)
        t = time.monotonic()
        for day in days:
            for feed in feeds:
                ingest(spark, get_feed(feed), day, validate=False)
            build_silver(spark, day, tuple(f for f in feeds if get_feed(f).presence is not None))
        timings["ingest + silver"] = time.monotonic() - t
    contracts, invalid = load_contracts()
    if invalid:
        raise SystemExit(f"invalid contracts: {invalid}")
    chosen = [c for c in contracts.values() if not args.contracts or c.id in args.contracts]
    last = days[-1]
    results = []
    for contract in chosen:
        if not set(contract.sources) <= set(feeds):
            print(f"{contract.id}: skipped (reads {contract.sources}, simulated {feeds})")
            continue
        if missing_approvals(contract):
            approve_all(contract)
        t = time.monotonic()
        out = publish(spark, contract, last)
        timings[f"publish {contract.id}"] = time.monotonic() - t
        t = time.monotonic()
        result = evaluate_delivery(spark, out["outbox"])
        timings[f"evaluate {contract.id}"] = time.monotonic() - t
        if args.truth:
            from jobs.simulate.truth import truth_comparison

            result["truth"] = truth_comparison(spark, contract, last, args.truth_step)
        results.append(result)
        print("\n".join(format_evaluation(result)), flush=True)
        if "truth" in result:
            print("  " + json.dumps(result["truth"]))
    print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    print(f"total {time.monotonic() - started:.0f} s")
    saved = args.out / "evaluation.json"
    if args.keep and saved.exists():  # a partial rerun replaces only the products it evaluated
        earlier = json.loads(saved.read_text())
        fresh = {r["contract_id"] for r in results}
        results = [r for r in earlier["results"] if r["contract_id"] not in fresh] + results
        timings = {**earlier.get("timings", {}), **timings}
    saved.write_text(json.dumps(
        {"people": args.people, "days": args.days, "feeds": feeds, "timings": timings, "results": results},
        indent=2, default=str))


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def markdown(run: dict) -> str:
    """One row per product: the figures of ``cde evaluate`` and, where computed, the location error."""
    rows = ["| product | released / keys | k | noise scale | keys >= 500 (released, median rel. error) | "
            "keys >= 100 (released, median rel. error) | phantom share | false discoveries | released / exact sum | "
            "bounded / exact | OD trips in released pairs | location error >= 500 (exact vs truth) | exact / true sum |",
            "|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for result in run["results"]:
        truth = result.get("truth") or {}
        for metric, f in result["metrics"].items():
            rows.append(
                f"| {result['contract_id']} | {f['released']:,} / {f['keys']:,} | {f['k']} | {f['noise_scale']:.3g} | "
                f"{f['keys_exact_ge_500']:,} ({_pct(f['released_share_ge_500'])}, {_pct(f['median_rel_error_ge_500'])}) | "
                f"{f['keys_exact_ge_100']:,} ({_pct(f['released_share_ge_100'])}, {_pct(f['median_rel_error_ge_100'])}) | "
                f"{_pct(f['phantom_share'])} | {_pct(f['false_discovery_share'])} | "
                f"{_pct(f['bias_released_over_exact'])} | {_pct(f['bounded_over_exact'])} | "
                f"{_pct(f.get('trip_share_in_released_pairs'))} | "
                f"{_pct(truth.get('median_rel_location_error_ge_500'))} | {_pct(truth.get('exact_sum_over_true_sum'))} |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
