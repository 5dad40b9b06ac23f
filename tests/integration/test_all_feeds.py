"""Every simulated feed into bronze (the four of the examples and the ESS operator format): Data Docs per run,
idempotent reruns, no raw identifier anywhere (binary ESS ids included)."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from jobs.common import lake, settings
from jobs.ingest import FEEDS
from jobs.ingest.runner import ingest
from jobs.privacy.identifier_scan import landing_identifiers, scan_lake

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]
DAY = dt.date(2026, 3, 4)


def _bronze(spark, feed):
    df = lake.read(spark, settings.table_path("bronze", f"{feed}_events")).drop("run_id").toPandas()
    return df.sort_values(["source_file", "line_number"]).reset_index(drop=True)


def test_every_feed_ingests_twice_identically_without_leaking_identifiers(spark, lake_root):
    from jobs.simulate.main import run as simulate

    simulate(700, 1, DAY, seed=3, events_per_person=15, feeds=tuple(FEEDS))
    first = {feed: ingest(spark, FEEDS[feed], DAY) for feed in FEEDS}
    contents = {feed: _bronze(spark, feed) for feed in FEEDS}
    for feed, record in first.items():
        assert record["status"] == "succeeded"
        assert record["accepted"] > 0, feed
        assert record["records_in"] == record["accepted"] + record["quarantined"]
        assert len(contents[feed]) == record["accepted"]
    assert json.loads(first["wifi"]["quarantined_by_reason"]).get("randomised_mac", 0) > 0
    assert json.loads(first["mno"]["extra_columns"]) == ["is_modified"] and json.loads(first["mno"]["warnings"])
    for feed in FEEDS:
        docs = lake_root / "data_docs" / feed / DAY.isoformat()
        assert (docs / "index.html").exists() and list((docs / "validations").rglob("*.html"))
        # nothing on the page is fetched from the network, the logo included (issue 34: a broken image offline)
        index = (docs / "index.html").read_text()
        assert "great-expectations-web-assets" not in index and "_assets/cde/data-docs-logo.svg" in index
    assert (lake_root / "data_docs" / "_assets" / "cde" / "data-docs-logo.svg").read_text().startswith("<svg")

    second = {feed: ingest(spark, FEEDS[feed], DAY) for feed in FEEDS}
    for feed in FEEDS:
        assert second[feed]["accepted"] == first[feed]["accepted"]
        assert second[feed]["quarantined_by_reason"] == first[feed]["quarantined_by_reason"]
        pd.testing.assert_frame_equal(contents[feed], _bronze(spark, feed))
        assert lake.version(settings.table_path("bronze", f"{feed}_events")) == 1

    identifiers = landing_identifiers(lake_root)
    assert len(identifiers) > 1000
    assert scan_lake(lake_root, identifiers) == []
