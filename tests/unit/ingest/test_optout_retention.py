"""Opt-outs and retention on real Delta tables; their deletes show in table history."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import time
from pathlib import Path

import pytest

from jobs.common import lake, settings
from jobs.ingest import FEEDS
from jobs.ingest.optout import apply_optouts
from jobs.ingest.runner import ingest

pytestmark = pytest.mark.spark
DAY = dt.date(2026, 3, 2)
HEADER = "imsi,event_ts,cell_id,event_type,home_mcc\n"
ALICE, BOB = "238011111111111", "238012222222222"


def _telco(day: dt.date) -> str:
    return HEADER + "".join(f"{who},{day}T{h:02d}:00:00Z,c1,data,238\n" for who in (ALICE, BOB) for h in (8, 9, 10))


def test_optout_deletes_existing_rows_and_excludes_future_records(spark, lake_root, landed):
    from jobs.aggregate.silver import build_silver

    landed("telco", "t.csv", _telco(DAY))
    ingest(spark, FEEDS["telco"], DAY)
    build_silver(spark, DAY, ("telco",))
    bronze_path = settings.table_path("bronze", "telco_events")
    assert lake.read(spark, bronze_path).select("pseudo_id").distinct().count() == 2

    out = apply_optouts("telco", [ALICE], "dpo-request-17")
    assert out["deleted"]["bronze/telco_events"] == 3
    assert out["deleted"]["silver/presence"] == 3
    assert lake.read(spark, bronze_path).select("pseudo_id").distinct().count() == 1
    assert lake.history(bronze_path)[0]["operation"] == "DELETE"
    assert lake.history(settings.table_path("silver", "presence"))[0]["operation"] == "DELETE"

    record = ingest(spark, FEEDS["telco"], DAY)
    assert json.loads(record["quarantined_by_reason"]) == {"opted_out": 3}
    assert record["accepted"] == 3
    quarantine = lake.read(spark, settings.table_path("quarantine", "telco"))
    assert quarantine.filter("reason = 'opted_out'").count() == 0   # counted, never stored
    tokens = lake.read_arrow(settings.table_path("ops", "optouts")).to_pylist()
    assert len(tokens) == 1 and ALICE not in json.dumps(tokens, default=str)


def test_retention_deletes_old_partitions_vacuums_and_removes_ingested_landing(spark, lake_root, landed):
    old, new = DAY, DAY + dt.timedelta(days=20)
    for day in (old, new):
        landed("telco", "t.csv", _telco(day), day=day)
        ingest(spark, FEEDS["telco"], day)
    bronze_path = settings.table_path("bronze", "telco_events")
    files_before = len(list(bronze_path.rglob("*.parquet")))
    from jobs.ingest.retention import apply_retention

    today = new + dt.timedelta(days=5)
    report = apply_retention(today, {"bronze": 10, "landing": 3})
    assert report["bronze/telco_events"]["rows_deleted"] == 6
    dates = {r.event_date for r in lake.read(spark, bronze_path).select("event_date").distinct().collect()}
    assert dates == {new}
    assert lake.history(bronze_path)[0]["operation"] in ("VACUUM END", "DELETE")
    assert any(h["operation"] == "DELETE" for h in lake.history(bronze_path))
    assert len(list(bronze_path.rglob("*.parquet"))) < files_before


def test_landing_is_removed_only_after_a_successful_ingest_plus_retention(spark, lake_root, landed):
    from jobs.ingest.retention import apply_retention

    landed("telco", "t.csv", _telco(DAY))
    landed("telco", "t.csv", _telco(DAY + dt.timedelta(days=1)), day=DAY + dt.timedelta(days=1))
    ingest(spark, FEEDS["telco"], DAY)   # only the first date is ingested
    ran_on = dt.datetime.now(dt.timezone.utc).astimezone(settings.LOCAL_TZ).date()
    apply_retention(ran_on + dt.timedelta(days=1), {"landing": 3})
    assert (lake_root / "landing" / "telco" / DAY.isoformat()).exists()      # ingested too recently
    apply_retention(ran_on + dt.timedelta(days=3), {"landing": 3})
    assert not (lake_root / "landing" / "telco" / DAY.isoformat()).exists()  # ingested 3 days ago
    assert (lake_root / "landing" / "telco" / (DAY + dt.timedelta(days=1)).isoformat()).exists()  # never ingested


def test_retention_removes_staged_batches_of_runs_that_died_between_stages(spark, lake_root, landed):
    from jobs.ingest.retention import apply_retention
    from jobs.ingest.runner import stage_batch

    landed("telco", "t.csv", _telco(DAY))
    staged = Path(stage_batch(spark, FEEDS["telco"], DAY)["staging"])  # never validated nor committed
    apply_retention(DAY)
    assert staged.exists()  # a run may still be between its stages
    day_old = time.time() - 2 * 86_400
    os.utime(staged, (day_old, day_old))
    report = apply_retention(DAY)
    assert not staged.exists()
    assert report[f"ingest_staging/telco/{DAY.isoformat()}/{staged.name}"] == {"removed": True}


def test_key_file_is_created_private_and_pseudonyms_rotate_on_local_days(tmp_path, monkeypatch):
    from jobs.ingest import pseudonym

    monkeypatch.delenv("CDE_PSEUDONYM_KEY", raising=False)
    monkeypatch.setenv("CDE_SECRETS", str(tmp_path / "secrets"))
    monkeypatch.setenv("CDE_LAKE", str(tmp_path / "lake"))
    key_file = tmp_path / "secrets" / "pseudonym.key"
    token = pseudonym.identifier_token(ALICE, pseudonym.token_key("telco"))
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert token == pseudonym.identifier_token(ALICE, pseudonym.token_key("telco"))   # stable
    assert token != pseudonym.identifier_token(ALICE, pseudonym.token_key("ticket"))  # per source
    # Periods: 30 local days, one pseudonym per person, source and day.
    periods = {pseudonym.key_period(DAY + dt.timedelta(days=i)) for i in range(60)}
    assert len(periods) in (2, 3)
    p1, p2 = sorted(periods)[:2]
    assert pseudonym.pseudonym_of_token(token, pseudonym.period_key("telco", p1)) != \
        pseudonym.pseudonym_of_token(token, pseudonym.period_key("telco", p2))


def test_pseudonyms_keep_all_64_bits_and_match_the_token_chain():
    import pandas as pd

    from jobs.ingest import pseudonym

    values = pd.Series([ALICE, None, "", BOB, ALICE])
    out = pseudonym.pseudonymise_values(values, b"token-key", b"period-key",
                                        frozenset([pseudonym.identifier_token(BOB, b"token-key")]))
    expected = pseudonym.pseudonym_of_token(pseudonym.identifier_token(ALICE, b"token-key"), b"period-key")
    assert out["pseudo_id"][0] == expected and out["pseudo_id"][4] == expected
    assert out["pseudo_id"].isna().tolist() == [False, True, True, False, False]
    assert out["opted_out"].tolist() == [False, False, False, True, False]
