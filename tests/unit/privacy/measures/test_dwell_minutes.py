"""``dwell_minutes``: minutes per person, cell and bin clamped, summed in integer minutes; released through
the generic engine from ``silver/stays``."""

from __future__ import annotations

import datetime as dt

import h3
import pytest

from jobs.privacy.measures import ZERO_FILL, get_measure


def test_sensitivity_bound_text_domain_and_k(make_plan):
    plan = make_plan("dwell_minutes", days=2, max_cells_per_day=8, max_minutes_per_pair=30)
    measure = get_measure("dwell_minutes")
    assert plan.sensitivity == 8 * 30 * 2
    assert plan.bounder.text() == "per person and day at most 8 (cell, bin) pairs, at most 30 minutes each"
    assert measure.additive and measure.domain == ZERO_FILL and measure.reads == "silver/stays"
    assert plan.k_threshold(10) == 300 and measure.value_unit == "minutes"
    assert plan.describe()["bounds"] == {"max_cells_per_day": 8, "max_minutes_per_pair": 30}


@pytest.mark.spark
def test_release_clamps_minutes_per_pair_and_counts_in_integer_minutes(spark, lake_root, make_plan):
    from pyspark.sql import functions as F

    from jobs.common import tables
    from jobs.privacy.release import make_release, read_release

    day = dt.date(2026, 3, 2)
    cell = h3.str_to_int(h3.latlng_to_cell(55.68, 12.575, 10))
    # person 1 stays 90 minutes (08:00-09:30 local) in one cell; person 2 stays 20 minutes
    rows = [(1, "telco", day, 0, cell, "2026-03-02 07:00:00", "2026-03-02 08:30:00"),
            (2, "telco", day, 0, cell, "2026-03-02 07:10:00", "2026-03-02 07:30:00")]
    stays = spark.createDataFrame(rows, "pseudo_id long, source string, event_date date, key_period int, "
                                        "h3_cell long, stay_start string, stay_end string").select(
        "pseudo_id", "source", "event_date", "key_period", "h3_cell",
        F.to_timestamp("stay_start").alias("stay_start"), F.to_timestamp("stay_end").alias("stay_end"))
    tables.SILVER["stays"].path().parent.mkdir(parents=True, exist_ok=True)
    from jobs.common import lake

    lake.write(stays, tables.SILVER["stays"].path(), mode="replace_partitions", partition_by=["event_date", "source"],
               replace=[{"event_date": day.isoformat(), "source": "telco"}])
    now = dt.datetime.now(dt.UTC)  # the day's ingest and silver build, as the pipeline records them
    tables.INGEST_RUNS.append([{"run_id": "r1", "feed": "telco", "event_date": day, "status": "succeeded",
                                "finished_at": now, "accepted": len(rows)}])
    tables.SILVER_BUILDS.append([{"source": "telco", "event_date": day, "built_at": now + dt.timedelta(seconds=1)}])
    plan = make_plan("dwell_minutes", max_cells_per_day=4, max_minutes_per_pair=45)
    # the cut itself, before noise: 60 minutes in the 08:00 bin (clamped to 45) + 20, and 30 in the 09:00 bin
    measure = plan.measure
    cut = measure.to_cut(spark, stays, plan, [])
    keys = measure.keys(())
    exact = {r["bin_start"].hour: r["value"] for r in measure.aggregate(plan.bounder.bound(cut, keys), keys).collect()}
    assert exact == {7: 45 + 20, 8: 30}
    released = make_release(spark, plan)
    values = read_release(plan.release_id).to_pandas()
    assert released["rows"] == len(values) > 2 and values["value"].dtype.kind == "i"
    assert set(values["metric"]) == {"dwell_minutes"}
