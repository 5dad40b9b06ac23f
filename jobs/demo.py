"""``make demo`` / ``cde demo``: simulate a day, run the telco slice through Airflow, say where things are."""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import queue
import re
import subprocess
import sys
import threading
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


class Pulse:
    """While the demo works, a line naming the step under way whenever nothing was printed for
    ``HEARTBEAT_SECONDS`` (simulating, approving, evaluating: Airflow's tasks have their own lines).

    Used as a context manager around the demo: it stands in for ``sys.stdout`` to see when the demo last
    printed, and ``step`` says what is under way.
    """

    def __init__(self, started: float, step: str = "starting"):
        self.started, self.step, self.stream = started, step, sys.stdout
        self.last = time.monotonic()
        self._done = threading.Event()

    def write(self, text: str) -> int:  # noqa: D102 (a stream's)
        self.last = time.monotonic()
        return self.stream.write(text)

    def flush(self) -> None:  # noqa: D102 (a stream's)
        self.stream.flush()

    def __getattr__(self, name: str):
        return getattr(self.stream, name)

    def __enter__(self) -> Pulse:
        sys.stdout = self
        threading.Thread(target=self._beat, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        sys.stdout = self.stream

    def _beat(self) -> None:
        while not self._done.wait(0.2):
            now = time.monotonic()
            if now - self.last >= HEARTBEAT_SECONDS:
                self.write(f"[demo] {_clock(now - self.started)} still {self.step}\n")
                self.flush()


def run_demo(people: int, date: dt.date, seed: int) -> int:
    """Simulate ``people`` for ``date``, run the DAG with ``airflow dags test`` and print a summary; a line
    at least every ``HEARTBEAT_SECONDS`` throughout."""
    started = time.monotonic()
    with Pulse(started, f"simulating {people:,} people") as pulse:
        return _run_demo(people, date, seed, started, pulse)


def _run_demo(people: int, date: dt.date, seed: int, started: float, pulse: Pulse) -> int:
    from jobs.ingest.feeds import supplied_feeds  # reads the supplier registry: only when called
    from jobs.ingest.footprints import build_footprints  # loads h3, numpy, pandas: only when called
    from jobs.simulate.main import run as simulate  # loads numpy, pandas, pyarrow: only when called

    sim = simulate(people, 1, date, seed)
    events = sum(sim["events"].values())
    counts = ", ".join(f"{sum(v.values())} {feed}" for feed, v in sim["records"].items())
    print(f"[demo] {_clock(time.monotonic() - started)} simulated {people:,} people on {date}: {counts} records "
          f"in {settings.lake_root() / 'landing'}")
    pulse.step = "computing the network's cell footprints"
    sizes = build_footprints("telco", date)
    print(f"[demo] {_clock(time.monotonic() - started)} cell footprints of {sizes['cells']:,} telco cells "
          f"(cde footprints): the median holds 90% of its weight in {sizes['median_cells'][9]:g} resolution-9 "
          f"cells, so the network supports about resolution {sizes['supported_resolution']}; finer deliveries "
          "say so in their README and audit")
    pulse.step = "approving the example contracts"
    _approve_examples()
    pulse.step = "running Airflow"
    env = _airflow_env()
    ensure_airflow_db(env)
    print(f"[demo] running DAG {DAG_ID} for {date} through Airflow (airflow dags test): "
          f"{len(supplied_feeds())} feeds, silver, every contract ...")
    airflow = str(Path(sys.executable).parent / "airflow")
    logical = dt.datetime.combine(date, dt.time(), tzinfo=settings.LOCAL_TZ).isoformat()
    log_path = paths.demo_log()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    wall_started = dt.datetime.now(dt.UTC)
    returncode, output = _run_streaming([airflow, "dags", "test", DAG_ID, logical, "--conf",
                                         json.dumps({"date": date.isoformat()})], env, log_path, started)
    _record_in_airflow(env, logical, wall_started, log_path)
    if returncode != 0 or "state=success" not in output.replace(" ", ""):
        print(f"[demo] the DAG run failed (exit {returncode}); Airflow's output is in {log_path}", file=sys.stderr)
        print(output[-4000:], file=sys.stderr)
        return 1
    pulse.step = "summarising and evaluating the deliveries"
    return _summary(date, events, log_path, started)


def _record_in_airflow(env: dict[str, str], logical: str, wall_started: dt.datetime, log_path: Path) -> None:
    """Give the test run its real start and each task its log file, so the Airflow UI shows the run as it
    happened (``jobs.airflow.dag_test_runs``); a failure here is reported, never fatal to the demo."""
    done = subprocess.run([sys.executable, "-m", "jobs.airflow.dag_test_runs", DAG_ID, logical,
                           wall_started.isoformat(), str(log_path)], env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        print(f"[demo] the Airflow UI will show this run without its task logs: {done.stderr.strip()[-400:]}",
              file=sys.stderr)


HEARTBEAT_SECONDS = 30.0
_STARTS = re.compile(r"\[DAG TEST\] starting task_id=(\S+) map_index=(-?\d+)")
_ENDS = re.compile(r"\[DAG TEST\] end task task_id=(\S+) map_index=(-?\d+)")
_RETURNED = re.compile(r"Done\. Returned value was: (.*?) \[airflow")


def _clock(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


class Progress:
    """Turns ``airflow dags test`` output into one line per finished task (what it did, how long it took) and,
    when nothing finished for ``HEARTBEAT_SECONDS``, a line naming what is still running."""

    def __init__(self, started: float):
        self.started, self.running, self.returned = started, {}, None

    def line(self, text: str, now: float) -> str | None:
        """The progress line one line of Airflow's output makes, or None."""
        if found := _STARTS.search(text):
            self.running[found.groups()] = now
        elif found := _RETURNED.search(text):
            self.returned = found.group(1)
        elif found := _ENDS.search(text):
            began = self.running.pop(found.groups(), now)
            label, summary = _task_words(found.group(1), int(found.group(2)), self.returned)
            self.returned = None
            return f"[demo] {_clock(now - self.started)} {label} done in {now - began:.0f} s{summary}"
        return None

    def heartbeat(self, now: float) -> str:
        """What is running now, for a quiet stretch."""
        names = ", ".join(f"{task}" + (f"[{index}]" if index != "-1" else "") for task, index in self.running)
        return f"[demo] {_clock(now - self.started)} still running: {names or 'Airflow (starting or between tasks)'}"


def _task_words(task: str, index: int, returned: str | None) -> tuple[str, str]:
    """A task's label (its feed or contract for a mapped one) and a summary of what it returned."""
    try:
        value = ast.literal_eval(returned) if returned and returned.startswith("{") else None
    except (ValueError, SyntaxError):  # a truncated or unusual repr: no summary, never a failed demo
        value = None
    if not isinstance(value, dict):
        return (task if index < 0 else f"{task}[{index}]"), ""
    if "feed" in value:
        return f"{task} {value['feed']}", (f": {value.get('records_in', 0):,} records in, "
                                          f"{value.get('accepted', 0):,} accepted, "
                                          f"{value.get('quarantined', 0):,} quarantined")
    if "outbox" in value:
        contract = Path(str(value["outbox"])).parent.name
        return f"{task} {contract}", f": delivery {value.get('delivery_id', '')}"
    if "presence_rows" in value:
        rows = sum(value["presence_rows"].values())
        return task, f": {rows:,} presence rows from {', '.join(value.get('sources', []))}"
    return (task if index < 0 else f"{task}[{index}]"), ""


def _run_streaming(command: list[str], env: dict[str, str], log_path: Path, started: float) -> tuple[int, str]:
    """Run a command, writing its output to ``log_path`` as it comes and printing progress lines (at least
    every ``HEARTBEAT_SECONDS``); return its exit code and whole output."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1)
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for text in proc.stdout:
            lines.put(text)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    progress, output, last = Progress(started), [], time.monotonic()
    with log_path.open("w", encoding="utf-8") as log_file:
        while True:
            try:
                text = lines.get(timeout=max(0.1, HEARTBEAT_SECONDS - (time.monotonic() - last)))
            except queue.Empty:
                print(progress.heartbeat(time.monotonic()), flush=True)
                last = time.monotonic()
                continue
            if text is None:
                break
            log_file.write(text)
            output.append(text)
            said = progress.line(text, time.monotonic())
            if said:
                print(said, flush=True)
                last = time.monotonic()
    return proc.wait(), "".join(output)


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
