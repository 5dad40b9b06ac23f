"""Crashes and storage faults during publish: never two draws for one release, never a spend that a retry
repeats silently, never a delivery a buyer can see without its audit and a verified manifest."""

from __future__ import annotations

import errno
import json
import subprocess
import sys

import pytest

CONTRACT = "retail-stroget-footfall"

pytestmark = [pytest.mark.integration, pytest.mark.spark]


def _publish(spark, day):
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract

    return publish(spark, find_contract(CONTRACT), day)


def _cde(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jobs", *args], capture_output=True, text=True, timeout=600)


def _outbox(lake):
    return sorted((lake / "outbox").glob(f"*/{CONTRACT}/*"))


def test_a_crash_between_the_stored_draw_and_its_log_row_reuses_the_draw(spends, spark, simulated_day, lake_copy, crash_at):
    from jobs.common import tables
    from jobs.privacy.release import read_release

    crash_at("release.log")
    with pytest.raises(RuntimeError, match="injected crash"):
        _publish(spark, simulated_day.day)
    assert len(spends()) == 1 and not tables.release_log_rows()  # spent and stored, log row lost
    crash_at("none")
    out = _publish(spark, simulated_day.day)
    assert out["epsilon_spent"] == 0 and len(spends()) == 1  # found in gold/releases itself: no second draw
    (row,) = tables.release_log_rows()
    assert "recovered after a crash" in json.loads(row["stages"])[-1]
    stored = read_release(row["release_id"])
    assert set(stored.column("ledger_entry_id").to_pylist()) == {spends()["entry_id"].iloc[0]}


def test_a_storage_fault_after_the_spend_is_final_and_the_next_spend_says_so(spends, spark, simulated_day, lake_copy,
                                                                             crash_at):
    from jobs.errors import Refusal, SpentNotStored
    from jobs.privacy import ledger

    crash_at("release.gold", OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(SpentNotStored, match="was spent .* not stored") as info:
        _publish(spark, simulated_day.day)
    assert isinstance(info.value, Refusal)  # Airflow fails it at once: no retry spends again
    assert len(spends()) == 1
    crash_at("none")
    _publish(spark, simulated_day.day)
    rows = spends()
    assert len(rows) == 2  # a spend is never given back; the redraw is recorded as one
    assert rows["message"].iloc[-1].startswith("redraw: 1 earlier spend") and rows["entry_id"].iloc[0] in \
        rows["message"].iloc[-1]
    entries = ledger.read_entries()  # the first spend was recorded lost before the second was allowed
    lost = entries[entries["kind"] == "lost"]
    assert len(lost) == 1 and rows["entry_id"].iloc[0] in lost["message"].iloc[0]
    assert int(lost["seq"].iloc[0]) < int(rows["seq"].iloc[-1])
    assert ledger.draw_of(entries, rows["entry_id"].iloc[-1])["rows"] > 0  # the second one's draw is recorded


def test_a_release_table_restored_one_commit_short_is_refused_never_delivered_empty(spends, spark, simulated_day,
                                                                                   lake_copy):
    """The release log names a draw the table no longer holds (its last commit removed, its Parquet files
    still on disk): the rerun refuses, naming the table and the version to restore, and the good delivery
    stays as it was."""
    from jobs.common import tables
    from jobs.errors import StorageFault
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract

    publish(spark, find_contract("kk-inner-city-presence"), simulated_day.day)  # an earlier commit to fall back on
    _publish(spark, simulated_day.day)
    (folder,) = _outbox(lake_copy)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    commits = sorted((tables.RELEASES.path() / "_delta_log").glob("*.json"))
    (row,) = [r for r in tables.release_log_rows() if r["contract_id"] == CONTRACT]
    assert row["gold_version"] == len(commits) - 1
    for newest in commits[-1].parent.glob(commits[-1].stem + ".*"):  # its commit and checksum
        newest.unlink()  # restored one commit short: the table reads as its previous version
    with pytest.raises(StorageFault, match=f"logged {row['rows']} rows .* at gold/releases version "
                                           f"{row['gold_version']}: the table lost that commit.*Restore gold/releases"):
        _publish(spark, simulated_day.day)
    (still,) = _outbox(lake_copy)
    assert {p.name: p.read_bytes() for p in still.iterdir() if p.is_file()} == before
    assert len(spends()) == 1  # nothing spent again


def test_an_unreadable_input_file_is_refused_before_the_spend(spends, spark, simulated_day, lake_copy):
    """A truncated silver Parquet file used to cost a spend per attempt ("not stored"): the inputs are read
    and the true counts computed before the spend, so it is a refusal naming the table, nothing spent."""
    from jobs.errors import StorageFault

    day = simulated_day.day.isoformat()
    (victim, *_) = sorted((lake_copy / "silver" / "presence").glob(f"event_date={day}/**/*.parquet"))
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    with pytest.raises(StorageFault, match="silver/presence: cannot be read .*nothing was spent"):
        _publish(spark, simulated_day.day)
    assert spends().empty and not _outbox(lake_copy)
    # the command line says it in a few lines; Spark's Java stack is shown only with -v
    import os

    from jobs.cli import main

    assert main(["contracts", "validate"]) == 0  # a command run in this process leaves its Spark quiet here
    assert "CDE_SPARK_LOG_LEVEL" not in os.environ
    quiet, verbose = (_cde(*flag, "publish", CONTRACT, "--date", day) for flag in ((), ("-v",)))
    assert quiet.returncode == verbose.returncode == 1, quiet.stderr[-3000:]
    assert "publish refused: silver/presence: cannot be read" in quiet.stderr and ".parquet" in quiet.stderr
    assert "\tat org.apache" not in quiet.stderr and len(quiet.stderr.splitlines()) < 12, quiet.stderr[-3000:]
    assert "\tat org.apache" in verbose.stderr
    assert spends().empty


def test_a_failure_after_the_spend_says_what_was_spent_and_that_a_rerun_reuses_it(spends, spark, simulated_day,
                                                                                lake_copy, crash_at, capsys):
    from jobs.cli import main

    crash_at("deliver.files", OSError("disk gone"))
    args = ["publish", CONTRACT, "--date", simulated_day.day.isoformat()]
    assert main(args) == 1
    err = capsys.readouterr().err
    (release,) = spends()["release_id"]
    epsilon = spends()["epsilon"].sum()
    assert "publish failed: OSError: disk gone" in err
    assert f"This failure came after the privacy spend: this run spent epsilon {epsilon:g} on {release}" in err, err
    assert "A rerun of this delivery reuses them and spends nothing more" in err
    assert main(args) == 1  # the rerun, failing at the same place, reused the release
    assert "this run spent nothing (stored releases reused)" in capsys.readouterr().err and len(spends()) == 1


def test_a_day_without_ingested_data_is_refused_by_publish_as_by_the_sensor(spends, spark, simulated_day, lake_copy,
                                                                             capsys):
    import datetime as dt

    from jobs.cli import main

    later = simulated_day.day + dt.timedelta(days=9)
    code = main(["publish", CONTRACT, "--date", later.isoformat()])
    err = capsys.readouterr().err
    assert code == 1 and "not ready" in err and f"telco {later}: no succeeded ingest run" in err, err
    assert "Nothing was spent" in err and spends().empty and not _outbox(lake_copy)


def test_a_crash_between_the_draw_and_its_ledger_row_is_recovered_with_the_draw_recorded(spends, spark, simulated_day,
                                                                                      lake_copy, crash_at):
    from jobs.common import tables
    from jobs.privacy import ledger
    from jobs.privacy.release import draw_digest, read_release

    crash_at("release.draw")
    with pytest.raises(RuntimeError, match="injected crash"):
        _publish(spark, simulated_day.day)
    (spend,) = spends()["entry_id"]
    assert ledger.draw_of(ledger.read_entries(), spend) is None  # stored, its draw row never written
    crash_at("none")
    out = _publish(spark, simulated_day.day)
    assert out["epsilon_spent"] == 0 and len(spends()) == 1  # reused, not spent again
    draw = ledger.draw_of(ledger.read_entries(), spend)
    (row,) = tables.release_log_rows()
    assert draw["rows"] == row["rows"] and draw["sha256"] == draw_digest(read_release(row["release_id"]))


def test_too_little_free_space_is_refused_before_any_spend(spends, spark, simulated_day, lake_copy, monkeypatch):
    from jobs.common import settings
    from jobs.errors import StorageFault

    monkeypatch.setattr(settings, "MIN_FREE_MB", 1e9)
    with pytest.raises(StorageFault, match="MB free, below the"):
        _publish(spark, simulated_day.day)
    assert spends().empty and not _outbox(lake_copy)


@pytest.mark.slow
def test_a_full_and_a_read_only_outbox_are_refused_before_any_spend(spends, spark, simulated_day, lake_copy, tmpfs,
                                                                    monkeypatch):
    from jobs.common import settings
    from jobs.errors import StorageFault

    monkeypatch.setattr(settings, "MIN_FREE_MB", 4.0)
    tmpfs(lake_copy / "outbox", size="1m")  # a real, nearly empty disk of 1 MB
    with pytest.raises(StorageFault, match="outbox: .* MB free"):
        _publish(spark, simulated_day.day)
    assert spends().empty
    monkeypatch.setattr(settings, "MIN_FREE_MB", 0.0)
    tmpfs(lake_copy / "audit", size="64m", read_only=True)
    with pytest.raises(StorageFault, match="audit: cannot write in .*Read-only file system"):
        _publish(spark, simulated_day.day)
    assert spends().empty


def test_a_damaged_release_log_is_refused_before_any_spend(spends, spark, simulated_day, lake_copy, crash_at):
    from jobs.common import tables
    from jobs.errors import StorageFault

    crash_at("deliver.product")  # make ops/releases exist: one release, then stop
    with pytest.raises(RuntimeError):
        _publish(spark, simulated_day.day)
    crash_at("none")
    commits = sorted((tables.RELEASE_LOG.path() / "_delta_log").glob("*.json"))
    commits[-1].write_text("{not json")
    before = len(spends())
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract

    with pytest.raises(StorageFault, match="ops/releases: the Delta log at .* cannot be read"):
        publish(spark, find_contract("kk-inner-city-presence"), simulated_day.day)
    assert len(spends()) == before and spends("kk-inner-city-presence").empty


def test_a_crash_before_the_swap_leaves_the_buyer_nothing_and_no_staging(spark, simulated_day, lake_copy, crash_at):
    crash_at("deliver.swap")
    with pytest.raises(RuntimeError):
        _publish(spark, simulated_day.day)
    assert not _outbox(lake_copy)
    assert not list((lake_copy / "outbox").glob("*/*/.*"))  # nothing staged inside a buyer's folder
    assert not list((lake_copy / "outbox" / ".staging").iterdir())


def test_a_redelivery_swaps_atomically_and_a_failed_one_keeps_the_old(spends, spark, simulated_day, lake_copy, crash_at):
    import stat

    from jobs.common import paths, settings
    from jobs.publish.deliver import verify_manifest

    out = _publish(spark, simulated_day.day)
    (folder,) = _outbox(lake_copy)
    first = json.loads((folder / "manifest.json").read_text())
    audit = json.loads(open(out["audit"]["json"]).read())
    assert audit["delivery"]["delivery_id"] == first["delivery_id"]
    assert stat.S_IMODE((folder / "data.csv").stat().st_mode) == settings.FILE_MODE
    assert stat.S_IMODE(folder.stat().st_mode) == settings.DIR_MODE
    audit_text = open(out["audit"]["json"]).read()
    assert (paths.audit_dir(CONTRACT) / f"{first['audit']}.json").read_text() == audit_text
    for point in ("deliver.audit", "deliver.swap"):  # a redelivery killed before its swap
        crash_at(point)
        with pytest.raises(RuntimeError):
            _publish(spark, simulated_day.day)
        assert verify_manifest(folder) == [] and json.loads((folder / "manifest.json").read_text()) == first
        # the audit under the delivery's name is still the one of the files the buyer holds, unchanged
        assert open(out["audit"]["json"]).read() == audit_text
    crash_at("none")
    again = _publish(spark, simulated_day.day)
    assert _outbox(lake_copy) == [folder] and verify_manifest(folder) == []
    second = json.loads((folder / "manifest.json").read_text())
    assert second["release_ids"] == first["release_ids"] and second["audit"] != first["audit"]
    assert json.loads(open(again["audit"]["json"]).read())["delivery"]["files"] == second["files"]
    assert (paths.audit_dir(CONTRACT) / f"{first['audit']}.json").exists()  # every attempt's audit is kept
    assert len(spends()) == 1
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_a_full_disk_while_staging_an_ingest_ends_with_a_run_record_and_no_staged_files(spark, simulated_day, lake_copy,
                                                                                      tmpfs, monkeypatch):
    from jobs.common import paths, settings, tables
    from jobs.errors import IngestRefused
    from jobs.ingest.feeds import get_feed
    from jobs.ingest.runner import ingest

    monkeypatch.setattr(settings, "MIN_FREE_MB", 0)  # pass the up-front check: the disk fills during the write
    staging = tmpfs(paths.ingest_staging("telco"), size="64k")
    before = len(tables.ingest_runs())
    with pytest.raises(IngestRefused, match="no space left on the staging disk .*nothing was committed"):
        ingest(spark, get_feed("telco"), simulated_day.day)
    runs = tables.ingest_runs()
    (refused,) = runs[runs["status"] == "refused"].to_dict("records")
    assert len(runs) == before + 1 and "no space left" in refused["message"]
    assert not any(p.is_file() for p in staging.rglob("*"))  # what was staged is gone: the disk is free again
