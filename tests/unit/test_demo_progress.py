"""``make demo`` shows progress while Airflow runs (issue 34, operator): one line per finished task naming its
feed or contract, and a line at least every ``HEARTBEAT_SECONDS`` while nothing finishes."""

from __future__ import annotations

import sys

from jobs import demo

# lines of a real demo's Airflow output (lake/demo_airflow.log), cut after the parts the progress reads
STARTED = ("2026-12-06T08:35:25.611977Z [info     ] [DAG TEST] starting task_id=ingest map_index=3 "
           "[airflow.sdk.definitions.dag]")
RETURNED = ("2026-12-06T08:36:18.890158Z [info     ] Done. Returned value was: {'feed': 'wifi', 'date': '2026-03-02', "
            "'run_id': 'wifi-2026-03-02-b85f6b1cca79', 'records_in': 233423, 'accepted': 37652, 'quarantined': "
            "195771, 'quarantined_by_reason': '{\"randomised_mac\": 195771}', 'bronze_version': 0, 'late_records': 0} "
            "[airflow.task.operators.airflow.providers.standard.decorators.python._PythonDecoratedOperator]")
ENDED = ("2026-12-06T08:36:19.129866Z [info     ] [DAG TEST] end task task_id=ingest map_index=3 "
         "[airflow.sdk.definitions.dag]")
PUBLISHED = ("2026-12-06T08:39:09.377158Z [info     ] Done. Returned value was: {'delivery_id': "
             "'20260302-20260303-v2.0.0-aded849f', 'outbox': '/work/main/lake/outbox/wonderful-copenhagen/"
             "wonderful-cph-tourists/20260302-20260303-v2.0.0-aded849f'} [airflow.task.operators")


def test_a_finished_task_is_one_line_naming_its_feed_and_what_it_did():
    progress = demo.Progress(started=0.0)
    assert progress.line(STARTED, 10.0) is None
    assert "ingest[3]" in progress.heartbeat(20.0)
    assert progress.line(RETURNED, 62.0) is None
    said = progress.line(ENDED, 63.0)
    assert said == ("[demo] 1:03 ingest wifi done in 53 s: 233,423 records in, 37,652 accepted, 195,771 quarantined")
    assert progress.line("[DAG TEST] starting task_id=publish map_index=1 [x]", 64.0) is None
    progress.line(PUBLISHED, 70.0)
    said = progress.line("[DAG TEST] end task task_id=publish map_index=1 [x]", 71.0)
    assert said == "[demo] 1:11 publish wonderful-cph-tourists done in 7 s: delivery 20260302-20260303-v2.0.0-aded849f"


def test_a_quiet_command_still_prints_a_line_every_heartbeat(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "HEARTBEAT_SECONDS", 0.3)
    script = "import time; print('[DAG TEST] starting task_id=aggregate map_index=-1', flush=True); time.sleep(1.2)"
    code, output = demo._run_streaming([sys.executable, "-c", script], {}, tmp_path / "log.txt", 0.0)
    assert code == 0 and "starting task_id=aggregate" in (tmp_path / "log.txt").read_text()
    beats = [line for line in capsys.readouterr().out.splitlines() if "still running: aggregate" in line]
    assert len(beats) >= 2


def test_outside_airflow_the_demo_still_says_what_it_is_doing_every_heartbeat(monkeypatch, capsys):
    import time

    monkeypatch.setattr(demo, "HEARTBEAT_SECONDS", 0.5)
    with demo.Pulse(time.monotonic(), "simulating 25,000 people") as pulse:
        time.sleep(1.3)  # a quiet step (the simulator): two heartbeats
        pulse.step = "evaluating"
        for _ in range(6):  # a step that prints often: no heartbeat between its lines
            print("[demo]   a figure")
            time.sleep(0.2)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 2)[2] for line in lines if "still" in line] == ["still simulating 25,000 people"] * 2
    assert lines[-6:] == ["[demo]   a figure"] * 6
    assert sys.stdout is not pulse  # the stream is given back
