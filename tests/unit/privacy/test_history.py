"""A segment product needs its look-back of ingested history inside one pseudonym-key period; earlier
deliveries are refused before anything is spent (issue 13, check 4)."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from jobs.common import lake, settings
from jobs.errors import ReleaseRefused
from jobs.ingest.pseudonym import key_period
from jobs.privacy import ledger
from jobs.privacy.plan import plan_for
from jobs.privacy.release import make_release, require_history
from jobs.publish.portfolio import parse_contract

EXAMPLE = settings.REPO_ROOT / "contracts" / "kk-inner-city-presence.yaml"


def _segment_contract():
    doc = yaml.safe_load(EXAMPLE.read_text())
    for item in doc["customProperties"]:
        if item["property"] == "segments":
            item["value"] = ["segment"]
        if item["property"] == "k":
            item["value"] = 570  # the phantom rule's k at the doubled sensitivity, on the 25-hour day
        if item["property"] == "budget_epsilon_per_period":
            item["value"] = 22.0  # 30 + 13 look-back days of releases can overlap one window
    return parse_contract(doc, "segments.yaml", EXAMPLE.parent)


def _rotation_after(day: dt.date) -> dt.date:
    while key_period(day) == key_period(day - dt.timedelta(days=1)):
        day += dt.timedelta(days=1)
    return day


def test_a_segment_release_without_its_look_back_is_refused_before_any_spend(spark, lake_root):
    contract = _segment_contract()
    day = _rotation_after(dt.date(2026, 3, 1)) + dt.timedelta(days=20)  # well inside one key period
    plan = plan_for(contract, "unique_people", day, day + dt.timedelta(days=1))
    assert plan.lookback_days == 13
    with pytest.raises(ReleaseRefused, match=r"needs its 13-day look-back ingested before .*: 14 source-day\(s\) "
                                             r"missing .*nothing was spent"):
        make_release(spark, plan)
    assert not lake.exists(ledger.ledger_path())


def test_a_look_back_across_a_key_rotation_is_refused_and_says_when_deliveries_resume():
    contract = _segment_contract()
    rotation = _rotation_after(dt.date(2026, 3, 1))
    day = rotation + dt.timedelta(days=5)
    plan = plan_for(contract, "unique_people", day, day + dt.timedelta(days=1))
    with pytest.raises(ReleaseRefused) as err:
        require_history(plan)
    message = str(err.value)
    assert f"crosses the key rotation of {rotation}" in message
    assert f"deliveries resume with the window starting {rotation + dt.timedelta(days=13)}" in message
    # A product without look-back is never held back by the rotation.
    plain = plan_for(parse_contract(yaml.safe_load(EXAMPLE.read_text()), "x.yaml", EXAMPLE.parent),
                     "unique_people", day, day + dt.timedelta(days=1))
    require_history(plain)


def test_the_key_period_keeps_segment_products_dark_for_at_most_a_sixth_of_the_days():
    lookback = settings.ANCHOR_WINDOW_DAYS - 1
    assert lookback / settings.KEY_ROTATION_DAYS < 1 / 6
