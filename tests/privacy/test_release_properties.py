"""Release-level properties: threshold ratio, bounded sensitivity, partition selection, derivation, canary."""

from __future__ import annotations

import datetime as dt
import math

import h3
import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta

from jobs.common.h3cells import cell_to_int
from jobs.privacy.derive import DerivationRefused, derive_from_release, sum_into_cut
from jobs.privacy.noise import add_discrete_noise
from jobs.privacy.partition_selection import geometric_tail, selection_threshold, worst_case_delta
from jobs.privacy.threshold import apply_k_threshold

DRAWS = 300_000


def _cp(successes: int, n: int, alpha: float) -> tuple[float, float]:
    low = beta.ppf(alpha / 2, successes, n - successes + 1) if successes else 0.0
    high = beta.ppf(1 - alpha / 2, successes + 1, n - successes) if successes < n else 1.0
    return low, high


@pytest.mark.slow
def test_release_probability_at_k_minus_1_and_k_stays_within_e_epsilon():
    epsilon, k = 1.0, 10
    released = {}
    for n in (k - 1, k):
        noisy = add_discrete_noise(np.full(DRAWS, n, dtype=np.int64), epsilon, 1)
        table = apply_k_threshold(pd.DataFrame({"value": noisy}), k)
        released[n] = int((~table["suppressed"]).sum())
    lo_k, _ = _cp(released[k], DRAWS, 1e-4)
    _, hi_km1 = _cp(released[k - 1], DRAWS, 1e-4)
    # Lower confidence bound of the ratio; the true ratio is about e^epsilon, never above.
    assert lo_k / hi_km1 <= math.exp(epsilon)
    assert released[k] > released[k - 1]


@pytest.mark.spark
def test_one_maximal_person_changes_at_most_l0_cells_by_at_most_one(spark):
    from jobs.aggregate.metrics import unique_people
    from jobs.privacy.bounding import bound_distinct_pairs

    day, l0 = dt.date(2026, 3, 2), 6
    cells = [cell_to_int(c) for c in sorted(h3.grid_disk(h3.latlng_to_cell(55.676, 12.568, 9), 2))]
    bins = [dt.datetime(2026, 3, 2, h) for h in range(6)]
    rng = np.random.default_rng(5)  # test data, not privacy code
    base = [(int(p), "telco", day, int(rng.choice(cells)), bins[int(rng.integers(0, 6))]) for p in range(200)
            for _ in range(5)]
    maximal = [(10_000, "telco", day, c, b) for c in cells for b in bins]  # touches every pair
    schema = "pseudo_id long, source string, event_date date, h3_cell long, bin_start timestamp"
    without = unique_people(bound_distinct_pairs(spark.createDataFrame(base, schema), l0)).toPandas()
    with_p = unique_people(bound_distinct_pairs(spark.createDataFrame(base + maximal, schema), l0)).toPandas()
    # Everyone else has at most 5 pairs (< L0), so only the maximal person is cut by bounding.
    merged = with_p.merge(without, on=["h3_cell", "bin_start"], how="outer", suffixes=("_with", "_without")).fillna(0)
    diff = merged["value_with"] - merged["value_without"]
    assert diff.between(0, 1).all()          # each released cell moves by at most the per-cell sensitivity
    assert int((diff != 0).sum()) == l0      # and at most L0 cells move


def test_partition_selection_threshold_limits_a_singletons_release_to_delta_over_l0():
    epsilon, delta, l0 = 1.0, 0.01, 2
    tau = selection_threshold(epsilon, delta, l0)
    noisy = add_discrete_noise(np.ones(DRAWS, dtype=np.int64), epsilon, l0)
    released = int((noisy >= tau).sum())
    low, _ = _cp(released, DRAWS, 1e-4)
    assert low <= delta / l0
    # A busy pair is selected almost always.
    busy = add_discrete_noise(np.full(10_000, tau + 40, dtype=np.int64), epsilon, l0)
    assert (busy >= tau).mean() > 0.99
    assert selection_threshold(1.0, 1e-6, 4) > selection_threshold(1.0, 1e-3, 4)


