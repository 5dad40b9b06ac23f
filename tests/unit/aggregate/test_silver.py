"""Silver tables and metric functions against small hand-computed datasets."""

from __future__ import annotations

import datetime as dt

import h3
import pytest

from jobs.aggregate import metrics
from jobs.aggregate.anchors import anchors_for_day, mcc_countries, window_start
from jobs.aggregate.movement import stays_from_presence, trips_from_stays
from jobs.common.h3cells import cell_to_int
from jobs.ingest.feeds.ticket import presence_from_trips
from jobs.ingest.feeds.wifi import presence_from_sightings
from jobs.ingest.presence import presence_from_events

pytestmark = pytest.mark.spark
DAY = dt.date(2026, 3, 2)
A = h3.latlng_to_cell(55.6761, 12.5683, 10)
B = next(c for c in h3.grid_ring(A, 3) if h3.cell_to_parent(c, 9) != h3.cell_to_parent(A, 9))
IA, IB = cell_to_int(A), cell_to_int(B)


def utc(hh: int, mm: int, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=dt.timezone.utc)


def _telco(spark, rows):
    return spark.createDataFrame(
        [(p, 1, ts, DAY, cell, mcc) for p, ts, cell, mcc in rows],
        "pseudo_id long, key_period int, event_ts timestamp, event_date date, h3_cell long, home_mcc string")


EVENTS = [(1, utc(8, 1), IA, "238"), (1, utc(8, 5), IA, "238"), (1, utc(8, 20), IA, "238"),
          (1, utc(8, 40), IB, "238"), (1, utc(10, 0), IB, "238"), (2, utc(8, 10), IA, "262")]


def _collect(df, *cols):
    return sorted(tuple(getattr(r, c) for c in cols) for r in df.collect())


def test_presence_from_telco_events(spark):
    presence = presence_from_events(_telco(spark, EVENTS), "telco")
    got = _collect(presence, "pseudo_id", "bin_start", "h3_cell", "events")
    assert got == sorted([(1, utc(8, 0).replace(tzinfo=None), IA, 2), (1, utc(8, 15).replace(tzinfo=None), IA, 1),
                          (1, utc(8, 30).replace(tzinfo=None), IB, 1), (1, utc(10, 0).replace(tzinfo=None), IB, 1),
                          (2, utc(8, 0).replace(tzinfo=None), IA, 1)])


def test_presence_from_wifi_spans_every_bin_and_tickets_both_ends(spark):
    sightings = spark.createDataFrame([(7, 1, utc(9, 10), utc(9, 50), DAY, IA)],
                                      "pseudo_id long, key_period int, event_ts timestamp, last_seen timestamp, "
                                      "event_date date, h3_cell long")
    bins = [r.bin_start.minute for r in presence_from_sightings(sightings).orderBy("bin_start").collect()]
    assert bins == [0, 15, 30, 45]
    trips = spark.createDataFrame([(8, 1, utc(7, 0), utc(7, 25), DAY, IA, IB), (8, 1, utc(18, 0), None, DAY, IB, None)],
                                  "pseudo_id long, key_period int, event_ts timestamp, check_out_ts timestamp, "
                                  "event_date date, h3_cell long, h3_cell_out long")
    got = _collect(presence_from_trips(trips), "bin_start", "h3_cell")
    assert got == [(utc(7, 0).replace(tzinfo=None), IA), (utc(7, 15).replace(tzinfo=None), IB),
                   (utc(18, 0).replace(tzinfo=None), IB)]


def test_stays_merge_consecutive_bins_and_split_on_long_gaps(spark):
    presence = presence_from_events(_telco(spark, EVENTS), "telco")
    stays = stays_from_presence(presence.filter("pseudo_id = 1"), max_gap_minutes=60)
    got = _collect(stays, "h3_cell", "stay_start", "dwell_minutes")
    assert got == sorted([(IA, utc(8, 0).replace(tzinfo=None), 30), (IB, utc(8, 30).replace(tzinfo=None), 15),
                          (IB, utc(10, 0).replace(tzinfo=None), 15)])
    merged = stays_from_presence(presence.filter("pseudo_id = 1"), max_gap_minutes=90)
    assert _collect(merged, "h3_cell", "dwell_minutes") == sorted([(IA, 30), (IB, 105)])
    # Trips: only between stays of at least 30 minutes in different cells.
    assert trips_from_stays(stays, min_stay_minutes=30).count() == 0
    (trip,) = trips_from_stays(merged, min_stay_minutes=30).collect()
    assert (trip.origin_cell, trip.destination_cell) == (IA, IB)
    assert trip.start_ts == utc(8, 30).replace(tzinfo=None) and trip.end_ts == utc(8, 30).replace(tzinfo=None)


