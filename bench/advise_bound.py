"""The advised bound against the hand-set one, measured (not a test).

    .venv/bin/python bench/evaluate_products.py --people 100000 --feeds telco --contracts kk-inner-city-presence
    .venv/bin/python bench/advise_bound.py                      # on that lake (bench/out/evaluate)

On a lake made by ``bench/evaluate_products.py``: ``cde contracts advise`` on the contract for its day (a DP
histogram, epsilon 0.1, in the ledger), then the same product with the recommended bound (a copy of the
contract under another id, approved like the examples) published and evaluated beside the delivered one with
the hand-set bound: measured dropped share (1 - bounded / exact), median relative errors, released shares.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cell(figures: dict, floor: int) -> str:
    count = figures[f"keys_exact_ge_{floor}"]
    share, error = figures[f"released_share_ge_{floor}"], figures[f"median_rel_error_ge_{floor}"]
    return f"{count:,} ({share:.1%}, {error:.1%})" if share is not None and error is not None else f"{count:,} (-, -)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=ROOT / "bench" / "out" / "evaluate")
    parser.add_argument("--contract", default="kk-inner-city-presence")
    parser.add_argument("--date", type=dt.date.fromisoformat, default=dt.date(2026, 3, 2))
    args = parser.parse_args()
    folder = args.lake / "contracts-advised"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ROOT / "contracts", folder)
    os.environ.update(CDE_LAKE=str(args.lake), CDE_PSEUDONYM_KEY="bench-key-not-secret-0123456789abcdef", CDE_CONTRACTS=str(folder))

    from jobs.common.spark import get_spark
    from jobs.contracts import ContractError
    from jobs.evaluate import evaluate_delivery
    from jobs.privacy.advise import advise, format_advice
    from jobs.publish.approvals import approve_all
    from jobs.publish.deliver import publish
    from jobs.publish.delivery import delivery_id
    from jobs.publish.portfolio import find_contract, load_contract

    spark = get_spark("cde-bench-advise")
    contract = find_contract(args.contract)
    end = args.date + dt.timedelta(days=1)
    metric = contract.metrics[0]
    advice = advise(spark, contract, metric, args.date, end)
    print("\n".join(format_advice(advice)))

    doc = yaml.safe_load((folder / f"{contract.id}.yaml").read_text())
    doc["id"] = f"{contract.id}-advised"
    for item in doc["customProperties"]:
        if item["property"] == advice["property"]:
            item["value"] = advice["recommended"]
    path = folder / f"{doc['id']}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        advised = load_contract(path)
    except ContractError as exc:  # a larger bound has more noise: take the k the phantom rule names
        wanted = re.search(r"k (\d+) would pass", " ".join(exc.errors))
        if not wanted:
            raise
        for item in doc["customProperties"]:
            if item["property"] == "k":
                item["value"] = int(wanted.group(1))
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        advised = load_contract(path)
    approve_all(advised)
    rows = []
    for variant in (contract, advised):
        name = delivery_id(variant, args.date, end)
        if variant is advised or not (args.lake / "outbox" / variant.buyer / variant.id / name).exists():
            publish(spark, variant, args.date)
        figures = evaluate_delivery(spark, name)["metrics"][metric]
        rows.append((variant.bounds[advice["property"]], figures))
    print(f"\n| {advice['property']} | noise scale | k (units) | released / keys | dropped (measured) | "
          "keys >= 500 (released, median rel. error) | keys >= 100 (released, median rel. error) | phantom share |")
    print("|---:|---:|---:|---:|---:|---|---|---:|")
    for bound, f in rows:
        print(f"| {bound} | {f['noise_scale']:.3g} | {f['k']} | {f['released']:,} / {f['keys']:,} | "
              f"{1 - f['bounded_over_exact']:.1%} | {_cell(f, 500)} | {_cell(f, 100)} | "
              f"{f['phantom_share'] or 0:.1%} |")
    (args.lake / "advise_bound.json").write_text(json.dumps({"advice": advice, "rows": rows}, default=str,
                                                             indent=1))


if __name__ == "__main__":
    main()
