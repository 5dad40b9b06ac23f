"""Fuzz: over 1,000 malformed lines per feed. Nothing crashes and every line is accounted for."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from jobs.ingest import FEEDS
from jobs.ingest.optout import apply_optouts
from jobs.ingest.runner import REASONS, ingest

pytestmark = [pytest.mark.spark, pytest.mark.slow]
DAY = dt.date(2026, 3, 2)
LINES = 1_200


def _garbage(rnd: random.Random) -> bytes:
    """Random bytes without line breaks or quotes, never blank."""
    raw = bytes(b for b in rnd.randbytes(rnd.randint(1, 300)) if b not in b'\n\r"')
    return b"x" + raw


def _valid(feed: str, i: int) -> dict[str, str]:
    ts = f"2026-03-02T{i % 24:02d}:{i % 60:02d}:00+01:00"
    if feed == "telco":
        return {"imsi": f"238{i:012d}", "event_ts": ts, "cell_id": "c1", "event_type": "data", "home_mcc": "238"}
    if feed == "wifi":
        return {"mac": f"3c:22:fb:{i // 65536 % 256:02x}:{i // 256 % 256:02x}:{i % 256:02x}", "ap_id": "AP-1",
                "first_seen": ts, "last_seen": ts, "rssi": "-60", "kind": "association"}
    if feed == "camera":
        return {"camera_id": "CAM-1", "interval_start": ts, "interval_minutes": "15", "count_in": str(i),
                "count_out": "1", "class": "pedestrian"}
    return {"card_id": f"CARD{i:08d}", "check_in_ts": ts, "check_in_stop": "8600001", "check_out_ts": "",
            "check_out_stop": "", "mode": "bus", "product": "Pendlerkort"}


BAD_VALUES = {
    "imsi": ["12", "23801123456789X", ""], "event_ts": ["2026-03-02 10:00", "yesterday", "2026-02-30T10:00:00Z"],
    "event_type": ["fax", ""], "home_mcc": ["DK", "2380"], "mac": ["zz:zz:zz:zz:zz:zz", "3c22fb112233"],
    "first_seen": ["never"], "last_seen": ["2026-03-02T00:00:00Z"], "rssi": ["-60dBm", "12", "-500"],
    "kind": ["beacon"], "interval_start": ["noon"], "interval_minutes": ["0", "x", "-15"],
    "count_in": ["-1", "1.5"], "count_out": ["many"], "class": ["horse"], "card_id": ["ab", "card-with-dash"],
    "check_in_ts": ["soon"], "check_out_ts": ["2026-03-01T10:00:00Z"], "mode": ["tram"],
}
UNKNOWN_REF = {"telco": ("cell_id", "c404"), "wifi": ("ap_id", "AP-404"), "camera": ("camera_id", "CAM-404"),
               "ticket": ("check_in_stop", "404")}
FAR_REF = {"telco": ("cell_id", "far"), "wifi": ("ap_id", "AP-far"), "camera": ("camera_id", "CAM-far"),
           "ticket": ("check_in_stop", "8600999")}
TS_FIELD = {"telco": "event_ts", "wifi": "first_seen", "camera": "interval_start", "ticket": "check_in_ts"}


def _encode(feed: str, fields: list[str], row: dict[str, str]) -> bytes:
    if feed == "wifi":
        return json.dumps(row, ensure_ascii=False).encode("utf-8")
    return ",".join(f'"{v}"' if "," in v else v for v in (row[f] for f in fields)).encode("utf-8")


def _lines(feed: str, rnd: random.Random) -> tuple[list[bytes], set[str], list[str]]:
    spec = FEEDS[feed]
    fields = [*spec.fields, *spec.optional_fields]
    lines, expected, optout, last_valid = [], set(), [], None
    for i in range(LINES):
        row = _valid(feed, i)
        kind = i % 12
        if kind == 0:
            line, reason = _garbage(rnd), "unparseable"
        elif kind == 1:  # wrong encoding: Latin-1 bytes
            line, reason = _encode(feed, fields, row).replace(b"1", "ø".encode("latin-1"), 1), "unparseable"
        elif kind == 2:  # missing or extra columns / huge field
            choice = i % 3
            if feed == "wifi":
                line = [b"[1,2]", b'{"mac": ' + b"9" * 9000 + b"}", b"{"][choice]
            else:
                line = [b"a,b", _encode(feed, fields, row) + b",extra,cols", b"y" * 9000][choice]
            reason = "unparseable"
        elif kind == 3:
            field = rnd.choice([f for f in spec.fields if f in BAD_VALUES])
            row[field] = rnd.choice(BAD_VALUES[field])
            line, reason = _encode(feed, fields, row), "bad_type"
        elif kind == 4:
            row[TS_FIELD[feed]] = "2026-03-05T10:00:00Z"
            if feed == "wifi":
                row["last_seen"] = "2026-03-05T10:00:00Z"
            line, reason = _encode(feed, fields, row), "out_of_window"
        elif kind == 5:
            field, value = UNKNOWN_REF[feed]
            row[field] = value
            line, reason = _encode(feed, fields, row), "unknown_reference"
        elif kind == 6:
            field, value = FAR_REF[feed]
            row[field] = value
            line, reason = _encode(feed, fields, row), "out_of_region"
        elif kind == 7 and feed == "wifi":
            row.update(mac=f"da:a1:19:00:{i // 256 % 256:02x}:{i % 256:02x}", kind="probe")
            line, reason = _encode(feed, fields, row), "randomised_mac"
        elif kind == 8 and feed != "camera":
            optout.append(row[FEEDS[feed].identifier])
            line, reason = _encode(feed, fields, row), "opted_out"
        elif kind == 9 and last_valid is not None:
            line, reason = last_valid, "duplicate"  # an earlier valid line again
        else:
            line, reason = _encode(feed, fields, row), None
        if i % 25 == 13 and feed != "wifi":
            line, reason = b'"' + line.replace(b'"', b""), "unparseable"  # one stray quote per 25 lines
        elif reason is None:
            last_valid = line
        lines.append(line)
        if reason:
            expected.add(reason)
    header = b"" if feed == "wifi" else ",".join(fields).encode()
    return ([header] if header else []) + lines, expected, optout


@pytest.mark.parametrize("feed", ["telco", "wifi", "camera", "ticket"])
def test_fuzzed_feed_accounts_for_every_line(spark, lake_root, landed, feed):
    rnd = random.Random(f"fuzz-{feed}")
    lines, expected_reasons, optout = _lines(feed, rnd)
    if optout:
        apply_optouts(feed, optout, "fuzz")
    name = "fuzz.jsonl" if feed == "wifi" else "fuzz.csv"
    landed(feed, name, b"\n".join(lines) + b"\n")
    record = ingest(spark, FEEDS[feed], DAY, max_invalid_share=1.0)
    reasons = json.loads(record["quarantined_by_reason"])
    assert record["records_in"] == LINES
    assert record["accepted"] + record["quarantined"] == LINES
    assert record["accepted"] > LINES // 10
    assert set(reasons) <= set(REASONS)
    assert expected_reasons <= set(reasons), (expected_reasons, reasons)
