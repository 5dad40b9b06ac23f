"""``present_population``: each person's unit mass at a bin's instant, spread over the footprint of the cell
serving them nearest that instant, in whole hundredths; bounded in bins per person-day."""

from __future__ import annotations

import datetime as dt

import h3
import pandas as pd
import pyarrow as pa
import pytest

from jobs.privacy.measures import ZERO_FILL, get_measure
from jobs.privacy.measures.bounders import UNITS_PER_PERSON

DAY = dt.date(2026, 3, 2)
# two neighbouring resolution-9 cells inside the test area, and a resolution-10 child of each
P1 = h3.latlng_to_cell(55.68, 12.575, 9)
P2 = next(c for c in h3.grid_ring(P1, 1))
C1, C2 = (h3.str_to_int(h3.cell_to_center_child(p, 10)) for p in (P1, P2))


def test_sensitivity_bound_text_domain_and_k(make_plan):
    plan = make_plan("present_population", days=2, max_bins_per_day=6)
    measure = get_measure("present_population")
    assert UNITS_PER_PERSON == 100
    assert plan.sensitivity == 6 * 100 * 2  # six persons a day, in hundredths, over two days
    assert plan.bounder.l2_per_day() == pytest.approx(100 * 6 ** 0.5)
    assert "at most 6 bins" in plan.bounder.text()
    assert measure.domain == ZERO_FILL and not measure.additive and measure.reads == "silver/instants"
    assert plan.k_threshold(10) == 1000 and measure.value_unit == "hundredths of a person"
    assert plan.describe()["bounds"] == {"max_bins_per_day": 6}


def test_footprint_units_sum_to_one_person_and_follow_the_weights():
    from jobs.ingest.footprints import footprint_units

    cells = [h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(C1), 8)]
    weights = pd.Series(range(1, len(cells) + 1), dtype=float)
    footprint = pd.DataFrame({"cell_id": "A", "h3_cell": cells, "weight": weights / weights.sum()})
    units = footprint_units(footprint, 9, UNITS_PER_PERSON)
    assert units["units"].sum() == UNITS_PER_PERSON and (units["units"] > 0).all()
    # largest remainder: every parent within one unit of its exact share
    exact = footprint.assign(parent=[h3.str_to_int(h3.cell_to_parent(h3.int_to_str(c), 9)) for c in cells]) \
        .groupby("parent")["weight"].sum() * UNITS_PER_PERSON
    got = units.set_index("h3_cell")["units"].reindex(exact.index, fill_value=0)
    assert ((got - exact).abs() < 1).all()


def _events(spark, rows):
    from pyspark.sql import functions as F

    frame = spark.createDataFrame(rows, "pseudo_id long, event_date date, key_period int, ts string, "
                                        "cell_id string, h3_cell long, home_mcc string")
    return frame.withColumn("event_ts", F.to_timestamp("ts")).drop("ts")


@pytest.mark.spark
def test_instants_take_the_nearest_record_within_the_tolerance_on_its_own_day(spark):
    from jobs.ingest.presence import instants_from_events

    rows = [(1, DAY, 0, "2026-03-02 07:05:00", "A", C1, "238"), (1, DAY, 0, "2026-03-02 07:40:00", "B", C2, "238"),
            # 00:10 local on 3 March: no instant of 2 March comes from it
            (2, DAY + dt.timedelta(days=1), 0, "2026-03-02 23:10:00", "A", C1, "238")]
    got = {(r["pseudo_id"], r["instant"]): (r["cell_id"], r["gap_seconds"])
           for r in instants_from_events(_events(spark, rows), "telco", 60).collect()}
    first = {k[1] for k in got if k[0] == 1}
    assert min(first) == dt.datetime(2026, 3, 2, 6, 15) and max(first) == dt.datetime(2026, 3, 2, 8, 30)
    assert len(first) == 10  # 06:15 to 08:30 every quarter hour; 08:45 is 65 minutes from the last record
    assert got[(1, dt.datetime(2026, 3, 2, 7, 15))] == ("A", 600)
    assert got[(1, dt.datetime(2026, 3, 2, 7, 30))] == ("B", 600)
    assert got[(1, dt.datetime(2026, 3, 2, 8, 30))] == ("B", 3000)
    assert min(k[1] for k in got if k[0] == 2) == dt.datetime(2026, 3, 2, 23, 0)  # local midnight


