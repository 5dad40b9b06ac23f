"""The bench figures of a population estimate (``jobs.evaluate.population_figures``) on rows whose truth is known."""

from __future__ import annotations

import pandas as pd


def test_population_figures_measure_the_estimate_against_exact_over_share():
    from jobs.evaluate import population_figures

    # exact 10 and 100 at share 0.5: targets 20 and 200; the first row's interval misses its target
    released = pd.DataFrame({"exact": [10, 100], "value": [250, 300],
                             "population_estimate": [40, 190], "population_ci95_low": [30, 150],
                             "population_ci95_high": [60, 260]})
    figures = population_figures(released, 0.5)
    assert figures["population_target_median"] == 110
    assert figures["population_median_abs_error"] == 15  # |40-20|, |190-200|
    assert figures["population_raw_median_abs_error"] == 440  # |500-20| = 480, |600-200| = 400
    assert figures["population_interval_coverage"] == 0.5
    assert abs(figures["population_sum_over_target"] - 230 / 220) < 1e-12


def test_rows_whose_estimate_was_withheld_are_counted_not_scored():
    from jobs.evaluate import population_figures

    released = pd.DataFrame({"exact": [10, 100, 5], "value": [250, 300, 240],
                             "population_estimate": pd.array([40, 190, None], dtype="Int64"),
                             "population_ci95_low": pd.array([30, 150, None], dtype="Int64"),
                             "population_ci95_high": pd.array([60, 260, None], dtype="Int64")})
    figures = population_figures(released, 0.5)
    assert figures["population_interval_coverage"] == 0.5 and abs(figures["population_withheld_share"] - 1 / 3) < 1e-12
