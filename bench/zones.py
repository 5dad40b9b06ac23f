"""A product per buyer zone against the same product per H3 cell (not a test): is the zone product worth buying?

    .venv/bin/python bench/evaluate_products.py --people 25000 --contracts kk-inner-city-presence \\
        --out bench/out/pop25000                                  # makes the lake (and the per-cell delivery)
    .venv/bin/python bench/zones.py --lake bench/out/pop25000     # the same day per quarter of Indre By

Publishes ``kk-inner-city-presence`` with the zones ``tests/data/zones/indre-by-quarters.geojson`` (four
quarters of Indre By: distinct people get their own release per zone) into the lake of an
``evaluate_products`` run, then evaluates it and the per-cell delivery already there with ``cde evaluate``
(``jobs/evaluate.py``): released share, median relative error, false discoveries, against the exact counts of
the same cut. Prints both blocks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONTRACT = "kk-inner-city-presence"
ZONES_FILE = ROOT / "tests" / "data" / "zones" / "indre-by-quarters.geojson"
ZONES = {"file": f"areas/{ZONES_FILE.name}", "id_property": "name"}  # copied beside the contract


def zoned_contract(folder: Path, contract_id: str, zones: dict):
    """The example contract with a ``zones`` term, written into ``folder`` (with the areas) and loaded."""
    import shutil

    import yaml

    from jobs.publish.portfolio import load_contract

    (folder / "areas").mkdir(parents=True, exist_ok=True)  # the region's areas resolve without a copy
    shutil.copyfile(ZONES_FILE, folder / "areas" / ZONES_FILE.name)  # a file beside the contract
    document = yaml.safe_load((ROOT / "contracts" / f"{contract_id}.yaml").read_text())
    document["customProperties"].append({"property": "zones", "value": zones})
    path = folder / f"{contract_id}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return load_contract(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=ROOT / "bench" / "out" / "pop25000")
    args = parser.parse_args()
    evaluation = json.loads((args.lake / "evaluation.json").read_text())
    os.environ.update(CDE_LAKE=str(args.lake.resolve()), CDE_PSEUDONYM_KEY="bench-key-not-secret-0123456789abcdef")
    from jobs.common.spark import get_spark
    from jobs.evaluate import evaluate_delivery, format_evaluation
    from jobs.publish.approvals import approve_all
    from jobs.publish.deliver import publish

    spark = get_spark("cde-bench-zones")
    cells = next(r for r in evaluation["results"] if r["contract_id"] == CONTRACT)
    day = dt.date(2026, 3, 2) + dt.timedelta(days=evaluation["days"] - 1)
    with tempfile.TemporaryDirectory() as folder:
        os.environ["CDE_CONTRACTS"] = folder
        contract = zoned_contract(Path(folder), CONTRACT, ZONES)
        approve_all(contract)
        out = publish(spark, contract, day)
        zones = evaluate_delivery(spark, out["outbox"])
    print(f"{evaluation['people']:,} simulated people, {day}")
    print("per H3 cell:\n" + "\n".join(format_evaluation(cells)))
    print("per zone (four quarters of Indre By):\n" + "\n".join(format_evaluation(zones)))
    spark.stop()


if __name__ == "__main__":
    main()
