"""Roll-up invariants (hypothesis): additive metrics sum over children; distinct people do not."""

from __future__ import annotations

import datetime as dt

import h3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.aggregate import metrics
from jobs.common.h3cells import cell_to_int

pytestmark = pytest.mark.spark
PARENTS = [h3.latlng_to_cell(55.676, 12.568, 8), h3.latlng_to_cell(55.70, 12.52, 8)]
CHILDREN = [c for p in PARENTS for c in sorted(h3.cell_to_children(p, 10))[:12]]
BIN = dt.datetime(2026, 3, 2, 8, 0)

rows_strategy = st.lists(
    st.tuples(st.integers(0, 25), st.sampled_from(CHILDREN), st.integers(0, 3), st.integers(1, 9)),
    min_size=1, max_size=120)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy)
def test_parent_counts_are_sums_and_distinct_people_are_bounded(spark, rows):
    from pyspark.sql import functions as F

    data = [(p, "telco", cell_to_int(c), BIN + dt.timedelta(minutes=15 * b), n) for p, c, b, n in rows]
    presence = spark.createDataFrame(data, "pseudo_id long, source string, h3_cell long, bin_start timestamp, "
                                           "events long")
    child = metrics.to_cut(presence, 9, 60)
    parent = metrics.to_cut(presence, 8, 60)
    child_parent = child.withColumn("parent", metrics.parent_column(F.col("h3_cell"), 8))

    foot_child = {(r.parent, r.bin_start): r.v for r in metrics.footfall(child).withColumn(
        "parent", metrics.parent_column(F.col("h3_cell"), 8)).groupBy("parent", "bin_start")
        .agg(F.sum("value").alias("v")).collect()}
    foot_parent = {(r.h3_cell, r.bin_start): r.value for r in metrics.footfall(parent).collect()}
    assert foot_child == foot_parent

    people_child = metrics.unique_people(child_parent, keys=("parent", "h3_cell", "bin_start")).groupBy(
        "parent", "bin_start").agg(F.sum("value").alias("total"), F.max("value").alias("largest")).collect()
    people_parent = {(r.h3_cell, r.bin_start): r.value for r in metrics.unique_people(parent).collect()}
    assert len(people_child) == len(people_parent)
    for r in people_child:
        value = people_parent[(r.parent, r.bin_start)]
        assert r.largest <= value <= r.total
