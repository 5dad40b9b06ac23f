"""A second region end to end (issue 35): Tallinn (Europe/Tallinn, an hour east of Copenhagen) simulates,
ingests, aggregates and publishes in its own process (a process's region is fixed when it starts), on the day
its clocks go forward: 23 local hours, bins in local time with their offsets, the local date its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from jobs.common import settings

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]

SCRIPT = """
import datetime as dt, json, sys
from pathlib import Path
from jobs.aggregate.silver import build_silver
from jobs.common import settings
from jobs.common.spark import get_spark
from jobs.ingest import FEEDS
from jobs.ingest.runner import ingest
from jobs.publish.approvals import approve_all
from jobs.publish.deliver import publish
from jobs.publish.portfolio import load_contract
from jobs.simulate.main import run as simulate

day = dt.date(2026, 3, 29)  # clocks go forward at 03:00 local (01:00 UTC) in Tallinn
simulate(600, 1, day, seed=5, events_per_person=20, feeds=("telco",))
spark = get_spark("second-region")
run = ingest(spark, FEEDS["telco"], day, validate=False)
build_silver(spark, day)
contract = load_contract(Path(sys.argv[1]))
approve_all(contract)
result = publish(spark, contract, day)
print("RESULT " + json.dumps({"tz": settings.LOCAL_TZ_NAME, "region": settings.REGION.name,
                              "run": {k: run[k] for k in ("records_in", "accepted", "quarantined")},
                              "outbox": str(result["outbox"])}))
"""


def test_tallinn_runs_simulate_ingest_aggregate_publish_with_its_own_days(tmp_path):
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    document = yaml.safe_load((settings.REPO_ROOT / "contracts" / "kk-inner-city-presence.yaml").read_text())
    document["id"], document["name"] = "tallinn-centre-presence", "People in Tallinn's centre per hour"
    for item in document["customProperties"]:
        if item["property"] == "area":
            item["value"] = "areas/tallinn-centre.geojson"  # the region's areas/, not beside the contract
    path = contracts / "tallinn-centre-presence.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    env = dict(os.environ, CDE_REGION="tallinn", CDE_LAKE=str(tmp_path / "lake"), CDE_CONTRACTS=str(contracts))
    ran = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], env=env, capture_output=True, text=True,
                         timeout=900)
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-4000:]
    result = json.loads(next(line for line in ran.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert (result["region"], result["tz"]) == ("tallinn", "Europe/Tallinn")
    run = result["run"]
    assert run["records_in"] == run["accepted"] + run["quarantined"] and run["accepted"] > 0
    outbox = Path(result["outbox"])
    frame = pd.read_parquet(outbox / "data.parquet")
    bins = sorted(set(frame["bin_start"]))
    # 23 local hours: 00:00 to 02:00 at +02:00, then 04:00 to 23:00 at +03:00; no 03:00
    assert len(bins) == 23 and bins[0] == "2026-03-29T00:00:00+02:00" and bins[-1] == "2026-03-29T23:00:00+03:00"
    assert "2026-03-29T02:00:00+02:00" in bins and "2026-03-29T04:00:00+03:00" in bins
    assert not any(b.startswith("2026-03-29T03:") for b in bins)
    # every bin is the local hour of its UTC instant in Tallinn, not in Copenhagen
    utc = pd.to_datetime(frame["bin_start_utc"], utc=True).dt.tz_convert("Europe/Tallinn")
    assert (utc.dt.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(r"(\d\d)(\d\d)$", r"\1:\2", regex=True)
            == frame["bin_start"]).all()
    readme = (outbox / "README.md").read_text()
    assert "Europe/Tallinn" in readme and "Europe/Copenhagen" not in readme
