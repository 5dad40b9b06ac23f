"""The measure registry: discovered from modules, agreeing with the contract schema, light at import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from jobs.common import settings
from jobs.privacy.measures import get_measure, measures
from jobs.privacy.measures.segments import SEGMENT_COLUMNS

TERMS = json.loads((settings.REPO_ROOT / "contracts" / "schema" / "terms.schema.json").read_text())["properties"]


def test_every_measure_is_in_the_schema_and_every_schema_metric_is_releasable_or_refused():
    enum = set(TERMS["metrics"]["items"]["enum"])
    assert set(measures()) <= enum
    # a schema metric without a measure must be refused by validation, never reach a publish DAG
    from jobs.privacy.feasibility import measure_errors

    for metric in enum - set(measures()):
        terms = {"metrics": [metric], "sources": ["telco"], "segments": []}
        assert any("has no release" in e for e in measure_errors(terms, 0.0, "x.yaml")), metric


def test_every_bound_property_is_in_the_schema_and_segments_are_known():
    for measure in measures().values():
        for name in measure.bound_properties():
            assert name in TERMS, f"{measure.name}: bound {name} missing from terms.schema.json"
        assert set(measure.segments) <= set(SEGMENT_COLUMNS)
    assert set(TERMS["segments"]["items"]["enum"]) == set(SEGMENT_COLUMNS)


def test_the_schemas_bounds_and_defaults_are_the_measures():
    # contracts (below privacy) fill a contract's bounds from the schema: it must say what the measures say
    from jobs.contracts import bound_properties
    from jobs.privacy.measures import bound_defaults

    assert bound_properties() == bound_defaults()


def test_feed_enum_agrees_with_the_feed_registry():
    from jobs.ingest.feeds import FEEDS

    assert set(TERMS["sources"]["items"]["enum"]) == set(FEEDS)


def test_unknown_metric_is_a_refusal():
    from jobs.errors import Refusal

    with pytest.raises(Refusal, match="no release"):
        get_measure("heat_index")


def test_registries_import_without_spark_pandas_or_arrow():
    # contract validation (run by the DAG processor at parse time) plans releases too: it stays as light
    code = ("import sys, jobs.privacy.measures as m, jobs.ingest.feeds as f; m.measures(); "
            "from jobs.publish.portfolio import load_contracts; assert load_contracts()[0]; "
            "print([x for x in ('pyspark', 'pandas', 'pyarrow', 'deltalake', 'diffprivlib') if x in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
