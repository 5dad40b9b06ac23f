"""Cell footprints (issue 35): weights over resolution-10 tiles from the network topology, by the documented
propagation model, stored per feed and day in ``silver/cell_footprints``."""

from __future__ import annotations

import datetime as dt
import math

import h3
import numpy as np
import pandas as pd
import pytest

from jobs.ingest.footprints import (
    MODEL,
    cell_dominance,
    dominance,
    footprint_cells,
    footprints,
    signal_dbm,
    supported_resolution,
)

SITE = (55.6761, 12.5683)


def _cells(*rows):
    return pd.DataFrame(rows, columns=["cell_id", "latitude", "longitude", "azimuth", "beam_width", "range_m"])


def _offset(tile: int) -> tuple[float, float]:
    """North and east metres of a tile's centre from the site."""
    lat, lon = h3.cell_to_latlng(h3.int_to_str(int(tile)))
    return (lat - SITE[0]) * 110_540.0, (lon - SITE[1]) * 111_320.0 * math.cos(math.radians(SITE[0]))


def test_the_signal_crosses_the_edge_level_at_the_stated_range_and_falls_off_the_beam():
    at_range = signal_dbm(np.array([500.0]), np.array([0.0]), 500.0, 120.0)
    assert at_range[0] == pytest.approx(MODEL.edge_dbm) and dominance(at_range)[0] == pytest.approx(0.5)
    half_beam = signal_dbm(np.array([500.0]), np.array([60.0]), 500.0, 120.0)
    assert at_range[0] - half_beam[0] == pytest.approx(3.0)  # 3 dB down at half the beam width
    behind = signal_dbm(np.array([500.0]), np.array([180.0]), 500.0, 120.0)
    assert at_range[0] - behind[0] == pytest.approx(MODEL.front_to_back_db)  # the pattern's floor
    assert signal_dbm(np.array([250.0]), np.array([0.0]), 500.0, 120.0)[0] > at_range[0]


def test_a_footprint_sums_to_one_and_lies_in_front_of_its_sector():
    fp = footprints(_cells(("north", *SITE, 0.0, 120.0, 500.0), ("south", *SITE, 180.0, 120.0, 500.0)))
    sums = fp.groupby("cell_id")["weight"].sum()
    assert sums.to_numpy() == pytest.approx([1.0, 1.0])
    for cell, sign in (("north", 1), ("south", -1)):
        part = fp[fp["cell_id"] == cell]
        north = np.array([_offset(t)[0] for t in part["h3_cell"]])
        assert (part["weight"] * north * sign).sum() > 150  # the weight's centre lies ahead of the antenna
        assert max(math.hypot(*_offset(t)) for t in part["h3_cell"]) <= MODEL.max_range_factor * 500 + 150


def test_a_tile_reached_by_two_cells_is_shared_by_their_dominance():
    cells = _cells(("a", *SITE, math.nan, math.nan, 300.0), ("b", SITE[0] + 0.004, SITE[1], math.nan, math.nan, 300.0))
    dom = cell_dominance(cells)
    fp = footprints(cells)
    site_tile = h3.str_to_int(h3.latlng_to_cell(*SITE, 10))
    a_weight = fp[(fp["cell_id"] == "a") & (fp["h3_cell"] == site_tile)]["weight"].iloc[0]
    b_weight = fp[(fp["cell_id"] == "b") & (fp["h3_cell"] == site_tile)]["weight"]
    assert a_weight > (b_weight.iloc[0] if len(b_weight) else 0)  # a's own site is more a's than b's
    assert dom["dominance"].min() >= MODEL.min_dominance


def test_the_supported_resolution_follows_the_size_of_the_cells():
    small = footprints(_cells(("pico", *SITE, math.nan, math.nan, 60.0)))
    large = footprints(_cells(("macro", *SITE, math.nan, math.nan, 3_000.0)))
    assert footprint_cells(small, 10).iloc[0] < footprint_cells(large, 10).iloc[0]
    assert supported_resolution(small) >= 9 and supported_resolution(large) <= 7


def test_cde_footprints_stores_a_day_per_feed_and_replaces_it_on_rerun(lake_root):
    from deltalake import DeltaTable

    from jobs.common import tables
    from jobs.ingest.footprints import build_footprints

    reference = lake_root / "landing" / "reference"
    reference.mkdir(parents=True)
    (reference / "towers.csv").write_text("cell_id,site_id,lat,lon,azimuth_deg,beamwidth_deg,range_m\n"
                                          "c1,S1,55.6761,12.5683,0,120,400\nc2,S1,55.6761,12.5683,120,120,400\n"
                                          "c3,S1,55.6761,12.5683,240,120,400\n")
    day = dt.date(2026, 3, 2)
    first = build_footprints("telco", day)
    again = build_footprints("telco", day)
    other = build_footprints("telco", day + dt.timedelta(days=1))
    stored = DeltaTable(str(tables.CELL_FOOTPRINTS.path())).to_pandas()
    assert first["cells"] == 3 and len(stored) == first["rows"] + other["rows"]  # the rerun replaced its day
    assert again["version"] > first["version"]
    sums = stored.groupby(["valid_date", "cell_id"])["weight"].sum()
    assert np.allclose(sums.to_numpy(), 1.0) and len(sums) == 6
    assert set(first["median_cells"]) == {6, 7, 8, 9, 10} and 6 <= first["supported_resolution"] <= 10
    size = tables.footprint_size("telco", day + dt.timedelta(days=5), 9)  # the latest day on or before
    assert size["valid_date"] == "2026-03-03" and size["median_cells"] == other["median_cells"][9]
    assert tables.footprint_size("telco", day - dt.timedelta(days=1), 9) is None
    assert tables.footprint_size("mno", day, 9) is None
