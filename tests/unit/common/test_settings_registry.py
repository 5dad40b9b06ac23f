"""Every ``CDE_*`` variable is registered, read and checked in ``jobs/common/settings.py`` only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from jobs.common import settings

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [*sorted((ROOT / "jobs").rglob("*.py")), *sorted((ROOT / "dags").glob("*.py"))]


def _reads(tree: ast.AST) -> list[str]:
    """``CDE_*`` names read through ``os.environ.get``, ``os.getenv`` or ``os.environ[...]``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("os.environ.get", "os.getenv", "environ.get"):
            found += [a.value for a in node.args[:1] if isinstance(a, ast.Constant) and str(a.value).startswith("CDE_")]
        subscript = isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
        if subscript and ast.unparse(node.value) == "os.environ" and isinstance(node.slice, ast.Constant):
            if str(node.slice.value).startswith("CDE_"):
                found.append(node.slice.value)
    return found


def test_nothing_but_settings_reads_a_cde_variable():
    readers = {str(p.relative_to(ROOT)): _reads(ast.parse(p.read_text())) for p in SOURCES
               if p.name != "settings.py"}
    assert {path: names for path, names in readers.items() if names} == {}
    # the check finds a planted read
    assert _reads(ast.parse("import os\nx = os.environ.get('CDE_LAKE')\ny = os.environ['CDE_SECRETS']")) == [
        "CDE_LAKE", "CDE_SECRETS"]


def test_every_cde_name_in_the_code_and_the_makefile_is_registered():
    named = set()
    for path in [*SOURCES, ROOT / "Makefile"]:
        named |= set(re.findall(r"\bCDE_[A-Z][A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    assert named - set(settings.REGISTRY) == set()
    assert {"CDE_CONTRACTS", "CDE_LAKE", "CDE_PSEUDONYM_KEY"} <= set(settings.REGISTRY)


def test_a_bad_value_is_refused_naming_the_variable(monkeypatch):
    for name, text in (("CDE_SHUFFLE_PARTITIONS", "many"), ("CDE_GLOBAL_EPSILON_CAP", "61"),
                       ("CDE_FILE_MODE", "0644"), ("CDE_WEBHOOK_ALLOW_LOCAL", "yes")):
        monkeypatch.setenv(name, text)
        with pytest.raises(ValueError, match=name):
            settings.setting(name)


def test_a_secret_is_never_echoed(monkeypatch):
    monkeypatch.setattr(settings, "REGISTRY", {**settings.REGISTRY, "CDE_PSEUDONYM_KEY": settings.Setting(
        "CDE_PSEUDONYM_KEY", None, "keys", "test", parse=lambda t: int(t), secret=True)})
    monkeypatch.setenv("CDE_PSEUDONYM_KEY", "top-secret-value")
    with pytest.raises(ValueError) as refused:
        settings.setting("CDE_PSEUDONYM_KEY")
    assert "top-secret-value" not in str(refused.value) and "(secret)" in str(refused.value)


def test_values_are_read_when_asked_with_their_defaults(monkeypatch):
    monkeypatch.delenv("CDE_SPARK_MASTER", raising=False)
    assert settings.setting("CDE_SPARK_MASTER") == "local[*]"
    monkeypatch.setenv("CDE_ALERT_EMAIL", " a@x.example, ,b@y.example")
    assert settings.setting("CDE_ALERT_EMAIL") == ["a@x.example", "b@y.example"]
    monkeypatch.setenv("CDE_SPARK_POOL_SLOTS", "3")
    assert settings.setting("CDE_SPARK_POOL_SLOTS") == 3


def test_every_place_the_code_names_under_ops_is_listed():
    from jobs.common import paths

    named = set()
    for path in SOURCES:
        named |= set(re.findall(r'ops_file\("([^"]+)"\)', path.read_text()))
    listed = {p.pattern.removeprefix("ops/").rstrip("/") for p in paths.LAKE_PATHS if p.pattern.startswith("ops/")}
    assert named and named - listed == set()
