"""Airflow fixtures: a migrated SQLite metadata database in the test session's own AIRFLOW_HOME."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="session")
def airflow_db():
    """Run ``airflow db migrate`` once for the session (SQLite in the temporary AIRFLOW_HOME)."""
    from jobs.airflow.standalone import ensure_airflow_db

    ensure_airflow_db(dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"))
    return os.environ["AIRFLOW_HOME"]


@pytest.fixture(scope="session")
def dagbag():
    """The project's DagBag, parsed once."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))
