"""A feed is one spec: a feed registered here, in the test, ingests through the shared runner."""

from __future__ import annotations

import datetime as dt
import json

import h3
import pandas as pd
import pytest

from jobs.common import lake, settings
from jobs.ingest.feeds import FEEDS, register_feed, unregister_feed
from jobs.ingest.runner import ingest
from jobs.ingest.spec import FeedSpec, IdentifierRule, Reference, first_error, timestamp_column

pytestmark = pytest.mark.spark
DAY = dt.date(2026, 3, 2)


def _gates() -> pd.DataFrame:
    return pd.DataFrame({"ref_id": ["G1", "G2"],
                         "h3_cell": [h3.str_to_int(h3.latlng_to_cell(55.676, 12.568, 10))] * 2,
                         "in_region": [True, False]})


def _type_check(records):
    from pyspark.sql import functions as F

    ts = timestamp_column(F.col("seen_at"))
    error = first_error([(~F.col("badge").rlike(r"^[A-Za-z0-9]{6,12}$"), "badge: not 6 to 12 letters or digits"),
                         (ts.isNull(), "seen_at: not ISO-8601 with Z or an offset")])
    return records.select("*", ts.alias("event_ts_utc"), RULE.spark(F.col("badge")).alias("identifier_value"),
                          error.alias("type_error"))


def _bronze_columns():
    from pyspark.sql import functions as F

    return [F.col("gate")]


RULE = IdentifierRule(lower=True)
PARKING = FeedSpec(name="parking_gates", fields=("badge", "seen_at", "gate"), file_format="csv",
                   identifier="badge", type_check=_type_check, references=(Reference("gate", _gates),),
                   bronze_columns=_bronze_columns, identifier_rule=RULE,
                   data_subjects="badge holders", personal_data="pseudonymised badge, time, gate")


@pytest.fixture
def parking_feed():
    register_feed(PARKING)
    yield PARKING
    unregister_feed(PARKING.name)


def test_a_feed_registered_in_the_test_ingests_with_every_record_accounted(spark, lake_root, parking_feed):
    assert FEEDS["parking_gates"] is parking_feed
    folder = settings.landing_path("parking_gates", DAY.isoformat())
    folder.mkdir(parents=True)
    (folder / "gates.csv").write_text(
        "badge,seen_at,gate\n"
        "ABC123,2026-03-02T08:00:00+01:00,G1\n"      # accepted
        "abc123,2026-03-02T09:00:00Z,G1\n"           # accepted: same badge, normalised by the rule
        "XYZ789,2026-03-02T08:00:00Z,G9\n"           # unknown_reference
        "XYZ790,2026-03-02T08:00:00Z,G2\n"           # out_of_region
        "!!,2026-03-02T08:00:00Z,G1\n"               # bad_type (the field is named)
        "ABC123,2026-03-02T08:00:00+01:00,G1\n"      # duplicate
        + "\n".join(f"Q{i:05d},2026-03-02T10:00:00Z,G1" for i in range(60)) + "\n", encoding="utf-8")
    record = ingest(spark, parking_feed, DAY, validate=False)
    reasons = json.loads(record["quarantined_by_reason"])
    assert record["records_in"] == 66 == record["accepted"] + record["quarantined"]
    assert reasons == {"bad_type": 1, "unknown_reference": 1, "out_of_region": 1, "duplicate": 1}
    bronze = lake.read_arrow(settings.table_path("bronze", "parking_gates_events")).to_pandas()
    assert len(bronze) == 62 and "badge" not in bronze.columns and bronze["pseudo_id"].notna().all()
    first_two = bronze[bronze["event_ts"] < pd.Timestamp("2026-03-02T09:30:00Z")]
    assert first_two["pseudo_id"].nunique() == 1  # ABC123 and abc123 are one badge under the rule
    quarantine = lake.read_arrow(settings.table_path("quarantine", "parking_gates")).to_pandas()
    assert "badge: not 6 to 12 letters or digits" in set(quarantine["detail"])


def test_the_registry_drops_a_throwaway_feed_again(parking_feed):
    unregister_feed(parking_feed.name)
    assert "parking_gates" not in FEEDS
    with pytest.raises(KeyError, match="unknown feed 'parking_gates'"):
        from jobs.ingest.feeds import get_feed

        get_feed("parking_gates")
