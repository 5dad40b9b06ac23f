"""The delivery format registry: discovered from modules, agreeing with the contract schema, each format
writing a file whose rows it counts back and whose Frictionless resource validates."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from jobs.common import settings
from jobs.publish.formats import by_file_name, formats, get_format, write_files

TERMS = json.loads((settings.REPO_ROOT / "contracts" / "schema" / "terms.schema.json").read_text())["properties"]
def test_the_schema_enum_is_the_registry():
    assert TERMS["formats"]["items"]["enum"] == list(formats())


def test_modules_name_their_formats_and_files_are_unique():
    names = [f.file_name for f in formats().values()]
    assert len(set(names)) == len(names)
    for name, fmt in formats().items():
        assert get_format(name) is fmt and by_file_name(fmt.file_name) is fmt
    with pytest.raises(KeyError, match="no delivery format 'xlsx'"):
        get_format("xlsx")


@pytest.mark.parametrize("od", [False, True], ids=["cells", "od"])
@pytest.mark.parametrize("name", list(formats()))
def test_every_format_writes_counts_and_describes_its_file(tmp_path, make_product, name, od):
    from frictionless import Package

    product, fmt = make_product(od), get_format(name)
    written = write_files(product, tmp_path, (name,))
    assert written == [(fmt.file_name, 3)]
    path = tmp_path / fmt.file_name
    assert fmt.count_rows(path) == 3
    resource = {"name": fmt.file_name.replace(".", "-").replace("_", "-"), "path": fmt.file_name,
                "format": fmt.frictionless_format, **fmt.describe(product.columns)}
    assert resource["mediatype"] == fmt.mediatype and fmt.summary
    if "schema" in resource:
        fields = [f["name"] for f in resource["schema"]["fields"]]
        assert fields == fmt.columns(product.columns)
        assert all(f["description"] for f in resource["schema"]["fields"])
    if fmt.frictionless_format == "csv":  # frictionless reads text tables: every cell against its field
        report = Package({"resources": [resource]}, basepath=str(tmp_path)).validate()
        assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:5]


def test_parquet_keeps_types_and_adds_the_utc_instant(tmp_path, make_product):
    import pyarrow.parquet as pq

    write_files(make_product(), tmp_path, ("parquet",))
    table = pq.read_table(tmp_path / "data.parquet")
    assert table.schema.field("value").type == pa.int64() and table.column("value").null_count == 1
    utc = table.column("bin_start_utc").to_pylist()
    assert [t.hour for t in utc] == [0, 1, 1]  # 01:00+01:00 and 03:00+02:00 (the spring-forward night)


def test_the_excel_csv_opens_in_a_comma_decimal_locale(tmp_path, make_product):
    write_files(make_product(), tmp_path, ("csv", "csv_excel"))
    raw = (tmp_path / "data_excel.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    header, first = raw.decode("utf-8-sig").split("\r\n")[:2]
    assert header.split(";")[:3] == ["h3_cell", "latitude", "longitude"] and "," in first.split(";")[1]
    plain = (tmp_path / "data.csv").read_text().splitlines()
    assert plain[2].split(",")[-1] == "true" and ",," in plain[2]  # suppressed: an empty value, never 0


def test_geographic_formats_draw_cells_and_od_pairs(tmp_path, make_product):
    import geopandas as gpd

    write_files(make_product(od=True), tmp_path, ("geojson", "geoparquet"))
    features = json.loads((tmp_path / "data.geojson").read_text())["features"]
    assert [f["geometry"]["type"] for f in features] == ["LineString", "Point", "LineString"]
    assert features[1]["properties"]["value"] is None and features[0]["properties"]["value"] == 120
    frame = gpd.read_parquet(tmp_path / "data.geoparquet")
    assert list(frame.geometry.geom_type) == ["LineString", "Point", "LineString"] and frame.crs.to_epsg() == 4326
