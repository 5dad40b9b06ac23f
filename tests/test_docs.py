"""The documentation lives in the repository and stays true: generated pages current, links that resolve, a
front page that stays a front page, and no design kept outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobs import reference

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("name", sorted(reference.PAGES))
def test_every_generated_page_is_current(name):
    page = ROOT / "docs" / "reference" / name
    assert page.exists(), f"docs/reference/{name} is missing: run `make docs`"
    assert page.read_text() == reference.pages()[name], f"docs/reference/{name} is stale: run `make docs`"


def test_the_check_notices_a_stale_page(tmp_path, monkeypatch):
    monkeypatch.setattr(reference, "REFERENCE", tmp_path)
    assert reference.main([]) == 0 and reference.main(["--check"]) == 0
    (tmp_path / "formats.md").write_text("an edit by hand\n")
    assert reference.main(["--check"]) == 1


def test_the_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines: move the detail to docs/"
    for guide in ("docs/architecture.md", "docs/buyers.md", "docs/privacy-officers.md", "docs/operations.md",
                  "docs/extending.md"):
        assert guide in "\n".join(lines), guide


def test_every_relative_link_resolves():
    broken = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert broken == []


def test_anchors_within_the_architecture_page_exist():
    text = (ROOT / "docs" / "architecture.md").read_text()
    headings = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", text, re.M)}
    linked = set()
    for doc in DOCS:
        linked |= set(re.findall(r"architecture\.md#([a-z0-9-]+)", doc.read_text()))
        if doc.name == "architecture.md":
            linked |= set(re.findall(r"\]\(#([a-z0-9-]+)\)", doc.read_text()))
    assert linked - headings == set()


def test_no_file_points_outside_the_repository_for_its_design():
    outside = []
    for path in [*ROOT.glob("*.md"), *(ROOT / "docs").rglob("*.md"), *(ROOT / "jobs").rglob("*.py"),
                 *(ROOT / "dags").glob("*.py"), *(ROOT / "tests").rglob("*.py"), *(ROOT / "bench").glob("*"),
                 ROOT / "Makefile", *(ROOT / "contracts").rglob("*.yaml")]:
        if not path.is_file() or path == Path(__file__):
            continue
        text = path.read_text(errors="replace")
        if re.search(r"DESIGN\.md|\.\./shared/|shared/DESIGN", text):
            outside.append(str(path.relative_to(ROOT)))
    assert outside == []
