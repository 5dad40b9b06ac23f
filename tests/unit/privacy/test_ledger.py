"""The budget ledger: check before spend, refusals recorded, windows, hash chain."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from jobs.common import lake
from jobs.privacy import ledger

BASE = ledger.Spend(
    contract_id="c1", contract_version="1.0.0", release_id="r", sources=("telco",), unit="person",
    window_start=dt.date(2026, 3, 2), window_end=dt.date(2026, 3, 3), epsilon=1.0, delta=0.0, rho=0.5,
    mechanism="geometric", sensitivity=12, budget_epsilon_per_period=3.0,
)


def _spend(day: int, **kw) -> ledger.Spend:
    start = dt.date(2026, 3, day)
    return dataclasses.replace(BASE, window_start=start, window_end=start + dt.timedelta(days=1),
                               release_id=f"r{day}-{kw.get('contract_id', 'c1')}", **kw)


def test_spends_until_the_contract_budget_then_refuses_with_the_figures(lake_root):
    for day in (2, 10, 20):
        ledger.record_spend(_spend(day))
    with pytest.raises(ledger.BudgetExceeded) as err:
        ledger.record_spend(_spend(25))
    message = str(err.value)
    assert "c1" in message and "budget_epsilon_per_period 3" in message
    assert "spent 3" in message and "left 0" in message and "asked 1" in message
    entries = ledger.read_entries()
    assert entries["kind"].tolist() == ["spend", "spend", "spend", "refusal"]
    assert entries["epsilon"].sum() == 3.0   # the refusal spent nothing
    assert ledger.verify_chain() == 4


def test_days_outside_one_window_do_not_add_up(lake_root):
    # Days 32 days apart never share a 30-day window.
    for day in (1, 2, 3):
        ledger.record_spend(_spend(day))
    later = dataclasses.replace(_spend(1), window_start=dt.date(2026, 4, 5), window_end=dt.date(2026, 4, 6),
                                release_id="later")
    ledger.record_spend(later)
    assert (ledger.read_entries()["kind"] == "spend").sum() == 4


def test_global_cap_counts_every_contract(lake_root, monkeypatch):
    monkeypatch.setattr(ledger.settings, "GLOBAL_EPSILON_CAP", 2.5)
    ledger.record_spend(_spend(2, contract_id="a"))
    ledger.record_spend(_spend(3, contract_id="b"))
    with pytest.raises(ledger.BudgetExceeded, match="global epsilon cap 2.5"):
        ledger.record_spend(_spend(4, contract_id="c"))


def test_delta_cap(lake_root):
    spend = dataclasses.replace(_spend(2), delta=2e-6, mechanism="gaussian_discrete")
    with pytest.raises(ledger.BudgetExceeded, match="global delta cap"):
        ledger.record_spend(spend)


def test_an_edited_row_breaks_the_chain(lake_root):
    for day in (2, 3):
        ledger.record_spend(_spend(day))
    table = lake.read_arrow(ledger.ledger_path()).to_pandas().sort_values("seq")
    table.loc[table["seq"] == 0, "epsilon"] = 0.1   # someone shrinks an old spend
    write_deltalake(str(ledger.ledger_path()), pa.Table.from_pandas(table, schema=ledger.SCHEMA,
                                                                    preserve_index=False), mode="overwrite")
    with pytest.raises(ledger.LedgerTampered):
        ledger.verify_chain()
    # And nothing more can be spent on a tampered ledger.
    with pytest.raises(ledger.LedgerTampered):
        ledger.record_spend(_spend(4))


def test_a_lookback_widens_the_windows_a_release_counts_in(lake_root):
    # Spends on 2, 3 and 4 March fill the budget of 3 in every 30-day window holding one of those days.
    for day in (2, 3, 4):
        ledger.record_spend(_spend(day))
    # A release of 5 April whose data reaches back 2 days (to 3 April) shares no window with 4 March: it fits.
    ledger.record_spend(dataclasses.replace(_spend(2), release_id="april", window_start=dt.date(2026, 4, 5),
                                            window_end=dt.date(2026, 4, 6), lookback_days=2))
    # With a 14-day look-back its data reaches 22 March, inside a window that also holds 2-4 March: refused.
    with pytest.raises(ledger.BudgetExceeded):
        ledger.record_spend(dataclasses.replace(_spend(2), release_id="april2", window_start=dt.date(2026, 4, 5),
                                                window_end=dt.date(2026, 4, 6), lookback_days=14))
    summary = ledger.summary("c1", 3.0, dt.date(2026, 3, 2), dt.date(2026, 3, 3))
    assert summary["global_rho_spent"] == pytest.approx(1.5)
    composed = summary["global_composed"]  # three releases of epsilon 1: the Rényi figure is not tighter here
    assert composed["basic_epsilon"] == 3.0 and composed["epsilon"] == 3.0 and composed["method"] == "basic composition"
    assert composed["renyi_epsilon"] > 3.0


def test_audit_figures_cover_the_lookback_windows_the_check_uses(lake_root):
    """A segment release with a 13-day look-back is checked against windows that reach back to 1 March; its
    audit's spent / left must count them too, so "left" is exactly what the ledger would still allow."""
    ledger.record_spend(dataclasses.replace(_spend(1), contract_id="other", epsilon=5.0,
                                            budget_epsilon_per_period=10.0))
    april = dict(window_start=dt.date(2026, 4, 5), window_end=dt.date(2026, 4, 6), lookback_days=13)
    figures = ledger.summary("c1", 10.0, april["window_start"], april["window_end"], lookback_days=13)
    assert figures["global_epsilon_spent"] == 5.0
    assert figures["global_epsilon_left"] == ledger.settings.GLOBAL_EPSILON_CAP - 5.0
    entries = ledger.read_entries()
    fits = dataclasses.replace(BASE, release_id="seg", epsilon=figures["global_epsilon_left"],
                               budget_epsilon_per_period=100.0, **april)
    assert ledger.check(entries, fits) is None
    assert ledger.check(entries, dataclasses.replace(fits, epsilon=fits.epsilon + 0.01)) is not None
    # without the look-back the same dates would not see the 1 March spend
    assert ledger.summary("c1", 10.0, april["window_start"], april["window_end"])["global_epsilon_spent"] == 0.0


