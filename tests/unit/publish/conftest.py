"""Fixtures of the publish unit tests: a small product, as a delivery writes it, without Spark."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from jobs.common.columns import arrow_schema, product_columns
from jobs.publish.formats import Product

CELLS = ["891f05314b3ffff", "891f0531483ffff", "891f05314a7ffff"]


def sample_product(od: bool = False) -> Product:
    """Three rows of a cell (or OD) product over the spring-forward night, the middle one suppressed."""
    columns = product_columns(od)
    places = ({"origin_h3": [CELLS[0], CELLS[1], CELLS[2]], "destination_h3": [CELLS[1], CELLS[1], CELLS[0]]}
              if od else {"h3_cell": CELLS})
    frame = pd.DataFrame({
        **places, "bin_start": ["2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00",
                                "2026-03-29T03:15:00+02:00"],
        "bin_minutes": [15, 15, 15], "metric": ["od_trips" if od else "footfall"] * 3,
        "value": pd.array([120, None, 87], dtype="Int64"), "ci95_half_width": pd.array([30, None, 30], dtype="Int64"),
        "ci95_low": pd.array([85, None, 40], dtype="Int64"), "ci95_high": pd.array([150, None, 117], dtype="Int64"),
        "estimate": pd.array([118, None, 85], dtype="Int64"),
        "estimate_ci95_half_width": pd.array([25, None, 25], dtype="Int64"), "suppressed": [False, True, False],
    })[columns]
    return Product(pa.Table.from_pandas(frame, schema=arrow_schema(columns), preserve_index=False), frame)


@pytest.fixture
def make_product():
    """``make_product(od=False)``: the sample product (cells, or origin-destination pairs)."""
    return sample_product


@pytest.fixture
def folder(tmp_path):
    """A copy of the example contracts (with their areas), to add contracts to."""
    import shutil

    from jobs.common import settings

    target = tmp_path / "contracts"
    shutil.copytree(settings.REPO_ROOT / "contracts", target)
    return target
