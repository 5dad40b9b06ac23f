"""Negotiation in a real browser (issue 33): a buyer requests a product from an offer; one supplier's officer
answers with a counter-offer, the buyer accepts, the other supplier's officer agrees; the contract goes live,
the next publish (the DAG's own task function) delivers it and the buyer sees it in the workspace. A request
breaking a supplier's rule is refused, naming the rule."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.slow]

OFFER = "movia-od-market"  # nordic-telco's and movia-transit's data


@pytest.mark.parametrize("portal_db", ["sqlite"], indirect=True)
def test_request_counter_offer_agreement_and_first_delivery_in_a_real_browser(served, store, login_in, shot,
                                                                             simulated_day):
    from jobs.airflow.tasks import publish_contract

    url = served["url"]
    buyer, asked = login_in(url, "kk-anna")
    buyer.goto(f"{url}/catalog/{OFFER}")
    buyer.click("#request-link")
    assert buyer.url.endswith(f"/catalog/{OFFER}/request")

    # a purpose the telco refuses: refused before any officer sees it, naming the rule
    buyer.fill("#purpose", "Advertising to commuters on the metro's screens")
    buyer.click("button:has-text('Send the request')")
    refusal = buyer.inner_text("#request-errors")
    assert "nordic-telco" in refusal and "rule refused_purposes" in refusal
    shot(buyer, "request-refused")

    buyer.fill("#purpose", "Planning metro capacity between the city's districts")
    buyer.click("button:has-text('Send the request')")
    assert buyer.inner_text("#state") == "REQUESTED"
    where = buyer.url

    # the telco's officer finds it in the queue and counters with half the epsilon (k computed)
    telco, _ = login_in(url, "telco-dpo")
    telco.click("nav >> text=Requests")
    telco.click(f"a[href='{where.removeprefix(url)}']")
    telco.select_option("#counter-epsilon", "0.125")
    telco.click("button:has-text('Send the counter-offer')")
    assert telco.inner_text("#state") == "OFFERED"
    shot(telco, "negotiation-counter-offer")

    buyer.reload()
    assert "0.125 per person per release" in buyer.inner_text("#term-epsilon")
    buyer.click("button:has-text('Accept the counter-offer')")
    assert buyer.inner_text("#state") == "ACCEPTED"

    movia, _ = login_in(url, "movia-dpo")
    movia.goto(where)
    movia.click("button:has-text('Agree to these terms')")
    assert movia.inner_text("#state") == "FINALIZED"
    history = movia.inner_text("#steps")
    assert "telco-dpo" in history and "movia-dpo" in history and "VERIFIED" in history
    shot(movia, "negotiation-finalized")
    contract_id = movia.inner_text("h1").split(": ", 1)[1]

    # the next publish, through the DAG's task function, delivers it; the buyer sees it in the workspace
    out = publish_contract(contract_id, simulated_day.day.isoformat())
    buyer.goto(f"{url}/buyer")
    workspace = buyer.inner_text("main")
    assert contract_id in workspace and out["delivery_id"] in workspace
    buyer.click(f"a[href='/buyer/deliveries/{contract_id}/{out['delivery_id']}']")
    assert buyer.locator("svg.delivery-map").count() == 1
    shot(buyer, "negotiated-delivery")
    assert all(u.startswith(url) for u in asked)  # nothing loaded from elsewhere