def _store_footprints(valid_date):
    from jobs.common import lake, tables

    rows = pd.DataFrame({"source": "telco", "valid_date": valid_date, "cell_id": ["A", "A", "B"],
                         "h3_cell": [C1, C2, C2], "weight": [0.75, 0.25, 1.0]})
    lake.create_arrow(tables.CELL_FOOTPRINTS.path(),
                      pa.Table.from_pandas(rows, schema=tables.CELL_FOOTPRINTS.schema, preserve_index=False),
                      partition_by=["source"])


def _store_instants(spark, rows):
    from jobs.common import lake, tables
    from jobs.ingest.presence import instants_from_events

    lake.write(instants_from_events(_events(spark, rows), "telco", 60), tables.SILVER["instants"].path(),
               mode="replace_partitions", partition_by=["event_date", "source"],
               replace=[{"event_date": DAY.isoformat(), "source": "telco"}])
    now = dt.datetime.now(dt.UTC)  # the day's ingest and silver build, as the pipeline records them
    tables.INGEST_RUNS.append([{"run_id": "r1", "feed": "telco", "event_date": DAY, "status": "succeeded",
                                "finished_at": now, "accepted": len(rows)}])
    tables.SILVER_BUILDS.append([{"source": "telco", "event_date": DAY, "built_at": now + dt.timedelta(seconds=1)}])


@pytest.mark.spark
def test_release_spreads_each_person_over_the_footprint_one_person_per_bin(spark, lake_root, make_plan):
    from jobs.common import tables
    from jobs.privacy.release import make_release, read_release

    rows = [(1, DAY, 0, "2026-03-02 07:05:00", "A", C1, "238"), (1, DAY, 0, "2026-03-02 07:40:00", "B", C2, "238"),
            (2, DAY, 0, "2026-03-02 07:00:00", "B", C2, "238"),
            # a cell without a footprint keeps its person whole, in its own cell
            (3, DAY, 0, "2026-03-02 12:00:00", "Z", C1, "238")]
    _store_instants(spark, rows)
    _store_footprints(DAY - dt.timedelta(days=1))  # the latest footprint before the day serves it
    plan = make_plan("present_population", max_bins_per_day=3)
    measure = plan.measure
    instants = tables.SILVER["instants"].read(spark)
    cut = measure.to_cut(spark, instants, plan, [])
    per_person_bin = {(r["pseudo_id"], r["bin_start"].hour): r["units"]
                      for r in cut.groupBy("pseudo_id", "bin_start").sum("units")
                      .withColumnRenamed("sum(units)", "units").collect()}
    assert set(per_person_bin.values()) == {UNITS_PER_PERSON}  # one whole person per bin, however spread
    keys = measure.keys(())
    exact = {(h3.int_to_str(r["h3_cell"]), r["bin_start"].hour): r["value"]
             for r in measure.aggregate(plan.bounder.bound(cut, keys), keys).collect()}
    # 07:00 person 1 (A: 75 in P1, 25 in P2) and person 2 (B); 08:00 both in B; 06:00 person 2 (gap 60 min);
    # person 3 at 11:00, 12:00 and 13:00 (an hour either side)
    assert exact == {(P1, 7): 75, (P2, 7): 25 + 100, (P2, 8): 200, (P2, 6): 100,
                     **{(P1, hour): 100 for hour in (11, 12, 13)}}
    one_bin = make_plan("present_population", max_bins_per_day=1)
    bounded = one_bin.measure.aggregate(one_bin.bounder.bound(cut, keys), keys)
    assert bounded.agg({"value": "sum"}).first()[0] == 3 * UNITS_PER_PERSON  # one bin per person kept
    from jobs.privacy.advise import bound_property, contribution_counts

    # an advice counts bins per person-day (persons 1, 2, 3: 2, 3 and 3 bins), whatever their cells
    assert bound_property(plan) == "max_bins_per_day"
    assert contribution_counts(spark, plan, "max_bins_per_day") == {2: 1, 3: 2}
    released = make_release(spark, plan)
    values = read_release(plan.release_id).to_pandas()
    assert released["rows"] == len(values) > 5 and values["value"].dtype.kind == "i"
    assert set(values["metric"]) == {"present_population"}


