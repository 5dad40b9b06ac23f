"""``cde evaluate`` prints exact figures, so it runs only on a lake the simulator made (its marker), and says
so before Spark starts anywhere else."""

from __future__ import annotations

import pytest

from jobs import cli
from jobs.common import paths
from jobs.errors import NotSimulated
from jobs.evaluate import require_simulated_lake


def test_a_lake_without_the_simulators_marker_is_refused_before_spark(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CDE_LAKE", str(tmp_path / "lake"))
    monkeypatch.setattr(cli, "get_spark", lambda *a, **k: pytest.fail("Spark started for a refused evaluation"))
    assert cli.main(["evaluate", "20260302-20260303-v2.0.0-252eccac"]) == 1
    err = capsys.readouterr().err
    assert "not made by the simulator" in err and "simulation/run.json" in err
    with pytest.raises(NotSimulated):
        require_simulated_lake()


def test_the_simulators_marker_lets_the_evaluation_look_for_the_delivery(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CDE_LAKE", str(tmp_path / "lake"))
    marker = paths.simulation(paths.SIMULATION_MARKER)
    marker.parent.mkdir(parents=True)
    marker.write_text('{"seed": 7, "people": 10, "start": "2026-03-02", "days": 1, "feeds": ["telco"]}')
    assert paths.is_simulated_lake()
    monkeypatch.setattr(cli, "get_spark", lambda *a, **k: pytest.fail("Spark started for a missing delivery"))
    assert cli.main(["evaluate", "no-such-delivery"]) == 1
    assert "no delivery 'no-such-delivery'" in capsys.readouterr().err
