"""One bad file stays one bad file: hostile contract files and the files they name are refused by name and
field, the valid contracts stay in force, and nothing outside the contracts folder is read."""

from __future__ import annotations

import os
import signal

import pytest
import yaml

from jobs.common import settings
from jobs.publish.portfolio import find_contract, load_contracts

CONTRACTS = settings.REPO_ROOT / "contracts"
# ``folder``, a copy of the example contracts, is the fixture of test_sharing.py (shared through conftest.py)


@pytest.fixture(autouse=True)
def no_hang():
    """A FIFO read would block for ever: fail the test after 60 s instead of hanging CI."""
    def stop(*_):
        raise TimeoutError("contract loading hung")
    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _with_area(folder, cid: str, area) -> None:
    doc = yaml.safe_load((folder / "kk-inner-city-presence.yaml").read_text())
    doc["id"] = cid
    for item in doc["customProperties"]:
        if item["property"] == "area":
            item["value"] = area
    (folder / f"{cid}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def test_hostile_area_files_are_refused_by_name_and_the_others_load(folder, tmp_path):
    (folder / "areas").mkdir()  # files beside the contracts (the examples' areas are the region's)
    (folder / "areas" / "a-folder.geojson").mkdir()
    (folder / "areas" / "binary.geojson").write_bytes(bytes(range(256)) * 4)
    (folder / "areas" / "list.geojson").write_text("[1, 2, 3]")
    os.mkfifo(folder / "areas" / "fifo.geojson")
    outside = tmp_path / "secret.geojson"
    outside.write_text('{"type": "Polygon", "coordinates": [[[12.5, 55.6], [12.6, 55.6], [12.6, 55.7], [12.5, 55.6]]]}')
    (folder / "areas" / "link.geojson").symlink_to(outside)
    cases = {"area-folder": "areas/a-folder.geojson", "area-binary": "areas/binary.geojson",
             "area-list": "areas/list.geojson", "area-fifo": "areas/fifo.geojson",
             "area-passwd": "../../../../etc/passwd", "area-absolute": "/etc/passwd",
             "area-link": "areas/link.geojson", "area-inline-list": [1, 2]}
    for cid, area in cases.items():
        _with_area(folder, cid, area)
    valid, invalid = load_contracts(folder)
    assert {"kk-inner-city-presence", "movia-od-market", "metro-od-market"} <= set(valid)
    for cid in cases:
        (line,) = [e for e in invalid[f"{cid}.yaml"] if "customProperties.area" in e]
        assert line.startswith(f"{cid}.yaml: customProperties.area:")
    says = {cid: " ".join(invalid[f"{cid}.yaml"]) for cid in cases}
    assert "a folder" in says["area-folder"] and "not a regular file" in says["area-fifo"]
    assert "not JSON" in says["area-binary"] and "not list" in says["area-list"]
    assert "outside the contracts folder" in says["area-passwd"] and "outside" in says["area-absolute"]
    assert "leads outside the contracts folder" in says["area-link"]
    assert find_contract("kk-inner-city-presence", folder).id == "kk-inner-city-presence"


def test_hostile_contract_files_are_refused_by_name(folder):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9))
    (folder / "bomb.yaml").write_text(bomb)
    (folder / "deep.yaml").write_text("a: " + "[" * 200 + "]" * 200 + "\n")
    (folder / "binary.yaml").write_bytes(b"\xff\xfe\x00\x01" * 64)
    (folder / "folder.yaml").mkdir()
    os.mkfifo(folder / "fifo.yaml")
    (folder / "huge.yaml").write_text("# " + "x" * (2 << 20))
    (folder / "list.yaml").write_text("- 1\n- 2\n")
    valid, invalid = load_contracts(folder)
    assert "kk-inner-city-presence" in valid and "retail-stroget-footfall" in valid
    assert "alias bomb" in invalid["bomb.yaml"][0] and "nested deeper" in invalid["deep.yaml"][0]
    assert "UTF-8" in invalid["binary.yaml"][0] and "a folder" in invalid["folder.yaml"][0]
    assert "not a regular file" in invalid["fifo.yaml"][0] and "more than" in invalid["huge.yaml"][0]
    assert invalid["list.yaml"] and all(line.startswith("list.yaml: ") for line in invalid["list.yaml"])


def test_a_contract_with_ordinary_aliases_still_loads(folder):
    """PyYAML writes an alias for a value used twice: that is YAML, and a contract may hold it."""
    doc = yaml.safe_load((folder / "kk-inner-city-presence.yaml").read_text())
    shared = {"property": "buyer", "value": "kobenhavns-kommune"}
    doc["customProperties"] = [t for t in doc["customProperties"] if t["property"] != "buyer"] + [shared]
    doc["description"]["shared"] = shared
    text = yaml.safe_dump(doc, sort_keys=False)
    assert "&id001" in text and "*id001" in text
    (folder / "kk-inner-city-presence.yaml").write_text(text)
    valid, invalid = load_contracts(folder)
    assert "kk-inner-city-presence.yaml" not in invalid and "kk-inner-city-presence" in valid
