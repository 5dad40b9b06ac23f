"""Parsing supplier CSV bytes: every record accounted for, with its line, even when it is garbage."""

from __future__ import annotations

import pandas as pd
import pytest

from jobs.ingest.records import parse_csv, parse_jsonl

FIELDS = ("imsi", "event_ts", "cell_id", "event_type", "home_mcc")
HEADER = b"imsi,event_ts,cell_id,event_type,home_mcc"


def _rows(frames) -> list[dict]:
    frames = list(frames)
    if not frames:
        return []
    frame = pd.concat([f.to_pandas() for f in frames]).sort_values("line_number").astype(object)
    return frame.where(frame.notna(), None).to_dict("records")


def _parse(data: bytes, fields=FIELDS, optional=()):
    return _rows(parse_csv(data, "f.csv", fields, optional))


def test_bom_crlf_quotes_and_trailing_blank_lines():
    data = (b"\xef\xbb\xbf" + HEADER + b"\r\n"
            b'238011234567890,2026-03-02T10:00:00Z,"238-01-1,0",data,238\r\n'
            b"238011234567891,2026-03-02T10:00:00+01:00,c2,sms,238\r\n\r\n\r\n")
    rows = _parse(data)
    assert [r["line_number"] for r in rows] == [2, 3]
    assert rows[0]["cell_id"] == "238-01-1,0"
    assert rows[1]["event_ts"] == "2026-03-02T10:00:00+01:00"
    assert all(r["parse_error"] is None for r in rows)


def test_header_order_and_case_do_not_matter_extra_columns_ignored():
    data = b"Home_MCC, cell_id,EVENT_TS,imsi,event_type,extra\n238,c1,2026-03-02T10:00:00Z,238011234567890,data,x\n"
    (row,) = _parse(data)
    assert row["imsi"] == "238011234567890" and row["home_mcc"] == "238" and row["cell_id"] == "c1"


def test_bad_records_are_unparseable_with_line_length_and_hash_but_no_text():
    data = (HEADER + b"\n"
            b"238011234567890,too,few\n"
            b"\xff\xfe\x00garbage,1,2,3,4\n"
            b"238011234567890,2026-03-02T10:00:00Z,c1,data,238,extra\n"
            b'"unclosed,2026-03-02T10:00:00Z,c1,data,238\n'
            b"238011234567890,2026-03-02T10:00:00Z,c1,data,238\n")
    rows = _parse(data)
    assert [r["line_number"] for r in rows] == [2, 3, 4, 5, 6]
    assert all(r["parse_error"] for r in rows[:4])
    # A stray quote does not swallow the lines after it.
    assert rows[4]["parse_error"] is None and rows[4]["cell_id"] == "c1"
    rows = rows[:4]
    assert all(r["imsi"] is None and r["cell_id"] is None for r in rows)
    assert rows[0]["raw_length"] == len(b"238011234567890,too,few")
    assert all(len(r["raw_hash"]) == 64 for r in rows)


def test_header_missing_a_column_makes_every_record_unparseable():
    data = b"imsi,event_ts,cell_id,event_type\n238011234567890,2026-03-02T10:00:00Z,c1,data\n"
    (row,) = _parse(data)
    assert row["parse_error"] == "header lacks home_mcc"


def test_quoted_field_spanning_lines_is_one_record():
    data = (HEADER + b'\n238011234567890,2026-03-02T10:00:00Z,"c\n1",data,238\n'
            b"238011234567891,2026-03-02T10:00:00Z,c2,data,238\n")
    rows = _parse(data)
    assert len(rows) == 2
    assert rows[0]["cell_id"] == "c\n1" and rows[1]["line_number"] == 4


def test_empty_file_and_header_only_give_no_records():
    assert _parse(b"") == []
    assert _parse(HEADER + b"\n") == []


def test_optional_columns_may_be_missing():
    data = b"camera_id,count\ncam1,5\n"
    (row,) = _parse(data, fields=("camera_id", "count"), optional=("class",))
    assert row["class"] is None and row["count"] == "5"


def test_json_lines_numbers_missing_keys_and_garbage():
    data = (b'{"mac": "AA:BB:CC:DD:EE:FF", "rssi": -67, "kind": "probe"}\n'
            b'\n'
            b'not json\n'
            b'[1, 2]\n'
            b'{"MAC": "aa-bb-cc-dd-ee-ff", "rssi": "-70"}\r\n')
    rows = _rows(parse_jsonl(data, "w.jsonl", ("mac", "rssi", "kind")))
    assert [r["line_number"] for r in rows] == [1, 3, 4, 5]
    assert rows[0]["rssi"] == "-67" and rows[0]["parse_error"] is None
    assert rows[1]["parse_error"].startswith("not JSON") and rows[2]["parse_error"] == "not a JSON object"
    assert rows[3]["mac"] == "aa-bb-cc-dd-ee-ff" and rows[3]["kind"] is None


