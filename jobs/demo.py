"""``make demo`` / ``cde demo``: simulate a day, run the telco slice through Airflow, say where things are."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from jobs.airflow.standalone import ensure_airflow_db
from jobs.common import paths, settings
from jobs.common.spark import get_spark
from jobs.contracts import contract_files
from jobs.publish.portfolio import load_contract

DAG_ID = "cde_daily"


def _airflow_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", str(settings.REPO_ROOT / ".airflow"))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(settings.REPO_ROOT / "dags"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env["CDE_LAKE"] = str(settings.lake_root())
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _approve_examples() -> None:
    """The demo acts for the simulated suppliers (only on the lake the simulator just made): every example
    contract version gets their approvals, and every audit says "approved as simulated supplier"."""
    # loads deltalake, numpy, pyarrow: only when called
    from jobs.publish.approvals import approve_all, missing_approvals

    for path in contract_files():
        contract = load_contract(path)
        if missing_approvals(contract):
            approve_all(contract)
            print(f"[demo] approved {contract.id} {contract.version} as the simulated suppliers "
                  f"{', '.join(contract.suppliers)} (audits say so; real approvals need an officer's identity)")


def run_demo(people: int, date: dt.date, seed: int) -> int:
    """Simulate ``people`` for ``date``, run the DAG with ``airflow dags test`` and print a summary."""
    from jobs.simulate.main import run as simulate  # loads numpy, pandas, pyarrow: only when called

    started = time.monotonic()
    sim = simulate(people, 1, date, seed)
    events = sum(sim["events"].values())
    counts = ", ".join(f"{sum(v.values())} {feed}" for feed, v in sim["records"].items())
    print(f"[demo] simulated {people} people on {date}: {counts} records in {settings.lake_root() / 'landing'}")
    _approve_examples()
    env = _airflow_env()
    ensure_airflow_db(env)
    print(f"[demo] running DAG {DAG_ID} for {date} through Airflow (airflow dags test): 4 feeds, silver, "
          "every contract ...")
    airflow = str(Path(sys.executable).parent / "airflow")
    logical = dt.datetime.combine(date, dt.time(), tzinfo=settings.LOCAL_TZ).isoformat()
    proc = subprocess.run([airflow, "dags", "test", DAG_ID, logical, "--conf", json.dumps({"date": date.isoformat()})],
                          env=env, capture_output=True, text=True)
    log_path = paths.demo_log()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or "state=success" not in (proc.stdout + proc.stderr).replace(" ", ""):
        print(f"[demo] the DAG run failed (exit {proc.returncode}); Airflow's output is in {log_path}",
              file=sys.stderr)
        print((proc.stdout + proc.stderr)[-4000:], file=sys.stderr)
        return 1
    return _summary(date, events, log_path, started)


def _evaluate(date: dt.date) -> None:
    """Print ``cde evaluate`` of each delivery: the delivered values against the exact counts of their cut
    (a bench figure for the demo's reader; buyers never get it)."""
    from jobs.evaluate import evaluate_delivery, format_evaluation  # loads numpy, pandas, pyarrow: only when called
    from jobs.publish.delivery import delivery_id  # loads deltalake, numpy, pandas, pyarrow: only when called

    print("[demo] evaluation against the exact counts of each cut (cde evaluate <delivery>):")
    spark = get_spark("cde-demo-evaluate")
    for path in contract_files():
        contract = load_contract(path)
        result = evaluate_delivery(spark, delivery_id(contract, date, date + dt.timedelta(days=1)))
        for line in format_evaluation(result):
            print(f"[demo]   {line}")


def _summary(date: dt.date, events: int, log_path: Path, started: float) -> int:
    from jobs.publish.delivery import delivery_id  # loads deltalake, numpy, pandas, pyarrow: only when called

    print(f"[demo] Airflow log: {log_path}")
    print(f"[demo] {events} telco events in; deliveries and audits:")
    for path in contract_files():
        contract = load_contract(path)
        delivery = delivery_id(contract, date, date + dt.timedelta(days=1))
        outbox = paths.outbox(contract.buyer, contract.id, delivery)
        audit_json = paths.audit_dir(contract.id) / f"{delivery}.json"
        if not audit_json.exists():
            print(f"[demo] {contract.id}: no audit at {audit_json}", file=sys.stderr)
            return 1
        audit = json.loads(audit_json.read_text())
        result, privacy = audit["result"], audit["privacy"]
        print(f"[demo]   {contract.id}: {result['released']} released / {result['suppressed']} suppressed "
              f"(suppressed below {privacy.get('threshold_text') or privacy['k']}), epsilon spent "
              f"{privacy['epsilon_this_delivery']:g} "
              f"(contract left {privacy['budget']['contract_epsilon_left']:g})")
        print(f"[demo]     delivery: {outbox}")
        print(f"[demo]     audit:    {audit_json.with_suffix('.html')}")
    _evaluate(date)
    print(f"[demo] done in {time.monotonic() - started:.0f} s (evaluation included)")
    print("[demo] to run the pipeline on its schedules in the Airflow UI: make airflow "
          "(docs/operations.md, running on a schedule)")
    return 0
