"""Hand-made reference data and landing files for ingest tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

DAY = dt.date(2026, 3, 2)
REFERENCE = {
    "towers.csv": "cell_id,site_id,lat,lon,azimuth_deg,beamwidth_deg,range_m\n"
                  "c1,S1,55.6761,12.5683,0,120,500\nc2,S1,55.6761,12.5683,120,120,500\n"
                  "far,S9,56.5000,10.0000,0,120,500\n",
    "aps.csv": "ap_id,lat,lon,venue\nAP-1,55.6790,12.5750,Café Øresund\nAP-2,55.6800,12.5800,\"Bageri, Nørrebro\"\n"
               "AP-far,56.5,10.0,Aarhus\n",
    "cameras.csv": "camera_id,lat,lon,direction\nCAM-1,55.6761,12.5683,N-S\nCAM-far,56.5,10.0,E-W\n",
    "stops.csv": "stop_id,name,lat,lon,modes\n8600001,Nørreport St.,55.6833,12.5713,metro|train|bus\n"
                 "8600002,Kongens Nytorv,55.6795,12.5852,metro|bus\n8600999,Århus H,56.15,10.20,train\n",
}


def land(root: Path, feed: str, name: str, content: bytes | str, day: dt.date = DAY) -> Path:
    """Write reference data and one landing file; return the landing folder."""
    ref = root / "landing" / "reference"
    ref.mkdir(parents=True, exist_ok=True)
    for file_name, text in REFERENCE.items():
        (ref / file_name).write_text(text, encoding="utf-8")
    folder = root / "landing" / feed / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def landed(lake_root):
    """``landed(feed, name, content)`` writes a landing file into the test's lake."""
    return lambda feed, name, content, day=DAY: land(lake_root, feed, name, content, day)