def test_chunks_of_a_file_give_the_same_records_and_line_numbers(tmp_path):
    from jobs.ingest.records import parse_chunk, plan_chunks

    body = b"".join(b"238011234567%03d,2026-03-02T10:00:00Z,c%d,data,238\r\n" % (i, i) for i in range(500))
    path = tmp_path / "f.csv"
    path.write_bytes(b"\xef\xbb\xbf" + HEADER + b"\r\n" + body + b"oops\r\n\r\n")
    whole = _rows(parse_csv(path.read_bytes(), "f.csv", FIELDS))
    chunks = plan_chunks(path, "csv", chunk_bytes=997)
    assert len(chunks) > 10
    assert chunks[0][1] == 0 and chunks[-1][2] == path.stat().st_size
    pieces = [row for c in chunks for row in _rows(parse_chunk(*c, FIELDS, "csv"))]
    assert pieces == whole
    assert [r["line_number"] for r in pieces] == list(range(2, 503))
    jsonl = tmp_path / "w.jsonl"
    jsonl.write_bytes(b"".join(b'{"mac": "m%d"}\n' % i for i in range(300)))
    rows = [r for c in plan_chunks(jsonl, "jsonl", chunk_bytes=500)
            for r in _rows(parse_chunk(*c, ("mac",), "jsonl"))]
    assert [r["line_number"] for r in rows] == list(range(1, 301))
    assert rows[-1]["mac"] == "m299"


def test_vectorised_path_equals_the_record_by_record_path(monkeypatch):
    from jobs.ingest import records

    data = (b"\xef\xbb\xbf" + b"Home_MCC,imsi,event_ts,cell_id,event_type\r\n"
            + b"".join(b"238, 23801123456%04d ,2026-03-02T10:00:00Z,c%d,data\r\n" % (i, i) for i in range(300))
            + b"\r\n238,only,three\n" + b"238,x,y,z,w,extra\n" + b"238," + b"9" * 5000 + b",t,c,d\n\n\n")
    fast = _rows(records.parse_csv(data, "f.csv", FIELDS))
    monkeypatch.setattr(records, "_fast_csv", lambda *args: None)
    slow = _rows(records.parse_csv(data, "f.csv", FIELDS))
    assert fast == slow
    assert len(fast) == 303 and sum(r["parse_error"] is not None for r in fast) == 3
    assert fast[0]["imsi"] == "238011234560000" and fast[0]["home_mcc"] == "238"


def _parquet(tmp_path, table, name="e.parquet", **kwargs):
    import pyarrow.parquet as pq

    path = tmp_path / name
    pq.write_table(table, path, **kwargs)
    return path


def test_parquet_rows_become_text_records_binary_ids_as_hex(tmp_path):
    import datetime as dt

    import pyarrow as pa

    from jobs.ingest.records import parse_chunk, plan_chunks

    table = pa.table({
        "USER_ID": pa.array([b"\x00\xffab", None, b"\x01"], pa.binary()),
        "timestamp": ["2026-03-29T00:30:00", "2026-03-29T01:00:00Z", "bad"],
        "mcc": pa.array([248, 248, None], pa.int32()),
        "latitude": pa.array([59.4372, None, 59.5], pa.float32()),
        "seen_at": pa.array([dt.datetime(2026, 3, 29, 1), None, None], pa.timestamp("us", tz="UTC")),
        "is_modified": [True, False, True],  # a column the fields do not name: ignored
    })
    path = _parquet(tmp_path, table, row_group_size=2)
    chunks = plan_chunks(path, "parquet")
    assert [(c[1], c[2], c[3]) for c in chunks] == [(0, 1, 1), (1, 2, 3)]  # one chunk per row group
    rows = [r for c in chunks for r in _rows(parse_chunk(*c, ("user_id", "timestamp", "mcc"), "parquet",
                                                          ("latitude", "seen_at", "cell_id")))]
    assert [r["line_number"] for r in rows] == [1, 2, 3] and all(r["parse_error"] is None for r in rows)
    assert [r["user_id"] for r in rows] == ["00ff6162", None, "01"]
    assert [r["mcc"] for r in rows] == ["248", "248", None]
    assert rows[0]["latitude"].startswith("59.437") and rows[1]["latitude"] is None
    assert rows[0]["seen_at"] == "2026-03-29T01:00:00+00:00" and rows[0]["cell_id"] is None


