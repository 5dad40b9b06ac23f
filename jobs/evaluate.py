"""``cde evaluate <delivery>``: how good a delivered product is, measured against the exact counts.

A bench tool, not a privacy-safe report: it reads the pipeline's own located data (silver) to compute, for
the same cut as each release of the delivery, the exact value of every key (no bounding, no noise) and the
bounded value (bounding, no noise), and compares the delivered values with them. The figures say how much
of the error is bounding and how much is noise and thresholding:

- median relative error of released values on keys whose exact value is at least 100 and at least 500 (people
  where values are fractions of a person), and the share of those keys released;
- phantom share: released keys among keys whose exact value is 0 (zero-filled domains only);
- false-discovery share: released rows whose exact value is 0, over released rows;
- bias: released sum over exact sum (suppressed keys count 0), and bounded sum over exact sum;
- for origin-destination products, the share of exact trips that lie in released pairs;
- for products with a population estimate: against the exact value over the stated market share (what the
  estimate would be if the share were exact), the median absolute error of released rows' estimates, the
  same of the raw value over the share (what dividing the noisy value would give), the released sum of
  estimates over the sum of exact / share, and how often the 95% interval covers exact / share.

Against the simulator's ground truth (``lake/simulation``), ``truth_presence`` adds the location error of
distinct-people products (telco events sit at sector centroids, not where the phone is).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from jobs.common import paths, settings
from jobs.common.h3cells import int_to_cell
from jobs.common.objectstore import lake_path
from jobs.common.timebins import local_iso
from jobs.contracts import parse_zones_text, zone_cells
from jobs.errors import NotSimulated
from jobs.privacy import PARTITION_SELECTION, ZoneSum, plan_for
from jobs.publish.portfolio import load_contracts
from jobs.publish.shared_releases import derived_cut

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jobs.privacy import ReleasePlan


def find_delivery(name: str) -> Path:
    """The outbox folder of a delivery, given its id or its path."""
    path = lake_path(name)
    if (path / "manifest.json").exists():
        return path
    hits = sorted((paths.outbox()).glob(f"*/*/{name}"))
    if not hits:
        raise FileNotFoundError(f"no delivery {name!r} under {paths.outbox()}")
    return hits[0]


def exact_values(spark: SparkSession, plan: ReleasePlan) -> pd.DataFrame:
    """Exact and bounded (noiseless) values of every key of the plan's cut, in the product's key format.

    Returns
    -------
    pandas.DataFrame
        Key columns as delivered (hex cells, local ISO bins, segment values) plus ``exact`` and ``bounded``.
        Keys with no data are absent (a zero-filled domain gives them 0 when merged).
    """
    from jobs.privacy import domain_cut  # loads deltalake: only when called

    measure = plan.measure
    cut, _, _, _ = domain_cut(spark, plan)
    keys = measure.keys(plan.segments)
    exact = measure.aggregate(cut, keys).withColumnRenamed("value", "exact")
    bounded = measure.aggregate(plan.bounder.bound(cut, keys), keys).withColumnRenamed("value", "bounded")
    frame = exact.join(bounded, keys, "left").toPandas()
    frame["bounded"] = frame["bounded"].fillna(0).astype("int64")
    if plan.zones:  # a zone-level release: its place column holds zone indices
        ids = [zone_id for zone_id, _ in parse_zones_text(plan.zones)]
        frame["zone"] = [ids[int(c)] for c in frame[measure.places[0]]]
        return _local_bins(frame.drop(columns=[measure.places[0]]))
    for place in measure.places:
        frame[place] = [int_to_cell(int(c)) for c in frame[place]]
    return _local_bins(frame)


def _local_bins(frame: pd.DataFrame) -> pd.DataFrame:
    """``bin_start`` as the delivered local ISO strings."""
    frame["bin_start"] = [local_iso(ts.to_pydatetime().replace(tzinfo=dt.UTC)) if ts.tzinfo is None
                          else local_iso(ts.to_pydatetime()) for ts in pd.to_datetime(frame["bin_start"])]
    return frame


def place_keys(contract, plan: ReleasePlan) -> list[str]:
    """The key columns of a delivered metric: the measure's, with zones in place of cells for a zone product."""
    keys = plan.measure.keys(plan.segments)
    if not contract.zones:
        return keys
    renamed = {"h3_cell": "zone", "origin_h3": "origin_zone", "destination_h3": "destination_zone"}
    return [renamed.get(k, k) for k in keys]


