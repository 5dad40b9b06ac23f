"""``geoparquet``: ``data.geoparquet``, GeoParquet 1.x: the product's typed rows with a WKB ``geometry``
column (EPSG:4326), the same geometries as ``data.geojson``; opens in geopandas, DuckDB spatial and QGIS."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from jobs.publish.formats.base import DeliveryFormat, Product, geometries, tabular
from jobs.publish.formats.parquet import count_parquet_rows


def _write(product: Product, path: Path) -> None:
    import geopandas as gpd  # loads GDAL's Python side: only when a contract asks for this format
    from shapely.geometry import shape

    frame = gpd.GeoDataFrame(product.table.to_pandas(types_mapper=pd.ArrowDtype),
                             geometry=[shape(g) for g in geometries(product)], crs="EPSG:4326")
    frame.to_parquet(path, index=False)


FORMAT = DeliveryFormat(
    name="geoparquet", file_name="data.geoparquet", order=50, frictionless_format="parquet",
    mediatype="application/vnd.apache.parquet",
    summary="the typed rows with a WKB geometry column (GeoParquet 1.x), for geopandas, DuckDB or QGIS",
    write=_write, count_rows=count_parquet_rows, columns=lambda columns: [*columns, "geometry"],
    resource=tabular(description="GeoParquet 1.x: the product's rows with a WKB geometry column (EPSG:4326)"),
    hashed=False,
)
