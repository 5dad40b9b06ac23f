"""Regions as configuration (issue 35): the region file gives the time zone and bounds, ``cde regions add``
writes one (western longitudes included), and a process in another region keeps its local days there."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from jobs.common import settings
from jobs.common.regions import RegionError, check_time_zone, load_region, parse_bbox, write_region


def test_copenhagen_is_the_default_and_settings_follow_its_file():
    region = load_region("copenhagen")
    assert (settings.REGION.name, settings.LOCAL_TZ_NAME, settings.REGION_BBOX) == (
        "copenhagen", region.time_zone, region.bbox)
    assert (region.areas_dir / "indre-by.geojson").is_file() and region.home_area


@pytest.mark.parametrize(("text", "problem"), [
    ("1,2,3", "four numbers"), ("a,b,c,d", "four numbers"), ("12.75,55.55,12.3,55.8", "west must be below east"),
    ("12.3,55.8,12.75,55.55", "south below north"), ("190,0,191,1", "-180..180")])
def test_a_bad_box_is_refused_saying_why(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_bbox(text)


def test_time_zones_must_be_known_and_on_whole_hours():
    assert check_time_zone("America/Santiago") == "America/Santiago"
    with pytest.raises(ValueError, match="not an IANA time zone"):
        check_time_zone("Mars/Olympus")
    with pytest.raises(ValueError, match=r"\+05:30 is not a whole number of hours"):
        check_time_zone("Asia/Kolkata")


@pytest.mark.parametrize("style", ["--bbox=-3.95,40.25,-3.5,40.6", "--bbox -3.95,40.25,-3.5,40.6"])
def test_cde_regions_add_takes_a_western_box_with_or_without_the_equals_sign(tmp_path, monkeypatch, capsys, style):
    from jobs.cli import main

    monkeypatch.setenv("CDE_REGIONS", str(tmp_path))
    assert main(["regions", "add", "madrid", "--time-zone", "Europe/Madrid", *style.split(" "), "--domestic-mcc", "214"]) == 0
    region = load_region("madrid", tmp_path)
    assert region.bbox == (-3.95, 40.25, -3.5, 40.6) and region.time_zone == "Europe/Madrid"
    assert region.domestic_mcc == ("214",)
    assert (tmp_path / "madrid" / "areas").is_dir()
    assert main(["regions", "add", "madrid", "--time-zone", "Europe/Madrid", "--bbox=0,0,1,1"]) == 2
    assert "exists already" in capsys.readouterr().err


def test_a_boundary_must_lie_inside_the_box(tmp_path):
    polygon = {"type": "Polygon", "coordinates": [[[10.0, 56.0], [10.4, 56.0], [10.4, 56.3], [10.0, 56.0]]]}
    (tmp_path / "b.geojson").write_text(json.dumps(polygon))
    with pytest.raises(RegionError, match="reaches outside the bbox"):
        write_region("aarhus", "Europe/Copenhagen", "10.0,56.0,10.3,56.3", tmp_path / "b.geojson", root=tmp_path)
    region = write_region("aarhus", "Europe/Copenhagen", "10.0,56.0,10.5,56.3", tmp_path / "b.geojson",
                          root=tmp_path)
    assert region.boundary == polygon


def test_a_process_in_another_region_keeps_its_local_days_there(tmp_path):
    write_region("new-york", "America/New_York", "-74.3,40.45,-73.65,40.95", root=tmp_path)
    script = ("import datetime as dt\n"
              "from jobs.common import settings, timebins\n"
              "start, end = timebins.day_bounds(dt.date(2026, 3, 8))\n"  # the spring-forward day there
              "print(settings.LOCAL_TZ_NAME, start.isoformat(), (end - start).total_seconds() / 3600)\n")
    env = dict(os.environ, CDE_REGIONS=str(tmp_path), CDE_REGION="new-york")
    ran = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["America/New_York", "2026-03-08T05:00:00+00:00", "23.0"]


def test_an_unknown_region_is_named_with_the_known_ones(tmp_path):
    env = dict(os.environ, CDE_REGION="atlantis")
    ran = subprocess.run([sys.executable, "-c", "import jobs.common.settings"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert ran.returncode != 0 and "no region 'atlantis'" in ran.stderr and "known: copenhagen" in ran.stderr


def test_nothing_in_jobs_names_copenhagen_but_the_default_regions_name():
    from jobs.common import settings

    named = [str(p.relative_to(settings.REPO_ROOT)) for p in (settings.REPO_ROOT / "jobs").rglob("*")
             if p.is_file() and p.suffix in (".py", ".j2", ".properties", ".json", ".yaml")
             and "copenhagen" in p.read_text(encoding="utf-8").lower()]
    assert named == ["jobs/common/regions.py"]  # DEFAULT_REGION and its docstring example