def test_a_parquet_file_without_a_required_column_makes_each_row_unparseable(tmp_path):
    import pyarrow as pa

    from jobs.ingest.records import parse_chunk, plan_chunks

    path = _parquet(tmp_path, pa.table({"user_id": ["a", "b"], "mcc": [248, 248]}))
    rows = [r for c in plan_chunks(path, "parquet") for r in _rows(parse_chunk(*c, ("user_id", "timestamp"),
                                                                               "parquet"))]
    assert [(r["line_number"], r["parse_error"]) for r in rows] == [(1, "file lacks timestamp"),
                                                                     (2, "file lacks timestamp")]
    assert rows[0]["user_id"] is None and rows[0]["raw_hash"]  # no text kept, only length and hash


def test_parquet_columns_become_text_in_one_form_whatever_their_arrow_type(tmp_path):
    import datetime as dt
    from zoneinfo import ZoneInfo

    import pyarrow as pa

    from jobs.ingest.records import MAX_FIELD_CHARS, parse_chunk, plan_chunks

    table = pa.table({
        "user_id": pa.array([b"\x0a" * 16, b"\xff" * 16, b"\x01" * 16], pa.binary(16)),  # fixed-size binary
        "timestamp": pa.array([dt.datetime(2026, 3, 29, 12, 30, 0, 250000, tzinfo=ZoneInfo("Europe/Tallinn")),
                               dt.datetime(2026, 3, 29, 4, tzinfo=dt.timezone.utc), None],
                              pa.timestamp("ns", tz="Europe/Tallinn")),
        "mnc": pa.array(["01", "x" * (MAX_FIELD_CHARS + 1), "02"]).dictionary_encode(),
        "valid": pa.array([dt.date(2026, 3, 29), None, dt.date(2026, 3, 30)]),
    })
    path = _parquet(tmp_path, table)
    rows = {r["line_number"]: r for c in plan_chunks(path, "parquet")
            for r in _rows(parse_chunk(*c, ("user_id", "timestamp", "mnc"), "parquet", ("valid",)))}
    assert rows[1]["user_id"] == "0a" * 16 and rows[3]["user_id"] == "01" * 16
    # an instant with a zone is written in UTC (ns cut to the microseconds Spark keeps); whole seconds plain
    assert rows[1]["timestamp"] == "2026-03-29T09:30:00.250000+00:00" and rows[3]["timestamp"] is None
    assert rows[1]["mnc"] == "01" and rows[1]["valid"] == "2026-03-29" and rows[3]["mnc"] == "02"
    assert rows[2]["parse_error"] == f"field longer than {MAX_FIELD_CHARS} characters" and rows[2]["mnc"] is None
    assert rows[3]["parse_error"] is None and len(rows) == 3


def test_a_file_that_is_not_parquet_is_one_unparseable_record(tmp_path):
    import hashlib

    from jobs.ingest.records import parse_chunk, plan_chunks

    path = tmp_path / "e.parquet"
    path.write_bytes(b"user_id,timestamp\nx,2026\n")  # CSV named .parquet
    (chunk,) = plan_chunks(path, "parquet")
    (row,) = _rows(parse_chunk(*chunk, ("user_id",), "parquet"))
    assert row["parse_error"].startswith("not a readable Parquet file")
    assert row["raw_length"] == path.stat().st_size
    assert row["raw_hash"] == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.spark
def test_spark_reads_parquet_landing_files_row_group_by_row_group(spark, tmp_path):
    import pyarrow as pa

    from jobs.ingest.records import read_records

    path = _parquet(tmp_path, pa.table({"user_id": [f"u{i}" for i in range(250)], "mcc": [248] * 250}),
                    row_group_size=100)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    counter = spark.sparkContext.accumulator(0)
    frame = read_records(spark, [path, tmp_path / "broken.parquet"], ("user_id",), "parquet", counter=counter,
                         optional=("mcc",)).toPandas()
    assert counter.value == len(frame) == 251
    good = frame[frame["parse_error"].isna()].sort_values("line_number")
    assert list(good["line_number"]) == list(range(1, 251)) and list(good["user_id"])[-1] == "u249"
    assert frame["parse_error"].str.startswith("not a readable Parquet file").sum() == 1
