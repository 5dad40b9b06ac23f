"""``cde evaluate <delivery>``: how good a delivered product is, measured against the exact counts.

A bench tool, not a privacy-safe report: it reads the pipeline's own located data (silver) to compute, for
the same cut as each release of the delivery, the exact value of every key (no bounding, no noise) and the
bounded value (bounding, no noise), and compares the delivered values with them. The figures say how much
of the error is bounding and how much is noise and thresholding:

- median relative error of released values on keys whose exact value is at least 100 and at least 500, and
  the share of those keys released;
- phantom share: released keys among keys whose exact value is 0 (zero-filled domains only);
- false-discovery share: released rows whose exact value is 0, over released rows;
- bias: released sum over exact sum (suppressed keys count 0), and bounded sum over exact sum;
- for origin-destination products, the share of exact trips that lie in released pairs.

Against the simulator's ground truth (``lake/simulation``), ``truth_presence`` adds the location error of
distinct-people products (telco events sit at sector centroids, not where the phone is).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobs.common import settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jobs.privacy.plan import ReleasePlan


def find_delivery(name: str) -> Path:
    """The outbox folder of a delivery, given its id or its path."""
    path = Path(name)
    if (path / "manifest.json").exists():
        return path
    hits = sorted((settings.lake_root() / "outbox").glob(f"*/*/{name}"))
    if not hits:
        raise FileNotFoundError(f"no delivery {name!r} under {settings.lake_root() / 'outbox'}")
    return hits[0]


def exact_values(spark: SparkSession, plan: ReleasePlan) -> pd.DataFrame:
    """Exact and bounded (noiseless) values of every key of the plan's cut, in the product's key format.

    Returns
    -------
    pandas.DataFrame
        Key columns as delivered (hex cells, local ISO bins, segment values) plus ``exact`` and ``bounded``.
        Keys with no data are absent (a zero-filled domain gives them 0 when merged).
    """
    from jobs.common.h3cells import int_to_cell
    from jobs.common.timebins import local_iso
    from jobs.privacy.release import domain_cut

    measure = plan.measure
    cut, _, _, _ = domain_cut(spark, plan)
    keys = measure.keys(plan.segments)
    exact = measure.aggregate(cut, keys).withColumnRenamed("value", "exact")
    bounded = measure.aggregate(plan.bounder.bound(cut, keys), keys).withColumnRenamed("value", "bounded")
    frame = exact.join(bounded, keys, "left").toPandas()
    frame["bounded"] = frame["bounded"].fillna(0).astype("int64")
    for place in measure.places:
        frame[place] = [int_to_cell(int(c)) for c in frame[place]]
    frame["bin_start"] = [local_iso(ts.to_pydatetime().replace(tzinfo=dt.UTC)) if ts.tzinfo is None
                          else local_iso(ts.to_pydatetime()) for ts in pd.to_datetime(frame["bin_start"])]
    return frame


def exact_at_derived_cut(exact: pd.DataFrame, child, parent, metric: str, keys: list[str]) -> pd.DataFrame:
    """The parent release's exact and bounded values summed into a derived contract's cut (its cells, its
    resolution, its bins), as the delivery sums the noisy values."""
    import h3

    from jobs.common.timebins import local_iso
    from jobs.publish.sharing import derived_cut

    cut = derived_cut(child, parent, metric)
    places = [c for c in ("h3_cell", "origin_h3", "destination_h3") if c in exact]
    frame = exact[exact[places].isin(cut.cells).all(axis=1)].copy()
    if child.h3_resolution < parent.h3_resolution:
        for place in places:
            frame[place] = [h3.cell_to_parent(c, child.h3_resolution) for c in frame[place]]
    if child.bin_minutes > parent.bin_minutes:
        local = pd.to_datetime(frame["bin_start"], utc=True).dt.tz_convert(settings.LOCAL_TZ.key)
        floored = local.dt.floor("D") if child.bin_minutes == 1440 else local.dt.floor(f"{child.bin_minutes}min")
        frame["bin_start"] = [local_iso(ts.to_pydatetime()) for ts in floored]
    return frame.groupby(keys, as_index=False, dropna=False)[["exact", "bounded"]].sum()


def _median_relative_error(released: pd.DataFrame, floor: int) -> tuple[float | None, float | None, int]:
    keys = released[released["exact"] >= floor]
    if keys.empty:
        return None, None, 0
    shown = keys[~keys["suppressed"]]
    share = len(shown) / len(keys)
    if shown.empty:
        return None, share, len(keys)
    error = (shown["value"].astype(float) - shown["exact"]).abs() / shown["exact"]
    return float(error.median()), share, len(keys)


def compare(product: pd.DataFrame, exact: pd.DataFrame, keys: list[str], zero_filled: bool) -> dict[str, Any]:
    """Figures of one metric's delivered rows against the exact values (see the module docstring).

    Parameters
    ----------
    product : pandas.DataFrame
        The delivered rows of the metric (``value``, ``suppressed`` and the key columns).
    exact : pandas.DataFrame
        ``exact_values`` of the same plan.
    keys : list of str
        Key columns.
    zero_filled : bool
        True when every domain key is delivered (released or suppressed); False for partition selection,
        whose unselected keys are absent.
    """
    how = "left" if zero_filled else "outer"
    merged = product.merge(exact, on=keys, how=how)
    merged["exact"] = merged["exact"].fillna(0).astype("int64")
    merged["bounded"] = merged["bounded"].fillna(0).astype("int64")
    merged["suppressed"] = merged["suppressed"].fillna(True).astype(bool)  # absent keys were not released
    released = merged[~merged["suppressed"]]
    empty = merged[merged["exact"] == 0]
    true_sum = float(merged["exact"].sum())
    out: dict[str, Any] = {
        "keys": int(len(merged)), "released": int(len(released)),
        "median_exact": float(merged.loc[merged["exact"] > 0, "exact"].median()) if (merged["exact"] > 0).any() else 0.0,
        "mae_released": float((released["value"].astype(float) - released["exact"]).abs().mean()) if len(released) else None,
        "phantom_share": (float((~empty["suppressed"]).mean()) if zero_filled and len(empty) else None),
        "false_discovery_share": float((released["exact"] == 0).mean()) if len(released) else 0.0,
        "bias_released_over_exact": float(released["value"].astype(float).sum() / true_sum) if true_sum else None,
        "bounded_over_exact": float(merged["bounded"].sum() / true_sum) if true_sum else None,
    }
    for floor in (100, 500):
        error, share, count = _median_relative_error(merged, floor)
        out[f"keys_exact_ge_{floor}"] = count
        out[f"median_rel_error_ge_{floor}"] = error
        out[f"released_share_ge_{floor}"] = share
    if "destination_h3" in keys:  # origin-destination: how much of the traffic the released pairs carry
        out["trip_share_in_released_pairs"] = float(released["exact"].sum() / true_sum) if true_sum else None
    return out


def evaluate_delivery(spark: SparkSession, name: str) -> dict[str, Any]:
    """Evaluate every metric of a delivery against the exact values of its cut.

    Returns
    -------
    dict
        ``delivery_id``, ``contract_id`` and per metric the figures of ``compare``.
    """
    from jobs.privacy.measures import PARTITION_SELECTION
    from jobs.privacy.plan import plan_for
    from jobs.publish.contracts import load_contracts

    folder = find_delivery(name)
    manifest = json.loads((folder / "manifest.json").read_text())
    contract_id = manifest["contract_id"]
    contracts, _ = load_contracts()
    contract = contracts[contract_id]
    if contract.version != manifest["contract_version"]:
        raise ValueError(f"delivery {manifest['delivery_id']} is of {contract_id} {manifest['contract_version']}; "
                         f"the contracts folder holds {contract.version}")
    product = pd.read_parquet(folder / "data.parquet")
    start = dt.datetime.fromisoformat(manifest["window_start"]).date()
    end = dt.datetime.fromisoformat(manifest["window_end"]).date()
    out = {"delivery_id": manifest["delivery_id"], "contract_id": contract_id, "metrics": {}}
    parent = contracts.get(contract.derived_from) if contract.derived_from else None
    for metric in contract.metrics:
        plan = plan_for(parent or contract, metric, start, end)  # a derived product: its parent's release
        keys = [c for c in plan.measure.keys(plan.segments)]
        rows = product[product["metric"] == metric].drop(
            columns=[c for c in ("delivery_id", "metric", "bin_minutes") if c in product.columns])
        rows["value"] = rows["value"].astype("Float64")
        exact = exact_values(spark, plan)
        if parent is not None:
            exact = exact_at_derived_cut(exact, contract, parent, metric, keys)
        figures = compare(rows, exact, keys, plan.domain != PARTITION_SELECTION)
        figures["k"] = plan.k_threshold(contract.k)
        figures["noise_scale"] = plan.noise()["scale"]
        figures["epsilon"] = plan.epsilon
        out["metrics"][metric] = figures
    return out


def format_evaluation(result: dict[str, Any]) -> list[str]:
    """Lines for the terminal: one block per metric."""
    def pct(x):
        return "-" if x is None else f"{100 * x:.1f}%"

    lines = []
    for metric, f in result["metrics"].items():
        lines.append(f"{result['contract_id']} {metric} (delivery {result['delivery_id']}): {f['released']:,} of "
                     f"{f['keys']:,} keys released, k {f['k']}, noise scale {f['noise_scale']:.3g}, epsilon {f['epsilon']:g}")
        for floor in (100, 500):
            lines.append(f"  keys with exact >= {floor}: {f[f'keys_exact_ge_{floor}']:,}, released "
                         f"{pct(f[f'released_share_ge_{floor}'])}, median relative error "
                         f"{pct(f[f'median_rel_error_ge_{floor}'])}")
        lines.append(f"  phantom share {pct(f['phantom_share'])}, false-discovery share "
                     f"{pct(f['false_discovery_share'])}, released sum / exact sum "
                     f"{pct(f['bias_released_over_exact'])}, bounded / exact {pct(f['bounded_over_exact'])}, "
                     f"median exact value {f['median_exact']:g}, MAE of released "
                     f"{'-' if f['mae_released'] is None else format(f['mae_released'], '.3g')}")
        if "trip_share_in_released_pairs" in f:
            lines.append(f"  exact trips in released pairs: {pct(f['trip_share_in_released_pairs'])}")
    return lines


def _np_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return str(value)


def to_json(result: dict[str, Any]) -> str:
    """The evaluation as JSON."""
    return json.dumps(result, indent=2, default=_np_default)
