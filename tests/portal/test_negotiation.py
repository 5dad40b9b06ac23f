"""Negotiation in the portal (issue 33): a request validated as ``cde contracts validate`` validates, each
error beside its field; a supplier's rules refusing a request before any officer sees it; counter-offers
with a computed k; Dataspace Protocol states with who and when; the agreed contract in the store with each
officer's identity in ``ops/contract_approvals``. The same tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

from jobs.common import settings

OFFER = "movia-od-market"  # reads nordic-telco's and movia-transit's data


def _form(client, offer: str = OFFER, **changes: str) -> dict[str, str]:
    page = client.get(f"/catalog/{offer}/request")
    assert page.status_code == 200, page.text
    form = dict(re.findall(r'<input id="\w+" name="(\w+)"[^>]*value="([^"]*)"', page.text))
    form.update(re.findall(r'name="(\w+)">(?:(?!</select>).)*?<option value="([^"]*)" selected', page.text, re.S))
    form.update({"csrf_token": client.cookies.get("cde_csrf"), "purpose": "Planning metro capacity between districts",
                 **changes})
    return form


def _alerts(page) -> list[str]:
    return [unescape(re.sub(r"<[^>]+>", " ", m)).strip() for m in re.findall(r'role="alert"[^>]*>(.*?)</(?:p|div)>',
                                                                               page.text, re.S)]


def _post(client, path: str, **data: str):
    return client.post(path, data={"csrf_token": client.cookies.get("cde_csrf"), **data})


def test_a_request_breaking_a_suppliers_rule_is_refused_naming_it_before_any_officer_sees_it(portal, store):
    buyer, officer = portal["login"]("kk-anna"), portal["login"]("telco-dpo")
    answer = buyer.post(f"/catalog/{OFFER}/request",
                        data=_form(buyer, purpose="Advertising to commuters on the metro's screens"))
    assert answer.status_code == 400
    assert ("supplier nordic-telco (Nordic Telco A/S) refuses purposes of 'advertising' (rule refused_purposes)"
            in _alerts(answer))
    # the longest term movia-transit grants is 365 days
    answer = buyer.post(f"/catalog/{OFFER}/request", data=_form(
        buyer, agreement_end=(dt.date.today() + dt.timedelta(days=500)).isoformat()))
    assert answer.status_code == 400 and any("rule max_term_days" in line for line in _alerts(answer))
    assert "none yet" in officer.get("/negotiations").text  # nothing reached the officers' queue


def test_only_a_logged_in_buyer_requests_a_product(portal, store):
    anonymous = portal["client"]()
    answer = anonymous.get(f"/catalog/{OFFER}/request", headers={"accept": "text/html"})
    assert answer.status_code == 303 and answer.headers["location"] == f"/login?next=/catalog/{OFFER}/request"
    assert anonymous.get(f"/catalog/{OFFER}").status_code == 200  # the offer itself stays public
    officer = portal["login"]("telco-dpo")
    assert officer.get(f"/catalog/{OFFER}/request").status_code == 403


def test_each_error_of_a_request_is_shown_beside_its_field(portal, store):
    buyer = portal["login"]("kk-anna")
    answer = buyer.post(f"/catalog/{OFFER}/request", data=_form(
        buyer, k="1", agreement_end=(dt.date.today() - dt.timedelta(days=1)).isoformat(), schedule="every day"))
    assert answer.status_code == 400
    beside = dict(re.findall(r'id="(\w+)-error" role="alert">([^<]*)<', answer.text))
    assert unescape(beside["k"]) == "1 is below the global minimum 10"
    assert "is not a valid cron expression" in unescape(beside["schedule"])
    assert unescape(beside["agreement_end"]).startswith("the agreement must end after today")
    # the form keeps what the buyer typed
    assert 'name="schedule" value="every day"' in answer.text


def test_counter_offer_acceptance_and_agreement_make_a_live_contract_with_each_officers_identity(portal, store):
    from jobs.common import lake
    from jobs.publish.approvals import approvals_path, require_approved
    from jobs.publish.portfolio import load_contracts

    buyer = portal["login"]("kk-anna")
    telco, movia = portal["login"]("telco-dpo"), portal["login"]("movia-dpo")
    made = buyer.post(f"/catalog/{OFFER}/request", data=_form(buyer))
    assert made.status_code == 303, _alerts(made)
    where = made.headers["location"]
    assert "REQUESTED" in telco.get("/negotiations").text and "REQUESTED" in movia.get("/negotiations").text
    assert "1 request(s) wait for your answer" in telco.get("/officer").text
    # another buyer never sees it, and cannot act on it
    other = portal["login"]("retail-bo")
    assert other.get(where).status_code == 404
    assert _post(other, f"{where}/withdraw").status_code == 404

    # the telco's officer counters with half the epsilon; k is computed, never typed
    page = telco.get(where).text
    epsilons = re.findall(r'<option value="([\d.]+)">', page.split('id="counter-epsilon"')[1].split("</select>")[0])
    assert epsilons[0] == "0.25" and "0.125" in epsilons
    countered = _post(telco, f"{where}/counter", epsilon="0.125", time_bin="1d",
                      agreement_end=(dt.date.today() + dt.timedelta(days=200)).isoformat(), k="1")
    assert countered.status_code == 303, _alerts(countered)
    page = buyer.get(where).text
    assert 'id="state">OFFERED' in page and "0.125 per person per release" in page
    assert "1 counter-offer(s) wait for your answer" in buyer.get("/buyer").text
    assert "wait for your answer" not in telco.get("/officer").text  # its answer is given
    k = int(re.search(r'id="term-k">k = (\d+) people', page).group(1))
    assert k >= 67  # never below the request's k, whatever the form sent
    assert _post(movia, f"{where}/agree").status_code == 400  # a counter-offer waits for the buyer

    assert _post(buyer, f"{where}/accept").status_code == 303
    assert 'id="state">ACCEPTED' in buyer.get(where).text
    assert _post(movia, f"{where}/agree").status_code == 303
    page = buyer.get(where).text
    assert 'id="state">FINALIZED' in page
    steps = re.findall(r"<tr><td>[\d: -]+</td><td>([\w-]+)</td><td>([^<]*)</td><td>(\w*)</td><td>(\w+)</td>", page)
    assert [(who, to) for who, _, _, to in steps] == [
        ("kk-anna", "REQUESTED"), ("telco-dpo", "OFFERED"), ("kk-anna", "ACCEPTED"), ("movia-dpo", "ACCEPTED"),
        ("exchange", "AGREED"), ("exchange", "VERIFIED"), ("exchange", "FINALIZED")]

    contract_id = re.search(r"Negotiation \d+: ([\w-]+)", page).group(1)
    contract = load_contracts()[0][contract_id]
    assert (contract.buyer, contract.epsilon, contract.k) == ("kobenhavns-kommune", 0.125, k)
    assert (store / f"{contract_id}@1.0.0.yaml").exists()
    assert not (settings.REPO_ROOT / "contracts" / f"{contract_id}@1.0.0.yaml").exists()  # the examples stay
    rows = {r["supplier"]: r for r in lake.read_arrow(approvals_path()).to_pylist() if r["contract_id"] == contract_id}
    assert {s: (r["approver"], r["approved_as"], r["contract_sha256"]) for s, r in rows.items()} == {
        "nordic-telco": ("telco-dpo <telco-dpo@example.org>", "officer", contract.sha256),
        "movia-transit": ("movia-dpo <movia-dpo@example.org>", "officer", contract.sha256)}
    require_approved(contract)


def test_an_officer_rejects_with_a_reason_and_only_for_its_own_supplier(portal, store):
    buyer, telco = portal["login"]("kk-anna"), portal["login"]("telco-dpo")
    movia = portal["login"]("movia-dpo")
    made = buyer.post("/catalog/kk-inner-city-presence/request", data=_form(
        buyer, "kk-inner-city-presence", purpose="Planning squares and events in the inner city"))
    assert made.status_code == 303, _alerts(made)
    where = made.headers["location"]
    assert movia.get(where).status_code == 404  # reads only the telco's data: not in movia's queue
    assert _post(movia, f"{where}/reject", reason="not ours to refuse").status_code == 404
    assert _post(telco, f"{where}/reject", reason="").status_code == 400  # a reason is required
    assert _post(telco, f"{where}/reject", reason="Inner-city hourly data is not sold this year").status_code == 303
    page = buyer.get(where).text
    assert 'id="state">TERMINATED' in page
    assert "rejected by nordic-telco: Inner-city hourly data is not sold this year" in page
    assert _post(telco, f"{where}/agree").status_code == 400  # over


def test_the_rules_are_checked_for_buyers_sectors_and_epsilon_per_30_days():
    from jobs.contracts import Supplier, SupplierRules, rule_breaches

    rules = SupplierRules(never_sell_to_buyers=("rival",), never_sell_to_sectors=("Telecom",),
                          refused_purposes=("credit scoring",), max_term_days=365, max_epsilon_per_30_days=10)
    supplier = Supplier("nordic-telco", "Nordic Telco A/S", ("telco",), ({"name": "x", "email": "x@y"},), rules)
    assert rule_breaches(supplier, "kk", "public administration", "Planning", 365, 10) == []
    found = rule_breaches(supplier, "rival", "telecom", "Credit Scoring of residents", 366, 10.5)
    assert [line.split("(rule ")[1] for line in found] == [
        "never_sell_to_buyers)", "never_sell_to_sectors)", "refused_purposes)", "max_term_days)",
        "max_epsilon_per_30_days)"]


def test_the_audits_dpia_link_opens_the_draft_for_the_contracts_officers_only(portal):
    from jobs.publish.dpia import write_dpia
    from jobs.publish.portfolio import find_contract

    write_dpia(find_contract("kk-inner-city-presence"))
    page = portal["login"]("telco-dpo").get("/officer/audits/kk-inner-city-presence/dpia.html")
    assert page.status_code == 200 and "Data protection impact assessment (draft)" in page.text
    assert portal["login"]("movia-dpo").get("/officer/audits/kk-inner-city-presence/dpia.html").status_code == 404
    assert portal["login"]("kk-anna").get("/officer/audits/kk-inner-city-presence/dpia.html").status_code == 403
