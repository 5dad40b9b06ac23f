"""Buyer products and outbox deliveries, built from stored releases only.

A delivery is one contract version over one window of local dates. Its id is deterministic from the
contract id, version and window, so a rerun rewrites the same delivery (and reuses the stored release,
spending nothing), while a new contract version makes a new delivery beside the old one.

Outbox layout (DESIGN.md section 9)::

    lake/outbox/<buyer>/<contract_id>/<delivery_id>/
        data.parquet  data.csv  data.geojson  manifest.json
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.common import lake, settings
from jobs.common.h3cells import cell_polygon, int_to_cell
from jobs.common.timebins import local_iso
from jobs.privacy.noise import noise_scale
from jobs.privacy.release import make_release, plan_for, read_release
from jobs.privacy.threshold import apply_k_threshold

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jobs.publish.contracts import Contract

log = logging.getLogger(__name__)

PRODUCT_SCHEMA = pa.schema([
    ("delivery_id", pa.string()), ("h3_cell", pa.string()), ("bin_start", pa.string()),
    ("bin_minutes", pa.int32()), ("metric", pa.string()), ("value", pa.int64()), ("suppressed", pa.bool_()),
])
FILE_COLUMNS = ["h3_cell", "bin_start", "bin_minutes", "metric", "value", "suppressed"]


def delivery_id(contract: Contract, window_start: dt.date, window_end: dt.date) -> str:
    """Deterministic delivery id from contract id, version and window."""
    digest = hashlib.sha256(f"{contract.id}|{contract.version}|{window_start}|{window_end}".encode()).hexdigest()
    return f"{window_start:%Y%m%d}-{window_end:%Y%m%d}-v{contract.version}-{digest[:8]}"


def build_product(release: pa.Table, k: int, delivery: str) -> pd.DataFrame:
    """Turn a stored release into the buyer's long table: hex cells, local bins, k-threshold applied.

    Parameters
    ----------
    release : pyarrow.Table
        Rows read back from ``gold/releases`` (noisy values only).
    k : int
        The contract's threshold, applied to the noisy values.
    delivery : str
        Delivery id written on every row.

    Returns
    -------
    pandas.DataFrame
        Columns of ``PRODUCT_SCHEMA``, sorted by bin and cell.
    """
    frame = release.to_pandas()
    product = apply_k_threshold(frame[["h3_cell", "bin_start", "bin_minutes", "metric", "value"]], k)
    product["h3_cell"] = [int_to_cell(c) for c in product["h3_cell"]]
    product = product.sort_values(["bin_start", "h3_cell"]).reset_index(drop=True)
    product["bin_start"] = [local_iso(ts.to_pydatetime()) for ts in product["bin_start"]]
    product.insert(0, "delivery_id", delivery)
    return product


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _geojson(product: pd.DataFrame) -> dict:
    features = []
    for row in product[FILE_COLUMNS].itertuples(index=False):
        features.append({
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [cell_polygon(row.h3_cell)]},
            "properties": {"h3_cell": row.h3_cell, "bin_start": row.bin_start, "bin_minutes": int(row.bin_minutes),
                           "metric": row.metric, "value": None if pd.isna(row.value) else int(row.value),
                           "suppressed": bool(row.suppressed)},
        })
    return {"type": "FeatureCollection", "features": features}


def write_files(product: pd.DataFrame, folder: Path, formats: tuple[str, ...]) -> list[dict[str, Any]]:
    """Write the product files into ``folder`` and return their manifest entries (name, sha256, rows)."""
    table = pa.Table.from_pandas(product[FILE_COLUMNS], schema=PRODUCT_SCHEMA.remove(0), preserve_index=False)
    written = []
    if "parquet" in formats:
        pq.write_table(table, folder / "data.parquet")
        written.append(("data.parquet", len(product)))
    if "csv" in formats:
        # Suppressed values are empty fields, never 0.
        csv_frame = product[FILE_COLUMNS].assign(
            suppressed=product["suppressed"].map({True: "true", False: "false"}))
        csv_frame.to_csv(folder / "data.csv", index=False, na_rep="", lineterminator="\n")
        written.append(("data.csv", len(product)))
    if "geojson" in formats:
        (folder / "data.geojson").write_text(json.dumps(_geojson(product)))
        written.append(("data.geojson", len(product)))
    return [{"name": name, "sha256": _sha256(folder / name), "rows": rows} for name, rows in written]


def publish(spark: SparkSession, contract: Contract, window_start: dt.date,
            window_end: dt.date | None = None) -> dict[str, Any]:
    """Release (or reuse), build and deliver a contract's product for local dates ``[start, end)``.

    Parameters
    ----------
    spark : SparkSession
        The process's session.
    contract : Contract
        A validated contract.
    window_start : datetime.date
        First local date of the window.
    window_end : datetime.date, optional
        Day after the last local date; one day by default.

    Returns
    -------
    dict
        ``delivery_id``, ``outbox`` folder, ``manifest``, ``audit`` paths and summary figures.
    """
    from jobs.publish.audit import write_audit

    window_end = window_end or window_start + dt.timedelta(days=1)
    delivery = delivery_id(contract, window_start, window_end)
    releases, products = [], []
    for metric in contract.metrics:
        plan = plan_for(contract, metric, window_start, window_end)
        release = make_release(spark, plan)
        releases.append((plan, release))
        products.append(build_product(read_release(plan.release_id), contract.k, delivery))
    product = pd.concat(products, ignore_index=True)

    gold_path = settings.table_path("gold", contract.id)
    gold_table = pa.Table.from_pandas(product, schema=PRODUCT_SCHEMA, preserve_index=False)
    if lake.exists(gold_path):
        gold_version = lake.overwrite_arrow(gold_path, gold_table, predicate=f"delivery_id = '{delivery}'",
                                            partition_by=["delivery_id"])
    else:
        gold_version = lake.append_arrow(gold_path, gold_table, partition_by=["delivery_id"])

    outbox = settings.lake_root() / "outbox" / contract.buyer / contract.id / delivery
    staging = outbox.with_name(f".{delivery}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    files = write_files(product, staging, contract.formats)
    first_plan = releases[0][0]
    noise = noise_scale(first_plan.epsilon, first_plan.sensitivity, first_plan.mechanism,
                        first_plan.delta or None)
    manifest = {
        "contract_id": contract.id,
        "contract_version": contract.version,
        "buyer": contract.buyer,
        "delivery_id": delivery,
        "window_start": dt.datetime.combine(window_start, dt.time(), tzinfo=settings.LOCAL_TZ).isoformat(),
        "window_end": dt.datetime.combine(window_end, dt.time(), tzinfo=settings.LOCAL_TZ).isoformat(),
        "release_ids": [plan.release_id for plan, _ in releases],
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "files": files,
        "privacy": {
            "k": contract.k, "epsilon": contract.epsilon, "delta": first_plan.delta,
            "mechanism": first_plan.mechanism, "unit": first_plan.unit,
            "max_cells_per_day": contract.max_cells_per_day, "sensitivity_l1": first_plan.sensitivity,
            "noise_scale": noise["scale"], "ci95_half_width": noise["ci95_half_width"],
            "guarantee": "no released value is below k after noise; suppressed values are null",
        },
        "columns": FILE_COLUMNS,
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if outbox.exists():
        shutil.rmtree(outbox)
    os.replace(staging, outbox)

    audit_paths = write_audit(contract, manifest, product, releases, gold_version)
    released = int((~product["suppressed"]).sum())
    suppressed = int(product["suppressed"].sum())
    spent = sum(plan.epsilon for plan, rel in releases if not rel["reused"])
    log.info("publish %s %s: %d cells released, %d suppressed, epsilon spent %g%s; outbox %s",
             contract.id, delivery, released, suppressed, spent,
             " (stored release reused)" if spent == 0 else "", outbox)
    return {"delivery_id": delivery, "outbox": str(outbox), "manifest": manifest, "audit": audit_paths,
            "released": released, "suppressed": suppressed, "epsilon_spent": spent,
            "gold_version": gold_version}


def verify_manifest(folder: Path) -> list[str]:
    """Check a delivery folder against its manifest; return the problems (empty when it verifies)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    problems = []
    for entry in manifest["files"]:
        path = folder / entry["name"]
        if not path.exists():
            problems.append(f"{entry['name']}: missing")
            continue
        if _sha256(path) != entry["sha256"]:
            problems.append(f"{entry['name']}: sha256 differs")
        if entry["name"].endswith(".parquet"):
            rows = pq.ParquetFile(path).metadata.num_rows
        elif entry["name"].endswith(".csv"):
            rows = sum(1 for _ in open(path, encoding="utf-8")) - 1
        else:
            rows = len(json.loads(path.read_text())["features"])
        if rows != entry["rows"]:
            problems.append(f"{entry['name']}: {rows} rows, manifest says {entry['rows']}")
    return problems