def test_partition_selection_holds_delta_when_one_person_puts_every_trip_into_one_pair():
    """At epsilon 10 and 4 trips per person-day, a pair holding all 4 of one person's trips: the exact tail
    of the noise gives the chance it is released; the threshold keeps the worst spread below delta (the
    one-trip-per-pair threshold was 420 times over)."""
    epsilon, delta, trips = 10.0, 1e-7, 4
    tau = selection_threshold(epsilon, delta, trips, trips)
    concentrated = geometric_tail(epsilon, trips, tau - trips)  # P(4 + X >= tau), exact
    assert concentrated <= worst_case_delta(epsilon, tau, trips, trips) <= delta
    one_per_pair = selection_threshold(epsilon, delta, trips)  # assumes each person adds 1 to a pair
    assert worst_case_delta(epsilon, one_per_pair, trips, trips) > 400 * delta
    for eps in (1.0, 3.0, 5.0, 20.0):
        assert worst_case_delta(eps, selection_threshold(eps, delta, trips, trips), trips, trips) <= delta


@pytest.mark.slow
def test_exact_selection_tail_matches_sampled_noise_where_delta_is_large_enough_to_sample():
    epsilon, delta, trips = 1.0, 0.05, 4
    tau = selection_threshold(epsilon, delta, trips, trips)
    exact = geometric_tail(epsilon, trips, tau - trips)
    noisy = add_discrete_noise(np.full(DRAWS, trips, dtype=np.int64), epsilon, trips)
    low, high = _cp(int((noisy >= tau).sum()), DRAWS, 1e-4)
    assert low <= exact <= high
    assert worst_case_delta(epsilon, tau, trips, trips) <= delta


def _release(values: dict[int, int], epsilon: float) -> pd.DataFrame:
    cells = list(values)
    noisy = add_discrete_noise(np.array([values[c] for c in cells], dtype=np.int64), epsilon, 1)
    return pd.DataFrame({"h3_cell": cells, "bin_start": pd.Timestamp("2026-03-02 07:00"), "bin_minutes": 60,
                         "value": noisy})


def test_derivation_refuses_distinct_people_at_a_coarser_cut_and_a_too_large_release_epsilon():
    parent = h3.latlng_to_cell(55.676, 12.568, 8)
    children = [cell_to_int(c) for c in sorted(h3.cell_to_children(parent, 9))]
    release = _release(dict.fromkeys(children, 30), 1.0)
    with pytest.raises(DerivationRefused, match="not additive"):
        sum_into_cut(release, "unique_people", h3_resolution=8)
    with pytest.raises(DerivationRefused, match="not additive"):
        sum_into_cut(release, "unique_people", bin_minutes=1440)
    summed = sum_into_cut(release, "footfall", h3_resolution=8)
    assert len(summed) == 1 and summed["value"].iloc[0] == release["value"].sum()
    day = sum_into_cut(release, "footfall", bin_minutes=1440)
    assert set(day["bin_start"]) == {pd.Timestamp("2026-03-01 23:00")}   # local midnight of 2 March


def _store_release(release_id: str, metric: str, frame: pd.DataFrame, epsilon: float, logged_epsilon: float):
    """A stored release as the engine leaves it: ledger spend, gold/releases rows, release log row."""
    import dataclasses
    import json

    import pyarrow as pa

    from jobs.common import lake, tables
    from jobs.privacy import ledger
    from jobs.privacy.release import draw_digest

    spend = ledger.Spend(contract_id="src", contract_version="1.0.0", release_id=release_id, sources=("telco",),
                         unit="person", window_start=dt.date(2026, 3, 2), window_end=dt.date(2026, 3, 3),
                         epsilon=epsilon, delta=0.0, rho=epsilon ** 2 / 2, mechanism="geometric", sensitivity=1,
                         budget_epsilon_per_period=10.0)
    entry = ledger.record_spend(dataclasses.replace(spend))
    rows = frame.assign(release_id=release_id, ledger_entry_id=entry["entry_id"], metric=metric)
    lake.append_arrow(tables.RELEASES.path(), pa.Table.from_pandas(rows, preserve_index=False),
                      partition_by=["release_id"])
    stored = tables.RELEASES.read_arrow(partitions={"release_id": release_id})
    ledger.record_draw(entry, stored.num_rows, draw_digest(stored))
    tables.RELEASE_LOG.append([{"release_id": release_id, "ledger_entry_id": entry["entry_id"],
                                "plan": json.dumps({"metric": metric, "epsilon": logged_epsilon}),
                                "created_at": dt.datetime.now(dt.UTC), "ledger_seq": entry["seq"],
                                "ledger_head": entry["row_hash"]}])


