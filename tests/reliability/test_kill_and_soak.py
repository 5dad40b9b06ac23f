"""Real kills (SIGKILL in a subprocess at a write) and a soak of concurrent publishes against tight caps."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path

import pytest

CONTRACT = "retail-stroget-footfall"

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.spark]


def _cde(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobs", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def test_a_kill_at_each_publish_write_recovers_without_a_second_draw(spends, spark, simulated_day, lake_copy):
    from jobs.publish.deliver import publish, verify_manifest
    from jobs.publish.portfolio import find_contract

    day = simulated_day.day.isoformat()
    killed = _cde("publish", CONTRACT, "--date", day, env={"CDE_CRASH_AT": "release.log"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert len(spends()) == 1  # spent and drawn; the log row never written
    killed = _cde("publish", CONTRACT, "--date", day, env={"CDE_CRASH_AT": "deliver.swap"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert len(spends()) == 1  # the stored draw was found and reused
    assert not list((lake_copy / "outbox").glob(f"*/{CONTRACT}/*"))  # killed before the swap: nothing visible
    out = publish(spark, find_contract(CONTRACT), simulated_day.day)
    assert out["epsilon_spent"] == 0 and len(spends()) == 1
    folder = lake_copy / "outbox" / find_contract(CONTRACT).buyer / CONTRACT / out["delivery_id"]
    assert verify_manifest(folder) == [] and os.path.exists(out["audit"]["json"])
    assert not list((lake_copy / "outbox" / ".staging").iterdir())  # the killed attempt's staging was removed


def test_real_kills_around_the_draw_cost_one_lost_spend_and_never_show_an_unaudited_redelivery(spends, spark,
                                                                                             simulated_day, lake_copy):
    """SIGKILL before the draw is stored, between the stored draw and its ledger row, at the audit, and in a
    redelivery before its swap: one spend recorded lost, one draw, and the buyer's files and published audit
    always of one delivery."""
    from jobs.common import paths
    from jobs.privacy import ledger
    from jobs.privacy.accounting import settled_by
    from jobs.publish.deliver import publish, verify_manifest
    from jobs.publish.portfolio import find_contract

    day = simulated_day.day.isoformat()
    for point in ("release.gold", "release.draw", "deliver.audit"):
        killed = _cde("publish", CONTRACT, "--date", day, env={"CDE_CRASH_AT": point})
        assert killed.returncode == -9, (point, killed.stderr[-2000:])
        assert not list((lake_copy / "outbox").glob(f"*/{CONTRACT}/*")), point
    lost, drawn = spends()["entry_id"]  # the first spend stored nothing; the second's draw was found again
    settled = settled_by(ledger.read_entries())
    assert settled == {lost: "lost", drawn: "draw"}
    out = publish(spark, find_contract(CONTRACT), simulated_day.day)
    assert out["epsilon_spent"] == 0 and len(spends()) == 2
    folder = Path(out["outbox"])
    manifest, audit = (folder / "manifest.json").read_text(), Path(out["audit"]["json"]).read_text()
    assert verify_manifest(folder) == [] and json.loads(audit)["delivery"]["files"] == json.loads(manifest)["files"]
    killed = _cde("publish", CONTRACT, "--date", day, env={"CDE_CRASH_AT": "deliver.swap"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (folder / "manifest.json").read_text() == manifest and verify_manifest(folder) == []
    assert (paths.audit_dir(CONTRACT) / f"{out['delivery_id']}.json").read_text() == audit
    assert len(spends()) == 2
    again = publish(spark, find_contract(CONTRACT), simulated_day.day)  # clears the killed attempt's staging
    assert again["epsilon_spent"] == 0 and verify_manifest(folder) == []
    assert json.loads(Path(again["audit"]["json"]).read_text())["delivery"]["files"] == json.loads(
        (folder / "manifest.json").read_text())["files"]
    assert not list((lake_copy / "outbox" / ".staging").iterdir())


def test_a_real_kill_of_ingest_before_its_run_record_leaves_bronze_nothing_reads(spark, simulated_day, lake_copy):
    from jobs.aggregate.silver import build_silver
    from jobs.common import tables
    from jobs.errors import IngestRefused
    from jobs.ingest import FEEDS
    from jobs.ingest.runner import ingest

    before = len(tables.ingest_runs("ticket"))
    killed = _cde("ingest", "ticket", "--date", simulated_day.day.isoformat(),
                  env={"CDE_CRASH_AT": "ingest.run_record"})
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert len(tables.ingest_runs("ticket")) == before
    with pytest.raises(IngestRefused, match="no succeeded run record .* re-ingest"):
        build_silver(spark, simulated_day.day, ("ticket",))
    run = ingest(spark, FEEDS["ticket"], simulated_day.day, validate=False)
    assert run["records_in"] == run["accepted"] + run["quarantined"] > 0
    assert build_silver(spark, simulated_day.day, ("ticket",))["ticket"]["presence_rows"] > 0


def test_the_cli_fails_loudly_and_pipes_cleanly(lake_copy):
    bad = _cde("publish", "no-such-contract", "--date", "2026-03-03")
    assert bad.returncode != 0 and "no-such-contract" in bad.stderr
    assert "Traceback" not in bad.stderr and "terminate called" not in bad.stderr
    ok = _cde("contracts", "validate")
    assert ok.returncode == 0 and "terminate called" not in ok.stderr
    # a reader that goes away at once (| head): no BrokenPipeError, no traceback
    proc = subprocess.Popen([sys.executable, "-m", "jobs", "contracts", "validate"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=os.environ.copy())
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=300)
    assert "BrokenPipeError" not in stderr and "Traceback" not in stderr, stderr


def test_simulate_refuses_to_overwrite_another_world_without_force(tmp_path, monkeypatch):
    import datetime as dt

    from jobs.errors import ReferenceDataError
    from jobs.simulate.main import run

    monkeypatch.setenv("CDE_LAKE", str(tmp_path / "lake"))
    run(60, 1, dt.date(2026, 3, 3), seed=1, feeds=("camera",))
    before = (tmp_path / "lake" / "simulation" / "run.json").read_text()
    with pytest.raises(ReferenceDataError, match="would overwrite its reference data and answer key"):
        run(80, 1, dt.date(2026, 3, 3), seed=2, feeds=("camera",))
    assert (tmp_path / "lake" / "simulation" / "run.json").read_text() == before
    run(60, 1, dt.date(2026, 3, 4), seed=1, feeds=("camera",))  # the same world, one more day: fine
    assert json.loads((tmp_path / "lake" / "simulation" / "run.json").read_text())["days"] == 2
    run(80, 1, dt.date(2026, 3, 3), seed=2, feeds=("camera",), force=True)


SOAK = ("retail-stroget-footfall", "kk-inner-city-presence", "movia-od-market", "kk-traffic-od",
        "wonderful-cph-tourists")


def _soak_worker(lake: str, cap: str, jobs, results) -> None:
    os.environ.update(CDE_LAKE=lake, CDE_GLOBAL_EPSILON_CAP=cap, CDE_WIFI_EPSILON_CAP=cap, CDE_CAMERA_EPSILON_CAP=cap)
    import datetime as dt

    from jobs.common.spark import get_spark
    from jobs.errors import Refusal
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract

    spark = get_spark("cde-test-soak", master="local[1]")
    while True:
        try:
            contract_id, day = jobs.get_nowait()
        except Exception:  # queue empty
            return
        try:
            out = publish(spark, find_contract(contract_id), dt.date.fromisoformat(day))
            results.put(("ok", contract_id, out["outbox"], out["epsilon_spent"]))
        except Refusal as exc:
            results.put(("refused", contract_id, type(exc).__name__, str(exc)))
        except Exception as exc:  # anything else is a bug the test must show
            results.put(("error", contract_id, type(exc).__name__, repr(exc)))


def test_a_soak_of_concurrent_publishes_never_spends_past_the_caps(simulated_day, lake_copy):
    import datetime as dt
    from pathlib import Path

    from jobs.privacy import ledger
    from jobs.privacy.ledger import Spend
    from jobs.publish.deliver import verify_manifest

    # contracts are checked against the cap at load (16 is the largest contract budget); an earlier spend
    # leaves a headroom that fits some of the five contracts' releases, not all
    cap, headroom = 16.0, 1.0
    day = simulated_day.day
    ledger.record_spend(Spend("earlier-contract", "1.0.0", "earlier-release", ("telco",), "person", day,
                              day + dt.timedelta(days=1), cap - headroom, 0.0, 0.0, "geometric", 1, cap))
    ctx = mp.get_context("spawn")  # delta-rs panics in forked processes
    jobs, results = ctx.Queue(), ctx.Queue()
    asked = [(c, simulated_day.day.isoformat()) for c in SOAK for _ in range(2)]
    for job in asked:
        jobs.put(job)
    workers = [ctx.Process(target=_soak_worker, args=(str(lake_copy), str(cap), jobs, results)) for _ in range(4)]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=1500) for _ in asked]
    for w in workers:
        w.join(timeout=120)
    assert not [o for o in outcomes if o[0] == "error"], outcomes
    entries = ledger.read_entries()
    spent = entries[(entries["kind"] == "spend") & (entries["contract_id"] != "earlier-contract")]
    print(f"soak: {len(asked)} publishes, {sum(o[0] == 'ok' for o in outcomes)} delivered, "
          f"{sum(o[0] == 'refused' for o in outcomes)} refused; epsilon spent {spent['epsilon'].sum():g} of the headroom {headroom}")
    assert 0 < spent["epsilon"].sum() <= headroom + 1e-9
    assert len(spent) == spent["release_id"].nunique()  # one spend per release, however many asked
    refused = [o for o in outcomes if o[0] == "refused"]
    assert refused and all(o[2] == "BudgetExceeded" and "cap" in o[3] for o in refused), refused
    delivered = [o for o in outcomes if o[0] == "ok"]
    assert delivered and all(verify_manifest(Path(o[2])) == [] for o in delivered)
