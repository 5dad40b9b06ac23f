"""The portal in a real browser (Playwright for Python driving Debian's Chromium, headless, no download): a
buyer logs in, browses the catalogue, opens a delivery's map and chart and downloads its files; an officer
reads a contract's review page and an audit; an operator reads the run page. Screenshots of each page are
written to the test's folder, and to docs/screenshots/ with CDE_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.slow]

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def browser():
    if not BROWSER:
        pytest.skip("chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=BROWSER, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield launched
        launched.close()


def _shot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"portal-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one
    if os.environ.get("CDE_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / path.name)


def _login(browser, url: str, name: str):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 900})
    requests_out = []
    context.on("request", lambda r: requests_out.append(r.url))
    page = context.new_page()
    page.goto(f"{url}/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]:has-text('Log in')")
    page.wait_for_load_state()
    return page, requests_out


@pytest.mark.parametrize("portal_db", ["sqlite"], indirect=True)
def test_each_role_does_its_first_tasks_in_a_real_browser(served, browser, tmp_path):
    url, results = served["url"], served["results"]
    contract = "kk-inner-city-presence"
    delivery = results[contract]["delivery_id"]

    # a buyer: catalogue, then a delivery's map and chart, then its files
    page, asked = _login(browser, url, served["people"]["buyer"])
    assert page.url.endswith("/buyer") and delivery in page.inner_text("main")
    page.click("text=Catalogue")
    assert page.locator("table tbody tr").count() >= 5
    page.click(f"a[href='/catalog/{contract}']")
    assert "Expected accuracy" in page.inner_text("main") and "95% of released values within" in page.inner_text("main")
    assert page.locator("svg[aria-label^='area of']").count() == 1 and page.title().endswith("· Catalogue")
    _shot(page, tmp_path, "catalogue-offer")
    page.goto(f"{url}/buyer")
    page.click(f"a[href='/buyer/deliveries/{contract}/{delivery}']")
    assert page.locator("svg.delivery-map polygon").count() > 10
    assert page.locator("svg.delivery-map .legend text", has_text="suppressed").count() == 1
    hover = page.locator("svg.delivery-map polygon").first.locator("title").text_content()
    assert ("suppressed" in hover) or ("95% interval" in hover) or ("±" in hover)
    released = page.locator("svg.value-chart circle.released")
    assert released.count() + page.locator("svg.value-chart circle.suppressed").count() > 1
    _shot(page, tmp_path, "buyer-delivery")
    with page.expect_download() as download:
        page.click("a:has-text('data.csv')")
    saved = tmp_path / "data.csv"
    download.value.save_as(saved)
    outbox = Path(results[contract]["outbox"])
    assert saved.read_bytes() == (outbox / "data.csv").read_bytes()
    assert all(u.startswith(url) for u in asked), [u for u in asked if not u.startswith(url)]  # nothing external

    # a privacy officer: the review page, then an audit
    page, asked = _login(browser, url, served["people"]["officer"])
    page.click(f"a[href='/officer/contracts/{contract}']")
    text = page.inner_text("main")
    assert "suppressed" in text and "each delivery costs epsilon" in text and "Approvals" in text
    _shot(page, tmp_path, "officer-review")
    page.click(f"a[href='/officer/audits/{contract}/{delivery}']")
    page.wait_for_load_state()
    assert delivery in page.content()
    _shot(page, tmp_path, "officer-audit")

    # an operator: the run page
    page, asked = _login(browser, url, served["people"]["operator"])
    assert page.url.endswith("/operator")
    runs = page.locator("table.small tbody tr")
    assert runs.count() >= 4 and "succeeded" in page.inner_text("table.small")
    assert page.locator("#silver-builds tbody tr").count() >= 3 and "telco" in page.inner_text("#silver-builds")
    assert page.title() == "Runs · City Data Exchange"
    _shot(page, tmp_path, "operator-runs")