def test_derivation_takes_metric_and_epsilon_from_the_stored_release_and_its_ledger_entry(lake_root):
    parent = h3.latlng_to_cell(55.676, 12.568, 8)
    children = [cell_to_int(c) for c in sorted(h3.cell_to_children(parent, 9))]
    _store_release("rel-people", "unique_people", _release(dict.fromkeys(children, 30), 1.0), 1.0, 1.0)
    _store_release("rel-events", "footfall", _release(dict.fromkeys(children, 30), 1.0), 1.0, 1.0)
    _store_release("rel-costly", "footfall", _release(dict.fromkeys(children, 30), 2.0), 2.0, 2.0)
    _store_release("rel-forged", "footfall", _release(dict.fromkeys(children, 30), 2.0), 2.0, 0.5)
    # distinct people stay distinct people, whatever a caller would like them to be
    with pytest.raises(DerivationRefused, match="not additive"):
        derive_from_release("rel-people", contract_epsilon=1.0, h3_resolution=8)
    summed = derive_from_release("rel-events", contract_epsilon=1.0, h3_resolution=8)
    assert len(summed) == 1
    with pytest.raises(DerivationRefused, match="above the contract"):
        derive_from_release("rel-costly", contract_epsilon=1.0, h3_resolution=8)
    # a release log that understates the spend is caught by the ledger entry
    with pytest.raises(DerivationRefused, match="ledger entry 2"):
        derive_from_release("rel-forged", contract_epsilon=1.0, h3_resolution=8)
    with pytest.raises(DerivationRefused, match="no stored release"):
        derive_from_release("rel-missing", contract_epsilon=1.0)


@pytest.mark.slow
def test_differencing_two_overlapping_products_gives_no_advantage_beyond_dp():
    """Two buyers' areas differ by one cell holding one planted person; both products are derived from one
    release. An attacker who subtracts them learns only that cell's noisy value."""
    epsilon, trials = 1.0, 2_000
    parent = h3.latlng_to_cell(55.676, 12.568, 8)
    children = sorted(h3.cell_to_children(parent, 9))
    planted_cell = children[0]
    area_a, area_b = children, children[1:]
    wins = 0
    for trial in range(trials):
        present = trial % 2 == 0
        values = {cell_to_int(c): 20 for c in children}
        values[cell_to_int(planted_cell)] += 1 if present else 0
        release = _release(values, epsilon)
        a = sum_into_cut(release, "footfall", cells=area_a, h3_resolution=8)["value"].sum()
        b = sum_into_cut(release, "footfall", cells=area_b, h3_resolution=8)["value"].sum()
        guess = (a - b) >= 21  # the best threshold between 20 and 21
        wins += guess == present
    bound = math.exp(epsilon) / (1 + math.exp(epsilon))   # best possible accuracy under epsilon-DP
    low, _ = _cp(wins, trials, 1e-3)
    assert low <= bound


