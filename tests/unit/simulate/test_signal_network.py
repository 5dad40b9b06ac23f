"""The simulated network by received signal (issue 35): phones are served as a network serves them (path loss,
antenna pattern, shadowing fixed per place, handover hysteresis), not by the pipeline's placement rule."""

from __future__ import annotations

import numpy as np

from jobs.simulate.towers import ServingCell, SignalServing, make_towers

TOWERS = make_towers(7)


def _site(index: int = 200):
    site = TOWERS.drop_duplicates("site_id").iloc[index]
    return site, TOWERS[TOWERS["site_id"] == site["site_id"]]


def test_a_phone_near_a_site_is_mostly_served_by_the_sector_facing_it():
    site, cells = _site()
    rng = np.random.default_rng(1)
    x = site["x"] + rng.uniform(-40, 40, 500)
    y = site["y"] + 120 + rng.uniform(-20, 20, 500)  # north of the site, in the azimuth-0 sector's beam
    served = SignalServing(TOWERS, 7).cells(x, y)
    north = cells[cells["azimuth_deg"] == 0.0]["cell_id"].iloc[0]
    assert (served == north).mean() > 0.9


def test_shadowing_is_fixed_per_place_and_seed():
    rng = np.random.default_rng(2)
    x, y = rng.uniform(-5_000, 5_000, 2_000), rng.uniform(-5_000, 5_000, 2_000)
    network = SignalServing(TOWERS, 7)
    assert (network.cells(x, y) == network.cells(x, y)).all()
    assert (network.cells(x, y) == SignalServing(TOWERS, 7).cells(x, y)).all()
    assert (network.cells(x, y) != SignalServing(TOWERS, 8).cells(x, y)).any()
    differs = (network.cells(x, y) != ServingCell(TOWERS).cells(x, y)).mean()
    assert 0.1 < differs < 0.9  # a different rule from the nearest site's facing sector, but a related one


def test_hysteresis_keeps_a_phone_on_its_cell_at_a_boundary():
    network = SignalServing(TOWERS, 7)
    site, _ = _site()
    neighbour = TOWERS.drop_duplicates("site_id").iloc[201]
    share = np.linspace(0.1, 0.9, 4_001)  # away from the sites, where a bearing jumps
    line_x = site["x"] + (neighbour["x"] - site["x"]) * share
    line_y = site["y"] + (neighbour["y"] - site["y"]) * share
    free_line = network.cells(line_x, line_y)
    # a boundary between two cells: the shadowing is continuous, so two cells are about as strong there
    switches = np.flatnonzero(free_line[1:] != free_line[:-1])
    assert len(switches)
    i = switches[0]
    x, y = np.resize(line_x[[i, i + 1]], 200), np.resize(line_y[[i, i + 1]], 200)  # a phone stepping across it
    person, seconds = np.zeros(len(x), "int64"), np.arange(len(x)) * 10.0
    free = network.cells(x, y)
    held = network.cells(x, y, person, seconds)
    assert (free[1:] != free[:-1]).sum() == 199  # without memory: a handover at every step
    assert (held[1:] != held[:-1]).sum() == 0  # with hysteresis: it stays on its first cell
    assert held[0] == free[0]