def test_the_renyi_figure_adds_partition_selection_deltas_and_states_its_delta(lake_root):
    for day in range(2, 32):  # thirty small releases in one window: the accountant is tighter than the sum
        ledger.record_spend(dataclasses.replace(_spend(day), epsilon=0.1, rho=0.005, delta=1e-9,
                                                budget_epsilon_per_period=10.0))
    figures = ledger.summary("c1", 10.0, dt.date(2026, 3, 16), dt.date(2026, 3, 17))
    assert figures["selection_delta_spent"] == pytest.approx(30e-9)
    composed = figures["global_composed"]
    assert composed["basic_epsilon"] == pytest.approx(3.0) and composed["method"] == "Rényi accountant"
    assert composed["epsilon"] == composed["renyi_epsilon"] < 3.0
    assert composed["delta"] == pytest.approx(ledger.settings.GLOBAL_DELTA_CAP + 30e-9)
    assert "basic composition 3 " in composed["text"] and "Rényi figure is tighter" in composed["text"]


def test_wifi_releases_have_their_own_cap_and_a_mixed_release_counts_in_both(lake_root):
    cap = ledger.settings.WIFI_EPSILON_CAP
    wifi = dataclasses.replace(BASE, sources=("wifi",), unit="device-network", epsilon=cap / 2,
                               budget_epsilon_per_period=1000.0)
    ledger.record_spend(dataclasses.replace(wifi, release_id="w1"))
    ledger.record_spend(dataclasses.replace(wifi, release_id="w2"))  # the device-network cap is used up
    person = dataclasses.replace(wifi, sources=("telco",), unit="person", release_id="t1", epsilon=5.0)
    ledger.record_spend(person)  # people have their own cap: still cap - 5 left
    mixed = dataclasses.replace(person, sources=("telco", "wifi"), unit="device-network+person", release_id="m1")
    with pytest.raises(ledger.BudgetExceeded, match="per device-network"):
        ledger.record_spend(mixed)
    figures = ledger.summary("c1", 1000.0, BASE.window_start, BASE.window_end, unit="device-network+person")
    assert figures["unit_class"] == "device-network" and figures["global_epsilon_left"] == 0.0
    assert ledger.summary("c1", 1000.0, BASE.window_start, BASE.window_end)["global_epsilon_left"] == \
        ledger.settings.GLOBAL_EPSILON_CAP - 5.0


