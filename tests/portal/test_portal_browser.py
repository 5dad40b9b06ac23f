"""The portal in a real browser (Playwright for Python driving Debian's Chromium, headless, no download): a
buyer logs in, browses the catalogue, opens a delivery's map and chart and downloads its files; an officer
reads a contract's review page and an audit; an operator reads the run page. Screenshots of each page are
written to the test's folder, and to docs/screenshots/ with CDE_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.slow]

@pytest.mark.parametrize("portal_db", ["sqlite"], indirect=True)
def test_each_role_does_its_first_tasks_in_a_real_browser(served, browser, tmp_path, login_in, shot):
    url, results = served["url"], served["results"]
    contract = "kk-inner-city-presence"
    delivery = results[contract]["delivery_id"]

    # a buyer: catalogue, then a delivery's map and chart, then its files
    page, asked = login_in(url, served["people"]["buyer"])
    assert page.url.endswith("/buyer") and delivery in page.inner_text("main")
    page.click("text=Catalogue")
    assert page.locator("table tbody tr").count() >= 5
    page.click(f"a[href='/catalog/{contract}']")
    assert "Expected accuracy" in page.inner_text("main") and "95% of released values within" in page.inner_text("main")
    assert "people of the true value" in page.inner_text("main")  # the interval in the metric's unit
    assert page.locator("svg[aria-label^='area of']").count() == 1 and page.title().endswith("· Catalogue")
    shot(page, "catalogue-offer")
    page.goto(f"{url}/buyer")
    page.click(f"a[href='/buyer/deliveries/{contract}/{delivery}']")
    assert page.locator("svg.delivery-map polygon").count() > 10
    assert "in unique_people: people" in page.inner_text("main")  # each metric's unit (hundredths for some)
    assert page.locator("svg.delivery-map .legend text", has_text="suppressed").count() == 1
    hover = page.locator("svg.delivery-map polygon").first.locator("title").text_content()
    assert ("suppressed" in hover) or ("95% interval" in hover) or ("±" in hover)
    released = page.locator("svg.value-chart circle.released")
    assert released.count() + page.locator("svg.value-chart circle.suppressed").count() > 1
    shot(page, "buyer-delivery")
    with page.expect_download() as download:
        page.click("a:has-text('data.csv')")
    saved = tmp_path / "data.csv"
    download.value.save_as(saved)
    outbox = Path(results[contract]["outbox"])
    assert saved.read_bytes() == (outbox / "data.csv").read_bytes()
    assert all(u.startswith(url) for u in asked), [u for u in asked if not u.startswith(url)]  # nothing external

    # a privacy officer: the review page, then an audit
    page, asked = login_in(url, served["people"]["officer"])
    page.click(f"a[href='/officer/contracts/{contract}']")
    text = page.inner_text("main")
    assert "suppressed" in text and "each delivery costs epsilon" in text and "Approvals" in text
    shot(page, "officer-review")
    page.click(f"a[href='/officer/audits/{contract}/{delivery}']")
    page.wait_for_load_state()
    assert delivery in page.content()
    shot(page, "officer-audit")

    # an operator: the run page
    page, asked = login_in(url, served["people"]["operator"])
    assert page.url.endswith("/operator")
    runs = page.locator("table.small tbody tr")
    assert runs.count() >= 4 and "succeeded" in page.inner_text("table.small")
    assert page.locator("#silver-builds tbody tr").count() >= 3 and "telco" in page.inner_text("#silver-builds")
    assert page.title() == "Runs · City Data Exchange"
    shot(page, "operator-runs")