def exact_at_zones(exact: pd.DataFrame, contract, keys: list[str]) -> pd.DataFrame:
    """Exact and bounded cell values summed into the contract's zones, as the delivery sums the noisy values
    of an additive metric (cells of no zone left out)."""
    zone_of = {cell: zone_id for zone_id, cells in zone_cells(contract.zones, contract.h3_resolution)
               for cell in cells}
    frame = exact.copy()
    for cell_column, zone_column in (("h3_cell", "zone"), ("origin_h3", "origin_zone"),
                                     ("destination_h3", "destination_zone")):
        if cell_column in frame:
            frame[zone_column] = frame.pop(cell_column).map(zone_of)
    frame = frame.dropna(subset=[k for k in keys if k.endswith("zone")])
    return frame.groupby(keys, as_index=False, dropna=False)[["exact", "bounded"]].sum()


def exact_at_derived_cut(exact: pd.DataFrame, child, parent, metric: str, keys: list[str]) -> pd.DataFrame:
    """The parent release's exact and bounded values summed into a derived contract's cut (its cells, its
    resolution, its bins), as the delivery sums the noisy values."""
    import h3

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


def compare(product: pd.DataFrame, exact: pd.DataFrame, keys: list[str], zero_filled: bool,
            market_share: float | None = None, units_per_person: int = 1) -> dict[str, Any]:
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
    market_share : float, optional
        The contract's stated market share, for the population-estimate figures (``population_figures``).
    units_per_person : int
        Value units per person (100 for ``present_population``): the floors of 100 and 500 count people.
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
        "median_exact": (float(merged.loc[merged["exact"] > 0, "exact"].median()) if (merged["exact"] > 0).any()
                         else 0.0),
        "mae_released": (float((released["value"].astype(float) - released["exact"]).abs().mean()) if len(released)
                         else None),
        "phantom_share": (float((~empty["suppressed"]).mean()) if zero_filled and len(empty) else None),
        "false_discovery_share": float((released["exact"] == 0).mean()) if len(released) else 0.0,
        "bias_released_over_exact": float(released["value"].astype(float).sum() / true_sum) if true_sum else None,
        "bounded_over_exact": float(merged["bounded"].sum() / true_sum) if true_sum else None,
    }
    for floor in (100, 500):
        error, share, count = _median_relative_error(merged, floor * units_per_person)
        out[f"keys_exact_ge_{floor}"] = count
        out[f"median_rel_error_ge_{floor}"] = error
        out[f"released_share_ge_{floor}"] = share
    if "destination_h3" in keys:  # origin-destination: how much of the traffic the released pairs carry
        out["trip_share_in_released_pairs"] = float(released["exact"].sum() / true_sum) if true_sum else None
    if market_share and "population_estimate" in released and len(released):
        out.update(population_figures(released, market_share))
    return out


def population_figures(released: pd.DataFrame, share: float) -> dict[str, float]:
    """Population-estimate figures of released rows (see the module docstring): over the rows whose estimate
    is shown, with the share of released rows whose estimate was withheld (its interval wider than itself)."""
    shown = released[released["population_estimate"].notna()]
    withheld = 1.0 - len(shown) / len(released) if len(released) else 0.0
    if not len(shown):
        return {"population_withheld_share": withheld}
    target = shown["exact"].astype(float) / share
    estimate = shown["population_estimate"].astype(float)
    raw = shown["value"].astype(float) / share
    covered = ((shown["population_ci95_low"].astype(float) <= target)
               & (target <= shown["population_ci95_high"].astype(float)))
    return {
        "population_target_median": float(target.median()),
        "population_median_abs_error": float((estimate - target).abs().median()),
        "population_raw_median_abs_error": float((raw - target).abs().median()),
        "population_sum_over_target": float(estimate.sum() / target.sum()) if target.sum() else None,
        "population_interval_coverage": float(covered.mean()),
        "population_withheld_share": withheld,
    }


def require_simulated_lake() -> None:
    """Refuse a lake the simulator did not make: its exact figures are real people's, never printed.

    Raises
    ------
    NotSimulated
        The lake holds no ``simulation/run.json``.
    """
    if not paths.is_simulated_lake():
        raise NotSimulated(f"cde evaluate compares a delivery with the simulator's truth, and the lake "
                           f"{settings.lake_root()} was not made by the simulator (no "
                           f"simulation/{paths.SIMULATION_MARKER}): exact figures of real data are never printed")


