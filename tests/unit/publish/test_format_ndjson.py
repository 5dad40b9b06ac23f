"""``ndjson``: one JSON object per row, read back by a streaming reader as the same rows and types."""

from __future__ import annotations

import json

import pandas as pd

from jobs.publish.formats import write_files


def test_each_line_is_a_row_with_typed_values(tmp_path, make_product):
    product = make_product()
    assert write_files(product, tmp_path, ("ndjson",)) == [("data.ndjson", 3)]
    lines = (tmp_path / "data.ndjson").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) == 4  # every row ends with a newline, nothing else
    rows = [json.loads(line) for line in lines[:-1]]
    assert [list(r) for r in rows] == [product.columns] * 3
    assert rows[0]["value"] == 120 and isinstance(rows[0]["bin_minutes"], int)
    assert rows[1]["value"] is None and rows[1]["suppressed"] is True
    assert pd.read_json(tmp_path / "data.ndjson", lines=True)["h3_cell"].tolist() == list(product.frame["h3_cell"])