def test_od_pairs_and_segments_sum_into_parent_cells_per_segment_value():
    """Origin and destination both move to their parents; segment values and bins stay apart."""
    import datetime as dt

    import h3

    from jobs.common.h3cells import cell_to_int

    parent = h3.latlng_to_cell(55.68, 12.57, 7)
    a, b = sorted(h3.cell_to_children(parent, 8))[:2]
    bin_start = pd.Timestamp(dt.datetime(2026, 3, 2, 23))
    rows = [(a, a, "bus", 5), (a, b, "bus", 7), (b, a, "bus", -2), (a, b, "rail", 11)]
    release = pd.DataFrame({
        "h3_cell": [cell_to_int(o) for o, *_ in rows], "destination_h3": [cell_to_int(d) for _, d, *_ in rows],
        "bin_start": [bin_start] * len(rows), "bin_minutes": [1440] * len(rows), "segment": [None] * len(rows),
        "country": [None] * len(rows), "mode": [m for *_, m, _ in rows], "value": [v for *_, v in rows]})
    out = sum_into_cut(release, "od_trips", h3_resolution=7)
    assert set(out.columns) >= {"h3_cell", "destination_h3", "mode", "metric", "value"}
    assert "segment" not in out.columns  # unset segment columns are not keys
    assert dict(zip(out["mode"], out["value"], strict=True)) == {"bus": 10, "rail": 11}
    assert set(out["h3_cell"]) == set(out["destination_h3"]) == {cell_to_int(parent)}
    kept = sum_into_cut(release, "od_trips", cells=[a])  # a pair is kept only when both ends are kept
    assert kept["value"].tolist() == [5]


def test_a_release_is_read_only_from_its_newest_spends_rows(lake_root):
    """The ledger fences the table: rows written under an older spend (a writer that had lost its lock) or a
    partition mixing two spends are never read."""
    import dataclasses

    from jobs.errors import StorageFault
    from jobs.privacy import ledger
    from jobs.privacy.release import read_release

    cells = [cell_to_int(c) for c in sorted(h3.cell_to_children(h3.latlng_to_cell(55.676, 12.568, 8), 9))]
    _store_release("rel-fenced", "footfall", _release(dict.fromkeys(cells, 30), 1.0), 1.0, 1.0)
    assert read_release("rel-fenced").num_rows == len(cells)
    entries = ledger.read_entries()
    spend = entries[entries["kind"] == "spend"].iloc[-1]
    again = ledger.Spend(contract_id="src", contract_version="1.0.0", release_id="rel-fenced", sources=("telco",),
                         unit="person", window_start=dt.date(2026, 3, 2), window_end=dt.date(2026, 3, 3),
                         epsilon=1.0, delta=0.0, rho=0.5, mechanism="geometric", sensitivity=1,
                         budget_epsilon_per_period=10.0)
    with pytest.raises(ledger.SpendConflict, match=f"spend {spend['entry_id']} is not recorded lost"):
        ledger.record_spend(dataclasses.replace(again))  # one spend per release id
    ledger.record_lost(spend.to_dict(), "test: the holder that took the lease over found no rows")
    newer = ledger.record_spend(dataclasses.replace(again))  # a second spend whose holder then drew and stored
    assert newer["entry_id"] != spend["entry_id"]
    with pytest.raises(StorageFault, match=f"newest spend of that release is {newer['entry_id']}"):
        read_release("rel-fenced")