@pytest.mark.spark
def test_a_day_without_footprints_is_refused_naming_the_command(spark, lake_root, make_plan):
    from jobs.errors import Refusal
    from jobs.privacy.release import make_release

    _store_instants(spark, [(1, DAY, 0, "2026-03-02 07:05:00", "A", C1, "238")])
    _store_footprints(DAY + dt.timedelta(days=1))  # built only after the day
    with pytest.raises(Refusal, match="cde footprints --source telco --date 2026-03-02"):
        make_release(spark, make_plan("present_population"))


def test_a_delivery_states_the_footprint_placement_of_present_population(lake_root):
    import dataclasses

    from jobs.publish.placement import placement_lines, placement_statement
    from jobs.publish.portfolio import load_contracts

    contract = load_contracts()[0]["kk-inner-city-presence"]
    people = placement_statement(contract, DAY)["method"]["telco"]
    assert "centroid" in people and "footprint" not in people
    present = dataclasses.replace(contract, metrics=("present_population",))
    method = placement_statement(present, DAY)["method"]["telco"]
    assert method.startswith("present_population: at each bin's start") and "centroid" not in method
    both = dataclasses.replace(contract, metrics=("unique_people", "present_population"))
    assert any("centroid" in line and "present_population: " in line
               for line in placement_lines(placement_statement(both, DAY)))


def test_a_delivery_states_the_measured_error_of_its_placement(lake_root):
    import dataclasses

    from jobs.publish.placement import MEASURED_ERROR, placement_lines, placement_statement
    from jobs.publish.portfolio import load_contracts

    contract = load_contracts()[0]["kk-inner-city-presence"]
    assert contract.h3_resolution == 9
    centroid = placement_statement(contract, DAY)["measured"]
    assert f"wedge centroid: median error {MEASURED_ERROR[9]['centroid']:.0%}" in centroid
    assert "footprint" not in centroid
    assert f"as unique_people counts them: {MEASURED_ERROR[9]['centroid_distinct']:.0%}" in centroid
    both = dataclasses.replace(contract, metrics=("unique_people", "present_population"))
    lines = placement_lines(placement_statement(both, DAY))
    assert any(f"footprint: median error {MEASURED_ERROR[9]['footprint']:.0%}" in line for line in lines)
    coarse = dataclasses.replace(contract, h3_resolution=7)
    assert "not measured at resolution 7" in placement_statement(coarse, DAY)["measured"]
    cameras = dataclasses.replace(contract, sources=("camera",), metrics=("camera_count",))
    assert placement_statement(cameras, DAY)["measured"] is None  # no cells, no network placement


@pytest.mark.spark
def test_retention_expires_instants_and_keeps_the_networks_footprints(spark, lake_root):
    from jobs.common import lake, tables
    from jobs.ingest.retention import apply_retention

    _store_instants(spark, [(1, DAY, 0, "2026-03-02 07:05:00", "A", C1, "238")])
    _store_footprints(DAY)
    report = apply_retention(DAY + dt.timedelta(days=70), {"silver": 60})
    assert report["silver/instants"]["rows_deleted"] > 0  # person-level: expires with silver
    assert "silver/cell_footprints" not in report  # the network's, no person: kept
    assert lake.read_arrow(tables.CELL_FOOTPRINTS.path()).num_rows == 3


def test_the_coarse_network_warning_of_a_footprint_product_says_values_are_smoothed(lake_root):
    import dataclasses

    from jobs.common import tables
    from jobs.publish.placement import placement_statement
    from jobs.publish.portfolio import load_contracts

    tables.FOOTPRINT_SIZES.append([{"source": "telco", "valid_date": DAY, "resolution": 9, "median_cells": 64.0,
                                    "supported_resolution": 7, "built_at": dt.datetime.now(dt.UTC)}])
    contract = load_contracts()[0]["kk-inner-city-presence"]
    assert "follow the placement rule above" in placement_statement(contract, DAY)["warning"]
    present = dataclasses.replace(contract, metrics=("present_population",))
    warning = placement_statement(present, DAY)["warning"]
    assert "supports about resolution 7" in warning and "smoothed estimates" in warning
