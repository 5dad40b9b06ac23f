"""H3 bit arithmetic in Spark equals the h3 library; local bins follow Copenhagen's daylight saving."""

from __future__ import annotations

import datetime as dt
import random

import h3
import pytest

from jobs.common.h3cells import cell_to_int, hex_column, int_to_cell, parent_column, polygon_cells
from jobs.common.timebins import day_bins, local_iso


@pytest.mark.spark
def test_parent_column_matches_h3(spark):
    from pyspark.sql import functions as F

    rnd = random.Random(3)
    cells = [h3.latlng_to_cell(55.6 + rnd.random() * 0.2, 12.4 + rnd.random() * 0.3, 10) for _ in range(200)]
    df = spark.createDataFrame([(cell_to_int(c),) for c in cells], "cell long")
    for res in (0, 5, 7, 8, 9, 10):
        got = [int_to_cell(r.p) for r in df.select(parent_column(F.col("cell"), res).alias("p")).collect()]
        assert got == [h3.cell_to_parent(c, res) for c in cells]
    hexes = [r.h for r in df.select(hex_column(F.col("cell")).alias("h")).collect()]
    assert hexes == cells


def test_polygon_cells_cover_the_area():
    square = {"type": "Polygon", "coordinates": [[[12.55, 55.67], [12.60, 55.67], [12.60, 55.69],
                                                  [12.55, 55.69], [12.55, 55.67]]]}
    cells = polygon_cells(square, 9)
    # About 6.9 km2 in cells of about 0.105 km2, each with its centre inside the square.
    assert 55 < len(cells) < 90
    assert all(h3.get_resolution(c) == 9 for c in cells)
    for cell in cells:
        lat, lon = h3.cell_to_latlng(cell)
        assert 12.55 <= lon <= 12.60 and 55.67 <= lat <= 55.69


def test_daylight_saving_days_have_23_and_25_hourly_bins():
    assert len(day_bins(dt.date(2026, 3, 29), 60)) == 23
    assert len(day_bins(dt.date(2026, 10, 25), 60)) == 25
    assert len(day_bins(dt.date(2026, 3, 2), 60)) == 24
    assert len(day_bins(dt.date(2026, 3, 2), 15)) == 96
    autumn = [local_iso(b) for b in day_bins(dt.date(2026, 10, 25), 60)]
    # The repeated hour stays distinct through its offset.
    assert "2026-10-25T02:00:00+02:00" in autumn and "2026-10-25T02:00:00+01:00" in autumn
    assert len(set(autumn)) == 25
