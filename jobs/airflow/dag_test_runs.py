"""Make a run of ``airflow dags test`` look in the Airflow UI as a scheduled run does.

``airflow dags test`` (what ``make demo`` uses: no scheduler to start) records the run as starting at its
logical date, so the UI shows the demo's run of a March day lasting months, and it runs every task in its
own process without writing task log files, so the UI answers "not found on worker" for each task. After
such a run, ``record`` gives the run its real start and writes each task's part of the captured output to
the log file Airflow reads for that task (its JSON lines, one per message).

Run as ``python -m jobs.airflow.dag_test_runs <dag_id> <logical date> <started> <output file>`` in Airflow's
environment (``AIRFLOW_HOME``): it imports Airflow and opens its metadata database.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path

_STARTS = re.compile(r"\[DAG TEST\] starting task_id=(\S+) map_index=(-?\d+)")
_ENDS = re.compile(r"\[DAG TEST\] end task task_id=(\S+) map_index=(-?\d+)")
# structlog's console line: 2026-12-06T08:35:25.160241Z [info     ] message [logger] key=value ...
_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?) \[(\w+)\s*\] (.*)$")
_LOGGER = re.compile(r" \[([\w.]+)\]")  # the logger's name, followed by the message's key=value pairs or nothing
_ESCAPES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def task_sections(output: str) -> dict[tuple[str, int], list[str]]:
    """The lines of ``airflow dags test`` output that belong to each task, by (task id, map index).

    Tasks run one after another in a test run, so a task's lines are those between its ``[DAG TEST]
    starting`` and ``end task`` lines (both included).
    """
    sections: dict[tuple[str, int], list[str]] = {}
    current: list[str] | None = None
    for raw in output.splitlines():
        line = _ESCAPES.sub("", raw)
        if started := _STARTS.search(line):
            current = sections.setdefault((started.group(1), int(started.group(2))), [])
        if current is not None:
            current.append(line)
        if _ENDS.search(line):
            current = None
    return sections


def log_record(line: str) -> dict[str, str]:
    """One line of console output as the JSON object Airflow's log reader shows (timestamp, level, event,
    logger); a line that is not a log message (a traceback's) is an event of its own."""
    parsed = _LINE.match(line)
    if not parsed:
        return {"event": line}
    timestamp, level, text = parsed.groups()
    record = {"timestamp": timestamp, "level": level, "event": text}
    # an event may hold brackets of its own: the logger is the last bracketed name followed by the message's
    # key=value pairs or by nothing
    loggers = [m for m in _LOGGER.finditer(text) if not text[m.end():] or re.match(r" \w+=", text[m.end():])]
    if loggers:
        logger = loggers[-1]
        record["event"] = (text[:logger.start()].rstrip() + text[logger.end():]).strip()
        record["logger"] = logger.group(1)
    return record


def record(dag_id: str, logical_date: dt.datetime, started: dt.datetime, output: str) -> int:
    """Give the newest test run of ``dag_id`` at ``logical_date`` its real start time and write each task's log
    file; returns the number of task logs written."""
    from airflow.configuration import conf  # Airflow: only in this command, run in Airflow's environment
    from airflow.models import DagRun  # (same)
    from airflow.utils.log.file_task_handler import FileTaskHandler  # (same)
    from airflow.utils.session import create_session  # (same)

    sections = task_sections(output)
    handler = FileTaskHandler(base_log_folder=conf.get("logging", "base_log_folder"))
    written = 0
    with create_session() as session:
        run = (session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.logical_date == logical_date)
               .order_by(DagRun.id.desc()).first())
        if run is None:
            raise LookupError(f"no run of {dag_id} at {logical_date.isoformat()} in Airflow's database")
        run.start_date = started
        for ti in run.get_task_instances(session=session):
            lines = sections.get((ti.task_id, ti.map_index))
            if not lines:
                continue
            path = Path(handler.local_base) / handler._render_filename(ti, ti.try_number, session=session)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(log_record(line)) + "\n" for line in lines), encoding="utf-8")
            written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.airflow.dag_test_runs <dag_id> <logical date> <started> <output file>``."""
    dag_id, logical, started, output = argv if argv is not None else sys.argv[1:]
    written = record(dag_id, dt.datetime.fromisoformat(logical), dt.datetime.fromisoformat(started),
                     Path(output).read_text(encoding="utf-8", errors="replace"))
    print(f"{written} task logs written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
