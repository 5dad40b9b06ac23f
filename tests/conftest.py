"""Shared fixtures: one SparkSession for the whole test session, and a fresh lake per test module."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

# Set before any job module reads them; each module still gets its own lake (see `lake_root`).
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("CDE_SHUFFLE_PARTITIONS", "4")
os.environ.setdefault("CDE_PSEUDONYM_KEY", "test-master-key-not-secret")
# Airflow reads its home when first imported: give the test session its own, away from the user's.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="cde-tests-airflow-"))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


@pytest.fixture(scope="session")
def spark():
    """The one local SparkSession (local[2], UTC, small shuffles, UI off)."""
    from jobs.common.spark import get_spark

    session = get_spark("cde-tests", master="local[2]")
    yield session
    session.stop()


@pytest.fixture
def lake_root(tmp_path, monkeypatch):
    """An empty lake for one test; `CDE_LAKE` points at it."""
    root = tmp_path / "lake"
    root.mkdir()
    monkeypatch.setenv("CDE_LAKE", str(root))
    return root