def evaluate_delivery(spark: SparkSession, name: str) -> dict[str, Any]:
    """Evaluate every metric of a delivery against the exact values of its cut (simulated lakes only).

    Returns
    -------
    dict
        ``delivery_id``, ``contract_id`` and per metric the figures of ``compare``.

    Raises
    ------
    NotSimulated
        The simulator did not make this lake.
    """
    require_simulated_lake()
    folder = find_delivery(name)
    manifest = json.loads((folder / "manifest.json").read_text())
    contract_id = manifest["contract_id"]
    contracts, _ = load_contracts()
    contract = contracts[contract_id]
    if contract.version != manifest["contract_version"]:
        raise ValueError(f"delivery {manifest['delivery_id']} is of {contract_id} {manifest['contract_version']}; "
                         f"the contracts folder holds {contract.version}")
    product = pd.read_parquet(io.BytesIO((folder / "data.parquet").read_bytes()))
    start = dt.datetime.fromisoformat(manifest["window_start"]).date()
    end = dt.datetime.fromisoformat(manifest["window_end"]).date()
    out = {"delivery_id": manifest["delivery_id"], "contract_id": contract_id, "metrics": {}}
    parent = contracts.get(contract.derived_from) if contract.derived_from else None
    for metric in contract.metrics:
        plan = plan_for(parent or contract, metric, start, end)  # a derived product: its parent's release
        keys = place_keys(contract, plan)
        rows = product[product["metric"] == metric].drop(
            columns=[c for c in ("delivery_id", "metric", "bin_minutes") if c in product.columns])
        rows["value"] = rows["value"].astype("Float64")
        exact = exact_values(spark, plan)
        if parent is not None:
            exact = exact_at_derived_cut(exact, contract, parent, metric, keys)
        elif contract.zones and not plan.zones:
            exact = exact_at_zones(exact, contract, keys)
        share = float(contract.market_share["share"]) if contract.market_share else None
        per_person = plan.measure.units_per_person
        figures = compare(rows, exact, keys, plan.domain != PARTITION_SELECTION, share, per_person)
        figures.update(units_per_person=per_person, value_unit=plan.measure.value_unit)
        figures["k"] = plan.k_threshold(contract.k)
        summed = (derived_cut(contract, parent, metric).terms if parent is not None else
                  ZoneSum(tuple(zone_cells(contract.zones, contract.h3_resolution)), len(plan.measure.places))
                  .most_summed if contract.zones and not plan.zones else 1)
        figures["k_statement"] = plan.k_statement(contract.k, summed)  # the manifest's words
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
                     f"{f['keys']:,} keys released, suppressed below {f['k_statement']}, noise scale "
                     f"{f['noise_scale']:.3g}, "
                     f"epsilon {f['epsilon']:g}")
        per_person = f.get("units_per_person", 1)
        for floor in (100, 500):
            at_least = (f"{floor} people ({floor * per_person:,} {f['value_unit']})" if per_person > 1
                        else f"{floor}")
            lines.append(f"  keys with exact >= {at_least}: {f[f'keys_exact_ge_{floor}']:,}, released "
                         f"{pct(f[f'released_share_ge_{floor}'])}, median relative error "
                         f"{pct(f[f'median_rel_error_ge_{floor}'])}")
        lines.append(f"  phantom share {pct(f['phantom_share'])}, false-discovery share "
                     f"{pct(f['false_discovery_share'])}, released sum / exact sum "
                     f"{pct(f['bias_released_over_exact'])}, bounded / exact {pct(f['bounded_over_exact'])}, "
                     f"median exact value {f['median_exact']:g}, MAE of released "
                     f"{'-' if f['mae_released'] is None else format(f['mae_released'], '.3g')}")
        if "trip_share_in_released_pairs" in f:
            lines.append(f"  exact trips in released pairs: {pct(f['trip_share_in_released_pairs'])}")
        if "population_median_abs_error" in f:
            lines.append(f"  population estimate vs exact / share (median {f['population_target_median']:,.0f}): "
                         f"median absolute error {f['population_median_abs_error']:,.0f} (value / share: "
                         f"{f['population_raw_median_abs_error']:,.0f}), sum {pct(f['population_sum_over_target'])}"
                         f" of target, 95% interval covers {pct(f['population_interval_coverage'])}")
        if "population_withheld_share" in f:
            lines.append(f"  population estimate withheld (interval wider than the estimate) on "
                         f"{pct(f['population_withheld_share'])} of released rows")
    return lines


def _np_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return str(value)


def to_json(result: dict[str, Any]) -> str:
    """The evaluation as JSON."""
    return json.dumps(result, indent=2, default=_np_default)
