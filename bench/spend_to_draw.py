"""How long a release lies between its spend and its stored draw (not a test): a kill in that span costs a
second spend, so it should hold only the noise and the write.

    .venv/bin/python bench/spend_to_draw.py --lake lake       # the demo's lake (make demo), copied first

Copies the lake's ingested and aggregated state (nothing published) to a temporary folder, then publishes
each named contract's first day twice there, once with the true counts computed after the spend (as before
issue 31) and once before it (``MATERIALISE_BEFORE_SPEND``), each into a fresh copy. Prints per contract the
whole publish, the time before the spend and the span from the spend to the stored draw, in seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def fresh_copy(source: Path, target: Path) -> Path:
    """The lake without anything publishing made (as the tests' ``copy_before_publish``)."""
    def skip(folder: str, names: list[str]) -> set[str]:
        if Path(folder) == source:
            return {"gold", "ledger", "outbox", "audit"} & set(names)
        return {"releases", "locks", "sla_alerts.jsonl"} & set(names) if Path(folder) == source / "ops" else set()

    shutil.copytree(source, target, ignore=skip)
    return target


def timed_publish(spark, contract_id: str, day: dt.date, materialise: bool) -> dict[str, float]:
    """Publish once; return the seconds of the whole publish, before the spend and from spend to draw."""
    from jobs.privacy import ledger
    from jobs.privacy import release as release_module
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract

    marks: dict[str, float] = {}
    record_spend, record_draw = ledger.record_spend, ledger.record_draw

    def spend(*args, **kwargs):
        out = record_spend(*args, **kwargs)
        marks.setdefault("spend", time.perf_counter())
        return out

    def draw(*args, **kwargs):
        marks.setdefault("draw", time.perf_counter())  # called right after the draw's commit
        return record_draw(*args, **kwargs)

    ledger.record_spend, ledger.record_draw = spend, draw
    release_module.MATERIALISE_BEFORE_SPEND = materialise
    try:
        start = time.perf_counter()
        publish(spark, find_contract(contract_id), day)
        total = time.perf_counter() - start
    finally:
        ledger.record_spend, ledger.record_draw = record_spend, record_draw
        release_module.MATERIALISE_BEFORE_SPEND = True
    return {"total": total, "before_spend": marks["spend"] - start, "spend_to_draw": marks["draw"] - marks["spend"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=ROOT / "lake")
    parser.add_argument("--contracts", nargs="+", default=["kk-inner-city-presence", "movia-od-market"])
    parser.add_argument("--day", type=dt.date.fromisoformat, default=dt.date(2026, 3, 2))
    args = parser.parse_args()
    from jobs.common.spark import get_spark

    spark = get_spark("cde-bench-spend-to-draw")
    with tempfile.TemporaryDirectory() as folder:
        os.environ["CDE_LAKE"] = str(fresh_copy(args.lake.resolve(), Path(folder) / "warm-up"))
        timed_publish(spark, args.contracts[0], args.day, True)  # the JVM's first publish is slower: not measured
        for contract_id in args.contracts:
            for materialise in (False, True):
                lake = Path(folder) / f"{contract_id}-{materialise}"
                os.environ["CDE_LAKE"] = str(fresh_copy(args.lake.resolve(), lake))
                figures = timed_publish(spark, contract_id, args.day, materialise)
                when = "true counts before the spend" if materialise else "true counts after the spend"
                print(f"[spend-to-draw] {contract_id} ({when}): publish {figures['total']:.1f} s, before the spend "
                      f"{figures['before_spend']:.1f} s, spend to stored draw {figures['spend_to_draw']:.1f} s")
                shutil.rmtree(lake)


if __name__ == "__main__":
    main()
