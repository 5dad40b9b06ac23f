"""Post-processed values against the raw noisy ones, on the same releases (not a test).

    .venv/bin/python bench/evaluate_products.py --people 500000 --feeds telco \
        --contracts kk-inner-city-presence retail-stroget-footfall wonderful-cph-tourists
    .venv/bin/python bench/postprocess.py          # on that lake (bench/out/evaluate)

For each zero-filled product delivered on the lake: its stored release (the noisy values, the product's
``value``), the estimates (``jobs/privacy/postprocess.py``, the product's ``estimate``, from the same
release) and the pipeline's bounded counts before noise (``jobs/evaluate.exact_values``), over the rows
whose noisy value reaches k (the released rows): error per released value, the signed error (bias), the
error of what a buyer adds up (released cells per bin; all released rows), the same for the busiest keys
(where shrinkage costs), and how often the intervals cover the bounded count.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def figures(frame, k: int, raw_half: int) -> dict:
    """Raw against post-processed, over a release merged with its bounded counts."""
    released = frame[frame["noisy"] >= k]
    out = {"keys": len(frame), "released": len(released)}
    for name, column in (("raw", "noisy"), ("post", "estimate")):
        error = (released[column] - released["bounded"]).astype(float)
        per_bin = released.assign(e=error).groupby("bin_start").agg(e=("e", "sum"), b=("bounded", "sum"))
        out[name] = {
            "rmse": float(np.sqrt((error ** 2).mean())), "mae": float(error.abs().mean()),
            "mean_error": float(error.mean()),
            "sum_error": float(error.sum() / max(released["bounded"].sum(), 1)),
            "bin_sum_rms": float(np.sqrt((per_bin["e"] ** 2).mean())),
        }
    busiest = released[released["bounded"] >= released["bounded"].quantile(0.9)]
    out["raw"]["busiest_mean_error"] = float((busiest["noisy"] - busiest["bounded"]).mean())
    out["post"]["busiest_mean_error"] = float((busiest["estimate"] - busiest["bounded"]).mean())
    out["raw"]["cover_domain"] = float(((frame["noisy"] - frame["bounded"]).abs() <= raw_half).mean())
    out["raw"]["cover_released"] = float(((released["noisy"] - released["bounded"]).abs() <= raw_half).mean())
    out["post"]["cover_domain"] = float(((frame["estimate"] - frame["bounded"]).abs() <= frame["half"]).mean())
    out["post"]["cover_released"] = float(
        ((released["estimate"] - released["bounded"]).abs() <= released["half"]).mean())
    out["post"]["mean_half_width_released"] = float(released["half"].mean())
    out["raw"]["mean_half_width_released"] = float(raw_half)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=ROOT / "bench" / "out" / "evaluate")
    parser.add_argument("--contracts", nargs="*",
                        default=["kk-inner-city-presence", "retail-stroget-footfall", "wonderful-cph-tourists"])
    parser.add_argument("--date", type=dt.date.fromisoformat, default=dt.date(2026, 3, 2))
    args = parser.parse_args()
    os.environ.update(CDE_LAKE=str(args.lake), CDE_PSEUDONYM_KEY="bench-key-not-secret-0123456789abcdef")

    from jobs.common.h3cells import int_to_cell
    from jobs.common.spark import get_spark
    from jobs.common.timebins import local_iso
    from jobs.evaluate import exact_values
    from jobs.privacy.postprocess import post_process_release
    from jobs.privacy.release import plan_for, read_release
    from jobs.publish.portfolio import find_contract

    spark = get_spark("cde-bench-postprocess")
    rows = []
    for contract_id in args.contracts:
        contract = find_contract(contract_id)
        for metric in contract.metrics:
            plan = plan_for(contract, metric, args.date, args.date + dt.timedelta(days=1))
            release = read_release(plan.release_id).to_pandas()
            if release.empty:
                print(f"{contract_id}: no stored release {plan.release_id} on {args.lake}; run evaluate_products")
                continue
            post, note = post_process_release(release, plan)
            print(f"{contract_id}: {note}")
            if post["estimate"].isna().all():
                continue
            frame = release.assign(noisy=release["value"], estimate=post["estimate"].astype("int64"),
                                   half=post["estimate_ci95_half_width"].astype("int64"))
            frame["h3_cell"] = [int_to_cell(c) for c in frame["h3_cell"]]
            frame["bin_start"] = [local_iso(ts.to_pydatetime()) for ts in frame["bin_start"]]
            keys = [c if c in frame.columns else "h3_cell" for c in plan.measure.keys(plan.segments)]
            exact = exact_values(spark, plan)
            merged = frame.merge(exact, on=keys, how="left").fillna({"bounded": 0})
            result = figures(merged, plan.k_threshold(contract.k), int(plan.noise()["ci95_half_width"]))
            rows.append((contract_id, result))
    print("\n| product | released / keys | value RMSE raw -> post | mean error raw -> post | error of the sum of "
          "released rows raw -> post | per-bin sum of released cells, RMS error raw -> post | coverage, domain raw / post | "
          "coverage, released raw / post | mean half-width released raw / post | busiest tenth of released, mean error "
          "raw -> post |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for contract_id, r in rows:
        raw, post = r["raw"], r["post"]
        print(f"| {contract_id} | {r['released']:,} / {r['keys']:,} | {raw['rmse']:.1f} -> {post['rmse']:.1f} | "
              f"{raw['mean_error']:+.1f} -> {post['mean_error']:+.1f} | {raw['sum_error']:+.2%} -> "
              f"{post['sum_error']:+.2%} | {raw['bin_sum_rms']:.0f} -> {post['bin_sum_rms']:.0f} | "
              f"{raw['cover_domain']:.1%} / {post['cover_domain']:.1%} | {raw['cover_released']:.1%} / "
              f"{post['cover_released']:.1%} | {raw['mean_half_width_released']:.0f} / "
              f"{post['mean_half_width_released']:.0f} | {raw['busiest_mean_error']:+.1f} -> "
              f"{post['busiest_mean_error']:+.1f} |")


if __name__ == "__main__":
    main()
