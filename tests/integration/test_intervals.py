"""The 95% interval on every delivered value covers the bounded count before noise for about 95% of keys
(a simulated day: every key of the release, compared with the pipeline's own bounded counts)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from scipy.stats import beta

pytestmark = pytest.mark.integration


def test_the_interval_covers_the_bounded_count_95_percent_of_the_time(spark, simulated_day, tmp_path,
                                                                        monkeypatch, capsys):
    from jobs.common.h3cells import int_to_cell
    from jobs.common.timebins import local_iso
    from jobs.evaluate import exact_values
    from jobs.privacy.release import plan_for, read_release
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract

    root = tmp_path / "lake"
    shutil.copytree(simulated_day.root, root)
    monkeypatch.setenv("CDE_LAKE", str(root))
    contract = find_contract("kk-inner-city-presence")
    out = publish(spark, contract, simulated_day.day)
    plan = plan_for(contract, "unique_people", simulated_day.day, out_day(simulated_day.day))
    half = out["manifest"]["privacy"]["metrics"][0]["ci95_half_width"]

    release = read_release(plan.release_id).to_pandas()
    release["h3_cell"] = [int_to_cell(c) for c in release["h3_cell"]]
    release["bin_start"] = [local_iso(ts.to_pydatetime()) for ts in release["bin_start"]]
    exact = exact_values(spark, plan)
    merged = release.merge(exact, on=["h3_cell", "bin_start"], how="left")
    merged["bounded"] = merged["bounded"].fillna(0)
    covered = int(((merged["value"] - merged["bounded"]).abs() <= half).sum())
    n = len(merged)
    low, high = beta.ppf(0.0005, covered, n - covered + 1), beta.ppf(0.9995, covered + 1, n - covered)
    with capsys.disabled():
        print(f"\n[interval] +/- {half}: {covered} of {n} keys covered ({covered / n:.2%}, 99.9% CI "
              f"{low:.2%} to {high:.2%})")
    # The half-width is the smallest t with P(|noise| <= t) >= 95%: coverage is 95% up to one point's mass.
    assert n == plan.domain_size() and low <= 0.952 and high >= 0.95

    # The estimate column (post-processed), each row with its own interval: over every key of the domain
    # (suppressed ones too) and over the delivered rows, it covers at least 95%.
    from jobs.privacy.postprocess import post_process_release

    estimates, note = post_process_release(read_release(plan.release_id).to_pandas(), plan)
    assert note.startswith("empirical Bayes")
    merged["estimate"] = estimates["estimate"].astype(int).to_numpy()
    merged["half"] = estimates["estimate_ci95_half_width"].astype(int).to_numpy()
    assert (merged["half"] >= half).all() and (merged["estimate"] >= 0).all()
    post_covered = int(((merged["estimate"] - merged["bounded"]).abs() <= merged["half"]).sum())
    post_low = beta.ppf(0.0005, post_covered, n - post_covered + 1)
    post_high = beta.ppf(0.9995, post_covered + 1, n - post_covered) if post_covered < n else 1.0
    product = pd.read_parquet(out["outbox"] + "/data.parquet")
    shown = product[~product["suppressed"]].merge(exact, on=["h3_cell", "bin_start"], how="left").fillna({"bounded": 0})
    shown_covered = int(((shown["estimate"] - shown["bounded"]).abs() <= shown["estimate_ci95_half_width"]).sum())
    raw_error = (merged["value"] - merged["bounded"]).abs()
    post_error = (merged["estimate"] - merged["bounded"]).abs()
    with capsys.disabled():
        print(f"[interval] estimates: {post_covered} of {n} keys covered ({post_covered / n:.2%}, 99.9% CI "
              f"{post_low:.2%} to {post_high:.2%}); delivered rows {shown_covered} of {len(shown)}; mean absolute "
              f"error over the domain raw {raw_error.mean():.1f}, estimates {post_error.mean():.1f}")
    assert post_high >= 0.95 and shown["estimate_ci95_half_width"].notna().all()
    assert post_error.mean() < raw_error.mean()

    # The release-conditional interval of each delivered row (ci95_low / ci95_high): filled where released,
    # null where suppressed, and over the released rows it holds the bounded count (95% for every true count).
    hidden = product[product["suppressed"]]
    assert hidden["ci95_low"].isna().all() and hidden["ci95_high"].isna().all()
    assert shown["ci95_low"].notna().all() and (shown["ci95_low"] >= 0).all()
    assert (shown["ci95_low"] <= shown["value"]).all() and (shown["ci95_high"] >= shown["value"]).all()
    inside = int(((shown["ci95_low"] <= shown["bounded"]) & (shown["bounded"] <= shown["ci95_high"])).sum())
    plain = int(((shown["value"] - shown["bounded"]).abs() <= half).sum())
    n_shown = len(shown)
    upper = beta.ppf(0.9995, inside + 1, n_shown - inside) if inside < n_shown else 1.0
    with capsys.disabled():
        print(f"[interval] released rows: conditional interval covers {inside} of {n_shown}; value +/- {half} "
              f"covers {plain}")
    assert upper >= 0.95


def out_day(day):
    import datetime as dt

    return day + dt.timedelta(days=1)