def test_metrics_on_a_cut(spark):
    presence = presence_from_events(_telco(spark, EVENTS), "telco")
    cut = metrics.to_cut(presence, 9, 60)
    pa_, pb = cell_to_int(h3.cell_to_parent(A, 9)), cell_to_int(h3.cell_to_parent(B, 9))
    eight, ten = utc(8, 0).replace(tzinfo=None), utc(10, 0).replace(tzinfo=None)
    assert _collect(metrics.footfall(cut), "h3_cell", "bin_start", "value") == sorted(
        [(pa_, eight, 4), (pb, eight, 1), (pb, ten, 1)])
    assert _collect(metrics.unique_people(cut), "h3_cell", "bin_start", "value") == sorted(
        [(pa_, eight, 2), (pb, eight, 1), (pb, ten, 1)])
    stays = stays_from_presence(presence, max_gap_minutes=90)
    by_bin = metrics.to_cut(metrics.stay_minutes_by_bin(stays), 9, 60)
    # Person 1: A 08:00-08:30 (30), B 08:30-10:15 (30 in the 08 hour, 60 in 09, 15 in 10); person 2: A 15.
    assert _collect(metrics.dwell_minutes(by_bin), "h3_cell", "bin_start", "value") == sorted(
        [(pa_, eight, 45), (pb, eight, 30), (pb, utc(9, 0).replace(tzinfo=None), 60), (pb, ten, 15)])
    trips = metrics.trips_to_cut(trips_from_stays(stays), 9, 1440)
    ((o, d, b, v),) = _collect(metrics.od_trips(trips), "origin_h3", "destination_h3", "bin_start", "value")
    assert (o, d, v) == (pa_, pb, 1)
    assert b == dt.datetime(2026, 3, 1, 23, 0)  # local midnight of 2 March
    camera = spark.createDataFrame([(IA, utc(8, 0), 5), (IA, utc(8, 15), 7), (IB, utc(8, 0), 1)],
                                   "h3_cell long, bin_start timestamp, count_in long")
    assert _collect(metrics.camera_count(metrics.to_cut(camera, 9, 60)), "h3_cell", "value") == sorted(
        [(pa_, 12), (pb, 1)])


def test_anchors_and_segments(spark):
    home_in, work_in = IA, IB
    outside = cell_to_int(h3.latlng_to_cell(55.80, 12.30, 10))
    rows = []
    for d in range(5):  # five weekdays, Mon 2 March to Fri 6 March
        day = DAY + dt.timedelta(days=d)
        for person, home, work, mcc in [(1, home_in, work_in, "238"), (2, outside, work_in, "238"),
                                        (3, outside, outside, "238"), (4, home_in, home_in, "240")]:
            rows += [(person, "telco", day, utc(23, 0, day), home, mcc, 1, 3),     # 00:00 local: night
                     (person, "telco", day, utc(10, 0, day), work, mcc, 1, 2)]     # 11:00 local: work
    presence = spark.createDataFrame(rows, "pseudo_id long, source string, event_date date, bin_start timestamp, "
                                           "h3_cell long, home_mcc string, key_period int, events long")
    last = DAY + dt.timedelta(days=4)
    area = [cell_to_int(h3.cell_to_parent(c, 9)) for c in (A, B)]
    got = {r.pseudo_id: r for r in anchors_for_day(spark, presence, last, area=area).collect()}
    assert {p: got[p].segment for p in got} == {1: "resident", 2: "commuter", 3: "visitor", 4: "tourist"}
    assert got[4].country == "SE" and got[1].country == "DK"
    assert got[1].home_cell == home_in and got[1].work_cell == work_in and got[1].nights == 5
    assert mcc_countries()["262"] == "DE"


def test_anchor_window_never_crosses_a_key_rotation():
    from jobs.ingest.pseudonym import key_period

    day = dt.date(2026, 3, 9)   # two days after a rotation
    start = window_start(day)
    assert key_period(start) == key_period(day)
    assert (day - start).days < 13
    assert window_start(dt.date(2026, 3, 30)) == dt.date(2026, 3, 17)