def test_stored_rows_that_differ_from_the_recorded_draw_are_never_read_nor_derived(lake_root):
    """Each spend's draw row holds the stored rows' count and sha256; a value changed afterwards (same spend
    id, so the fence alone would pass it) is refused by every reader: reads, derivations and the audit's check."""
    import pyarrow as pa

    from jobs.common import lake, tables
    from jobs.errors import DerivationRefused, StorageFault
    from jobs.privacy import derive_from_release, ledger, verified_draw, verify_draws
    from jobs.privacy.release import draw_digest, read_release

    cells = [cell_to_int(c) for c in sorted(h3.cell_to_children(h3.latlng_to_cell(55.676, 12.568, 8), 9))]
    _store_release("rel-hashed", "footfall", _release(dict.fromkeys(cells, 30), 1.0), 1.0, 1.0)
    stored = read_release("rel-hashed")
    draw = verified_draw("rel-hashed")
    assert verify_draws() == []
    assert draw["rows"] == stored.num_rows and draw["sha256"] == draw_digest(stored)
    assert draw["spend"] == stored.column("ledger_entry_id")[0].as_py()
    assert draw_digest(stored.take(list(range(stored.num_rows))[::-1])) == draw["sha256"]  # order-free
    frame = stored.to_pandas()
    frame.loc[0, "value"] += 1  # one value edited in place, under the same spend
    lake.overwrite_arrow(tables.RELEASES.path(), pa.Table.from_pandas(frame, preserve_index=False),
                         predicate="release_id = 'rel-hashed'", partition_by=["release_id"])
    assert tables.RELEASES.read_arrow(partitions={"release_id": "rel-hashed"}).num_rows == stored.num_rows
    with pytest.raises(StorageFault, match="differ from the draw its spend"):
        read_release("rel-hashed")
    with pytest.raises(StorageFault, match="differ from the draw its spend"):
        verified_draw("rel-hashed")
    with pytest.raises((StorageFault, DerivationRefused)):
        derive_from_release("rel-hashed", contract_epsilon=10.0, h3_resolution=8)
    (problem,) = verify_draws()  # what cde audit ledger reports (exit 1)
    assert "rel-hashed" in problem and "differ from the draw" in problem
    assert (ledger.read_entries()["kind"] == "draw").sum() == 1


@pytest.mark.spark
def test_one_maximal_person_moves_present_population_by_at_most_one_person_per_kept_bin(spark):
    from jobs.ingest.footprints import footprint_units
    from jobs.privacy.measures import get_measure
    from jobs.privacy.measures.bounders import UNITS_PER_PERSON, InstantsPerDay
    from jobs.privacy.measures.present_population import spread_instants

    day, max_bins = dt.date(2026, 3, 2), 4
    centre = h3.latlng_to_cell(55.676, 12.568, 10)
    tiles = [cell_to_int(c) for c in sorted(h3.grid_disk(centre, 12))]
    rng = np.random.default_rng(11)  # test data, not privacy code
    # three cells whose footprints overlap, with uneven weights (so units are rounded)
    footprint = pd.concat([pd.DataFrame({"cell_id": name, "h3_cell": tiles,
                                         "weight": (w := rng.random(len(tiles)) ** 3) / w.sum()})
                           for name in ("A", "B", "C")])
    units = footprint_units(footprint.assign(source="telco", valid_date=day), 9, UNITS_PER_PERSON)
    serving = pd.DataFrame({"source": ["telco"], "event_date": [day], "valid_date": [day]})
    bins = [dt.datetime(2026, 3, 2, h) for h in range(8)]
    base = [(int(p), "telco", day, bins[int(rng.integers(0, 8))], str(rng.choice(["A", "B", "C"])), tiles[0])
            for p in range(300)]
    maximal = [(10_000, "telco", day, b, "ABC"[i % 3], tiles[0]) for i, b in enumerate(bins)]  # every bin
    schema = "pseudo_id long, source string, event_date date, instant timestamp, cell_id string, h3_cell long"
    measure, bounder = get_measure("present_population"), InstantsPerDay(max_bins)
    keys = measure.keys(())

    def exact(rows):
        frame = spark.createDataFrame(rows, schema).selectExpr("*", "0 as key_period", "'238' as home_mcc")
        cut = spread_instants(spark, frame, units, serving, 9, 60)
        return measure.aggregate(bounder.bound(cut, keys), keys).toPandas().set_index(keys)["value"]

    without, with_p = exact(base), exact(base + maximal)
    change = with_p.subtract(without, fill_value=0)
    assert (change >= 0).all()
    assert change.sum() == max_bins * UNITS_PER_PERSON == bounder.l1_per_day()  # whole person in each kept bin
    assert change.groupby(level="bin_start").sum().max() <= UNITS_PER_PERSON
    assert math.sqrt((change ** 2).sum()) <= bounder.l2_per_day()
    assert change[change > 0].groupby(level="bin_start").ngroups == max_bins
