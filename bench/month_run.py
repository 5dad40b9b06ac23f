"""A month under the schedule (not a test): 13 days of lead-in and 30 days of deliveries, every DAG per day.

    .venv/bin/python bench/month_run.py                      # 2026-05-10: lead-in to 05-22, month to 06-21
    .venv/bin/python bench/month_run.py --days 3 --people 300   # a short run

Simulates ``--people`` for the lead-in and the month, approves the example contracts plus one segment product
(``kk-segments-bench``: distinct people per res-7 cell and day by resident / commuter / visitor / tourist, whose
13-day look-back cannot cross a pseudonym-key rotation), then runs ``jobs.month_run.run_month`` with
``dag.test()`` per DAG and day (the scheduler would do the same, slower, on this machine). The default start puts
the key rotation of 2026-06-06 inside the month, and every day after the DAGs' start date (2026-03-01: a run
before it has no tasks). Prints one line per day and the month's figures; writes them to ``--out/month.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def segment_contract(folder: Path) -> None:
    """Write the bench's segment product beside the examples (a copy of the inner-city terms, re-cut)."""
    doc = yaml.safe_load((folder / "kk-inner-city-presence.yaml").read_text())
    doc.update(id="kk-segments-bench", version="1.0.0", name="Bench: distinct people by segment per district and day")
    terms = {"area": "areas/kobenhavns-kommune.geojson", "h3_resolution": 7, "time_bin": "1d",
             "segments": ["segment"], "max_cells_per_day": 3, "epsilon": 0.25, "k": 100,
             "budget_epsilon_per_period": 11.0, "schedule": "0 10 * * *"}
    for item in doc["customProperties"]:
        if item["property"] in terms:
            item["value"] = terms[item["property"]]
    doc["schema"][0]["physicalName"] = "gold/kk-segments-bench"
    (folder / "kk-segments-bench.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=600)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 5, 10))
    parser.add_argument("--lead-in", type=int, default=13)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--no-segments", action="store_true", help="only the example contracts")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "month")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    (args.out / "contracts").parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "contracts", args.out / "contracts")
    if not args.no_segments:
        segment_contract(args.out / "contracts")
    home = Path(tempfile.mkdtemp(prefix="cde-month-airflow-"))
    os.environ.update(CDE_LAKE=str(args.out / "lake"), CDE_PSEUDONYM_KEY="bench-key-not-secret-0123456789abcdef",
                      CDE_CONTRACTS=str(args.out / "contracts"), AIRFLOW_HOME=str(home),
                      AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"), AIRFLOW__CORE__LOAD_EXAMPLES="False",
                      PYSPARK_PYTHON=sys.executable,
                      PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    from jobs.airflow.standalone import ensure_airflow_db

    ensure_airflow_db()

    from airflow.dag_processing.dagbag import DagBag

    from jobs.contracts import contract_files
    from jobs.month_run import run_month, summary_lines
    from jobs.publish.approvals import approve_all
    from jobs.publish.portfolio import load_contract
    from jobs.simulate.main import run as simulate

    started = time.monotonic()
    total = args.lead_in + args.days
    simulate(args.people, total, args.start, seed=args.seed, events_per_person=20)
    simulated = time.monotonic() - started
    for path in contract_files():
        approve_all(load_contract(path))
    dagbag = DagBag(dag_folder=str(ROOT / "dags"))

    def progress(day: dict) -> None:
        failed = sorted(k for k, v in day["states"].items() if v != "success")
        print(f"[month] {day['day']} {'lead-in' if day['lead_in'] else 'month  '} {day['seconds']:6.1f} s; "
              f"made {len(day['made'])}/{len(day['due'])}" + (f"; not made: {failed}" if failed else "")
              + (f"; ledger refusals {len(day['refusals'])}" if day["refusals"] else ""), flush=True)

    result = run_month(args.start, args.lead_in, args.days, dagbag, on_day=progress)
    result.update(people=args.people, simulate_seconds=simulated, start=args.start.isoformat())
    (args.out / "month.json").write_text(json.dumps(result, indent=1, default=str))
    print(f"[month] {args.people} people, simulated {total} days in {simulated:.0f} s")
    for line in summary_lines(result):
        print(f"[month] {line}")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
