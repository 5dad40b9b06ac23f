"""The identifier scan finds raw identifiers in any form, in the lake and in Airflow's logs and database."""

from __future__ import annotations

import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.privacy.identifier_scan import scan_lake

IMSI, MAC, CARD = "238011234567890", "3C:22:FB:11:22:33", "K7MPQ2RT9XW4HN3B"


def _clean_lake(root):
    (root / "audit").mkdir(parents=True)
    (root / "audit" / "report.html").write_text("<p>released 40 cells; sha256 9f2c0a</p>")
    pq.write_table(pa.table({"pseudo_id": [123456789012], "cell_id": ["c1"]}), root / "bronze.parquet")
    (root / "landing").mkdir()
    (root / "landing" / "raw.csv").write_text(f"{IMSI},{MAC},{CARD}\n")  # landing may hold them: skipped
    return root


def test_a_clean_lake_and_airflow_home_give_no_findings(tmp_path):
    lake = _clean_lake(tmp_path / "lake")
    home = tmp_path / "airflow"
    (home / "logs").mkdir(parents=True)
    (home / "logs" / "task.log").write_text("ingest telco 2026-03-02: 398434 records in\n")
    with sqlite3.connect(home / "airflow.db") as db:
        db.execute("CREATE TABLE xcom (key TEXT, value BLOB)")
        db.execute("INSERT INTO xcom VALUES ('summary', ?)", (b'{"accepted": 398420}',))
    assert scan_lake(lake, [IMSI, MAC, CARD], also=[home]) == []


def test_identifiers_are_found_in_any_form_and_place(tmp_path):
    lake = _clean_lake(tmp_path / "lake")
    (lake / "outbox.csv").write_text("device\n3c22fb112233\n")                   # MAC, no separators
    (lake / "notes.json").write_text('{"who": "IMSI238011234567890X"}')          # inside a longer string
    (lake / "upper.txt").write_text("3C-22-FB-11-22-33")                          # dashes, upper case
    pq.write_table(pa.table({"card": [f"card:{CARD.lower()}"]}), lake / "leak.parquet")  # lower case
    pq.write_table(pa.table({"n": [int(IMSI)]}), lake / "numbers.parquet")        # as an integer
    home = tmp_path / "airflow"
    (home / "logs").mkdir(parents=True)
    (home / "logs" / "task.log").write_text(f"processing mac={MAC.lower()}\n")
    with sqlite3.connect(home / "airflow.db") as db:
        db.execute("CREATE TABLE dag_run (conf BLOB)")
        db.execute("INSERT INTO dag_run VALUES (?)", (f'{{"card": "{CARD}"}}'.encode(),))
    found = {(f.path.rsplit("/", 1)[-1], f.identifier) for f in scan_lake(lake, [IMSI, MAC, CARD], also=[home])}
    assert found == {("outbox.csv", "3c22fb112233"), ("notes.json", IMSI), ("upper.txt", "3c22fb112233"),
                     ("leak.parquet", CARD.lower()), ("numbers.parquet", IMSI), ("task.log", "3c22fb112233"),
                     ("airflow.db", CARD.lower())}