def test_a_use_of_a_shared_release_counts_once_against_its_contract_and_never_globally(lake_root, monkeypatch):
    monkeypatch.setattr(ledger.settings, "GLOBAL_EPSILON_CAP", 3.0)
    spend = ledger.record_spend(_spend(2, contract_id="parent"))
    use = dataclasses.replace(_spend(2, contract_id="parent"), contract_id="child", budget_epsilon_per_period=1.5)
    first = ledger.record_use(use)
    assert ledger.record_use(use)["entry_id"] == first["entry_id"]  # a rerun finds its use: counted once
    entries = ledger.read_entries()
    assert entries["kind"].tolist() == ["spend", "use"]
    assert entries["release_id"].nunique() == 1 and first["entry_id"] != spend["entry_id"]
    # The global cap holds the release once: two more spends of 1 fit the cap of 3 only because the use
    # does not count there.
    ledger.record_spend(_spend(3, contract_id="other"))
    figures = ledger.summary("child", 1.5, dt.date(2026, 3, 2), dt.date(2026, 3, 3))
    assert figures["contract_epsilon_spent"] == 1.0 and figures["global_epsilon_spent"] == 2.0
    # The child's own budget counts its uses: a second use of another release does not fit 1.5.
    ledger.record_spend(dataclasses.replace(_spend(4, contract_id="parent"), budget_epsilon_per_period=3.0))
    with pytest.raises(ledger.BudgetExceeded, match="contract child: budget_epsilon_per_period 1.5"):
        ledger.record_use(dataclasses.replace(_spend(4, contract_id="parent"), contract_id="child",
                                              budget_epsilon_per_period=1.5))
    assert ledger.read_entries()["kind"].tolist()[-1] == "refusal"
    assert ledger.verify_chain() == 5  # spend, use, spend, spend, refusal


def test_one_spend_per_release_id_unless_the_earlier_one_is_recorded_lost(lake_root):
    first = ledger.record_spend(_spend(2))
    drawn = ledger.record_draw(first, 12, "ab" * 32)
    assert drawn["kind"] == "draw" and drawn["epsilon"] == 0.0  # the outcome row costs nothing
    assert ledger.draw_of(ledger.read_entries(), first["entry_id"]) == {"seq": 1, "rows": 12, "sha256": "ab" * 32}
    with pytest.raises(ledger.SpendConflict, match=f"spend {first['entry_id']} is not recorded lost"):
        ledger.record_spend(_spend(2))  # a stored draw is never drawn again
    ledger.record_lost(first, "test: its rows were lost")
    second = ledger.record_spend(_spend(2))
    with pytest.raises(ledger.SpendConflict, match=second["entry_id"]):
        ledger.record_spend(_spend(2))
    entries = ledger.read_entries()
    assert entries["kind"].tolist() == ["spend", "draw", "refusal", "lost", "spend", "refusal"]
    assert entries["epsilon"].sum() == 2.0 and ledger.verify_chain() == 6
    assert ledger.spends_not_lost(entries, "r2-c1")["entry_id"].tolist() == [second["entry_id"]]
