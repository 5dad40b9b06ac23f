"""The portal's authorisation matrix, every cell asserted, on SQLite and on PostgreSQL: each role sees its own
share and nothing of another buyer's or supplier's; anonymous requests are sent to the login or refused; a
form without this browser's CSRF token is refused."""

from __future__ import annotations

import io

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.spark]

OWN, OTHER = "kk-inner-city-presence", "retail-stroget-footfall"


def _delivery(portal, contract_id: str) -> str:
    return portal["results"][contract_id]["delivery_id"]


def _file(portal, contract_id: str) -> str:
    return f"/buyer/deliveries/{contract_id}/{_delivery(portal, contract_id)}/files/manifest.json"


def _audit(portal, contract_id: str) -> str:
    return f"/officer/audits/{contract_id}/{_delivery(portal, contract_id)}"


PUBLIC = ["/login", "/catalog", "/catalog/kk-inner-city-presence", "/catalog.jsonld", "/static/portal.css",
          "/openapi.json"]
PRIVATE = ["/", "/buyer", "/officer", "/operator", "/admin", "/api/me", "/api/contracts",
           f"/api/contracts/{OWN}/deliveries", "/officer/contracts/kk-inner-city-presence"]


def test_anonymous_browsers_are_sent_to_the_login_and_api_clients_get_401(portal):
    client = portal["client"]()
    for path in PUBLIC:
        assert client.get(path).status_code == 200, path
    for path in PRIVATE + [_file(portal, OWN), _audit(portal, OWN)]:
        page = client.get(path, headers={"Accept": "text/html"})
        if path.startswith("/api/"):  # the API answers 401 whoever asks
            assert page.status_code == 401, path
        else:
            assert page.status_code == 303 and page.headers["location"].startswith("/login?next="), path
        api = client.get(path, headers={"Accept": "application/json"})
        assert api.status_code == 401 and api.json() == {"error": "login required"}, path
    assert client.post("/admin/users", data={}).status_code == 401  # a POST too, before any form is read


def test_each_role_reaches_its_own_home_and_no_other(portal):
    homes = {"buyer": "/buyer", "officer": "/officer", "operator": "/operator", "admin": "/admin"}
    allowed = {"buyer": {"/buyer"}, "officer": {"/officer"}, "operator": {"/operator"},
               "admin": {"/officer", "/operator", "/admin"}}
    for who, home in homes.items():
        client = portal["login"](portal["people"][who])
        assert client.get("/").headers["location"] == home
        for page in homes.values():
            status = client.get(page).status_code
            assert status == (200 if page in allowed[who] else 403), (who, page, status)


def test_a_buyer_sees_only_its_organisations_contracts_deliveries_and_files(portal):
    buyer = portal["login"](portal["people"]["buyer"])
    page = buyer.get("/buyer").text
    assert OWN in page and _delivery(portal, OWN) in page and OTHER not in page
    assert {c["id"] for c in buyer.get("/api/contracts").json()} == {"kk-inner-city-presence", "kk-traffic-od"}
    own = buyer.get(_file(portal, OWN))
    assert own.status_code == 200 and own.json()["delivery_id"] == _delivery(portal, OWN)
    data = buyer.get(_file(portal, OWN).replace("manifest.json", "data.csv"))
    assert data.status_code == 200 and data.text.startswith(("h3_cell", "delivery_id", "bin_start"))
    assert buyer.get(_file(portal, OTHER)).status_code == 404  # another buyer's file: as if it did not exist
    assert buyer.get(f"/api/contracts/{OTHER}/deliveries").status_code == 404
    for sneaky in ("../../../etc/passwd", "..%2F..%2Fmanifest.json", ".staging", "attempts"):
        assert buyer.get(f"/buyer/deliveries/{OWN}/{_delivery(portal, OWN)}/files/{sneaky}").status_code == 404
    assert buyer.get(_audit(portal, OWN)).status_code == 403  # audits are for officers
    other = portal["login"](portal["people"]["other_buyer"])
    assert other.get(_file(portal, OWN)).status_code == 404 and other.get(_file(portal, OTHER)).status_code == 200
    assert OWN not in other.get("/buyer").text


def test_an_officer_sees_only_contracts_ledger_rows_and_audits_of_its_suppliers_data(portal):
    officer = portal["login"](portal["people"]["officer"])  # nordic-telco: both published contracts read it
    page = officer.get("/officer").text
    assert OWN in page and OTHER in page and "kk-traffic-od" not in page
    for cid in (OWN, OTHER):
        audit = officer.get(_audit(portal, cid))
        assert audit.status_code == 200 and cid in audit.text and _delivery(portal, cid) in audit.text
        assert officer.get(f"/officer/contracts/{cid}").status_code == 200
    assert officer.get("/officer/contracts/kk-traffic-od").status_code == 404  # movia-transit's data only
    other = portal["login"](portal["people"]["other_officer"])  # movia-transit: neither published contract
    page = other.get("/officer").text
    assert "kk-traffic-od" in page and OWN not in page and OTHER not in page
    assert "rel-" not in page.split("Ledger entries")[1]  # no ledger row of another supplier's contracts
    for cid in (OWN, OTHER):
        assert other.get(_audit(portal, cid)).status_code == 404
        assert other.get(f"/officer/contracts/{cid}").status_code == 404
        assert other.get(_file(portal, cid)).status_code == 403  # files are for buyers


def test_a_form_without_this_browsers_csrf_token_is_refused(portal):
    admin = portal["login"](portal["people"]["admin"])
    form = {"username": "new-person", "password": "a long enough password", "role": "operator", "buyer": ""}
    assert admin.post("/admin/users", data=form).status_code == 403
    assert admin.post("/admin/users", data={**form, "csrf_token": "forged"}).status_code == 403
    assert admin.post("/logout", data={}).status_code == 403
    anonymous = portal["client"]()
    anonymous.get("/login")
    assert anonymous.post("/login", data={"username": "admin", "password": "x"}).status_code == 403
    assert "new-person" not in admin.get("/admin").text
    made = admin.post("/admin/users", data={**form, "csrf_token": admin.cookies.get("cde_csrf")})
    assert made.status_code == 303 and "new-person" in admin.get("/admin").text


def test_add_user_refuses_the_officer_and_administrator_roles_and_init_admin_runs_once(portal, capsys, monkeypatch):
    from jobs.cli import main

    for role in ("privacy_officer", "administrator"):
        assert main(["portal", "add-user", "someone", "--role", role, "--password-stdin"]) == 1
        assert "cannot be made here" in capsys.readouterr().err
    assert main(["portal", "add-user", "someone", "--role", "buyer", "--buyer", "no-such-buyer"]) == 1
    assert "not in the buyer registry" in capsys.readouterr().err
    assert main(["portal", "add-user", "someone", "--role", "operator"]) == 1
    assert "--password-stdin" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["portal", "init-admin", "second-admin", "--password-stdin"]) == 1
    assert "an administrator exists" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["portal", "add-user", "cli-operator", "--role", "operator", "--password-stdin"]) == 0
    admin = portal["login"](portal["people"]["admin"])
    refused = admin.post("/admin/users", data={"username": "x-officer", "password": "a long enough password",
                                               "role": "privacy_officer", "csrf_token": admin.cookies.get("cde_csrf")})
    assert refused.status_code == 400 and "cannot be made here" in refused.text


def test_logins_are_rate_limited_and_every_grant_is_logged_with_who_and_where(portal):
    from jobs.portal import accounts

    client = portal["client"]()
    client.get("/login")
    token = client.cookies.get("cde_csrf")
    for _ in range(accounts.MAX_FAILURES):
        assert client.post("/login", data={"username": "kk-anna", "password": "wrong", "csrf_token": token}
                           ).status_code == 401
    right = {"username": "kk-anna", "password": "correct horse battery staple", "csrf_token": token}
    assert client.post("/login", data=right).status_code == 429  # even the right password, for 15 minutes
    grants = [e for e in accounts.events() if e.action in ("grant", "invite")]
    assert {(e.actor, e.subject) for e in grants} >= {("init-admin", "user admin"), ("cli", "user kk-anna"),
                                                       ("admin", "supplier nordic-telco")}
    assert all(e.address and e.at for e in grants)
    stored = {u.username: u.password_hash for u in accounts.users()}
    assert all(h.startswith("$argon2id$") for h in stored.values())


@pytest.mark.slow
@pytest.mark.parametrize("portal_db", ["sqlite"], indirect=True)
def test_the_portal_api_survives_a_bounded_fuzz_run(served):
    """schemathesis over every operation of the portal's OpenAPI, as a buyer, an officer and anonymously:
    never a 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    cookies = [dict(served["login"](served["people"][who]).cookies) for who in ("buyer", "officer")] + [{}]
    schema = schemathesis.openapi.from_url(served["url"] + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    statuses: list[int] = []
    for operation in operations:
        @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def call(case):
            jar = cookies[len(statuses) % len(cookies)]
            response = case.call(base_url=served["url"], cookies=jar, timeout=30, allow_redirects=False)
            statuses.append(response.status_code)
            assert response.status_code < 500, (case.method, case.formatted_path, response.status_code,
                                                response.text[:300])

        call()
    assert len(statuses) >= 150 and {200, 403} <= set(statuses) and (set(statuses) & {303, 401})
    print(f"portal fuzz: {len(statuses)} calls over {len(operations)} operations, statuses {sorted(set(statuses))}")


def test_a_buyer_makes_rotates_and_revokes_its_own_sharing_profile_only(portal):
    from jobs.publish.recipients import authenticate, read_recipients

    buyer = portal["login"](portal["people"]["buyer"])
    other = portal["login"](portal["people"]["other_buyer"])
    token = buyer.cookies.get("cde_csrf")
    assert buyer.post("/buyer/sharing", data={"action": "create"}).status_code == 403  # no CSRF token
    first = buyer.post("/buyer/sharing", data={"action": "create", "csrf_token": token})
    assert first.status_code == 200 and "attachment" in first.headers["content-disposition"]
    profile = first.json()
    assert profile["shareCredentialsVersion"] == 1 and profile["endpoint"].endswith("/delta-sharing")
    assert authenticate(profile["bearerToken"], read_recipients()) == "kobenhavns-kommune"
    theirs = other.post("/buyer/sharing", data={"action": "create", "csrf_token": other.cookies.get("cde_csrf")})
    assert authenticate(theirs.json()["bearerToken"], read_recipients()) == "nordisk-retail"
    second = buyer.post("/buyer/sharing", data={"action": "create", "csrf_token": token}).json()
    assert authenticate(profile["bearerToken"], read_recipients()) is None  # rotated: the old token is dead
    assert authenticate(second["bearerToken"], read_recipients()) == "kobenhavns-kommune"
    page = buyer.get("/buyer").text
    assert "Live profile made" in page and second["bearerToken"] not in page  # never shown again
    assert buyer.post("/buyer/sharing", data={"action": "revoke", "csrf_token": token}).status_code == 303
    assert authenticate(second["bearerToken"], read_recipients()) is None
    assert authenticate(theirs.json()["bearerToken"], read_recipients()) == "nordisk-retail"  # untouched
    officer = portal["login"](portal["people"]["officer"])
    assert officer.post("/buyer/sharing", data={"action": "create", "csrf_token": officer.cookies.get("cde_csrf")}
                        ).status_code == 403


def test_the_review_page_shows_area_plan_accuracy_and_overlaps_naming_only_the_officers_own(portal):
    telco = portal["login"](portal["people"]["officer"])
    page = telco.get(f"/officer/contracts/{OWN}").text
    assert 'class="delivery-map"' in page and 'class="plan-chart"' in page
    assert "Phantoms expected" in page and "rows (chance" in page
    assert "metro-od-market" in page and "movia-od-market" in page  # they read nordic-telco's data too
    movia = portal["login"](portal["people"]["other_officer"])
    page = movia.get("/officer/contracts/metro-od-market").text  # reads telco and ticket data
    overlaps = page.split("Overlapping contracts")[1].split("Deliveries and audits")[0]
    assert "movia-od-market" in overlaps and "kk-traffic-od" in overlaps
    assert OWN not in overlaps and OTHER not in overlaps  # telco-only contracts: counted, never named
    assert "contract(s) of other suppliers overlap this area" in overlaps


def test_an_officer_publishes_changes_and_withdraws_only_its_suppliers_offers(portal):
    from jobs.portal import accounts

    anonymous = portal["client"]()
    assert OWN in anonymous.get("/catalog").text  # offered from the first start: one per example contract
    telco = portal["login"](portal["people"]["officer"])
    token = telco.cookies.get("cde_csrf")
    form = {"title": "Inner-city presence, hourly", "use_cases": "Event planning on squares", "price_amount": "1200",
            "price_currency": "DKK", "price_unit": "month", "licence": "CC-BY-4.0", "status": "published",
            "csrf_token": token}
    assert telco.post(f"/officer/offers/{OWN}", data=form).status_code == 303
    page = anonymous.get(f"/catalog/{OWN}").text
    assert "Event planning on squares" in page and "1200.0 DKK per month" in page and "telco-dpo" in page
    assert telco.post(f"/officer/offers/{OWN}", data={**form, "price_amount": "cheap"}).status_code == 400
    assert telco.post(f"/officer/offers/{OWN}", data={**form, "status": "withdrawn"}).status_code == 303
    assert f"/catalog/{OWN}\"" not in anonymous.get("/catalog").text
    assert f"/catalog/{OWN}" not in anonymous.get("/catalog.jsonld").text
    assert {("publish", f"offer {OWN}"), ("withdraw", f"offer {OWN}")} <= {(e.action, e.subject)
                                                                          for e in accounts.events()}
    movia = portal["login"](portal["people"]["other_officer"])
    mtoken = movia.cookies.get("cde_csrf")
    assert movia.post(f"/officer/offers/{OWN}", data={**form, "csrf_token": mtoken}).status_code == 404
    refused = movia.post("/officer/offers/metro-od-market", data={**form, "csrf_token": mtoken})
    assert refused.status_code == 400 and "another supplier" in refused.text  # offered by nordic-telco
    assert OWN not in movia.get("/officer/offers").text
    buyer = portal["login"](portal["people"]["buyer"])
    assert buyer.post(f"/officer/offers/{OWN}", data={**form, "csrf_token": buyer.cookies.get("cde_csrf")}
                      ).status_code == 403


def test_a_sample_comes_only_from_a_simulated_lakes_delivery(portal):
    anonymous = portal["client"]()
    sample = anonymous.get(f"/catalog/{OTHER}/sample.csv")
    delivered = open(portal["results"][OTHER]["outbox"] + "/data.csv").read().splitlines()
    assert sample.status_code == 200 and sample.text.splitlines() == delivered[:51]  # the header and 50 rows
    assert anonymous.get("/catalog/kk-traffic-od/sample.csv").status_code == 404  # nothing delivered
    (portal["lake"] / "simulation" / "run.json").rename(portal["lake"] / "simulation" / "run.json.aside")
    try:
        assert anonymous.get(f"/catalog/{OTHER}/sample.csv").status_code == 404  # not a simulated lake
    finally:
        (portal["lake"] / "simulation" / "run.json.aside").rename(portal["lake"] / "simulation" / "run.json")


def test_an_invitation_makes_one_officer_once_by_link_or_by_email(portal, smtp_sink, monkeypatch):
    import email
    import re

    admin = portal["login"](portal["people"]["admin"])
    form = {"supplier": "cph-public-wifi", "email": "dpo@cph-wifi.example", "csrf_token": admin.cookies.get("cde_csrf")}
    shown = admin.post("/admin/invitations", data=form)  # no SMTP connection: the link is shown to the admin
    assert shown.status_code == 200 and "could not be e-mailed" in shown.text
    link = re.search(r'<code id="invitation-link">([^<]+)</code>', shown.text).group(1)
    path = link.split("testserver", 1)[1]
    stranger = portal["client"]()
    assert "Join as privacy officer of cph-public-wifi" in stranger.get(path).text
    made = stranger.post(path, data={"username": "wifi-dpo", "password": "a long enough password",
                                     "csrf_token": stranger.cookies.get("cde_csrf")})
    assert made.status_code == 303
    assert stranger.get(path).status_code == 404  # used once
    assert stranger.post(path, data={"username": "wifi-dpo2", "password": "a long enough password",
                                     "csrf_token": stranger.cookies.get("cde_csrf")}).status_code == 404
    client = portal["client"]()
    client.get("/login")
    assert client.post("/login", data={"username": "wifi-dpo", "password": "a long enough password",
                                       "csrf_token": client.cookies.get("cde_csrf")}).headers["location"] == "/officer"
    assert client.get("/api/me").json()["supplier"] == "cph-public-wifi"
    port, mails = smtp_sink
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", f"smtp://127.0.0.1:{port}?disable_ssl=true&disable_tls=true")
    mailed = admin.post("/admin/invitations", data={**form, "email": "second@cph-wifi.example"})
    assert "Invitation e-mailed to second@cph-wifi.example" in mailed.text and "invitation-link" not in mailed.text
    assert len(mails) == 1 and "second@cph-wifi.example" in mails[0]["to"]
    body = "".join(part.get_payload(decode=True).decode() for part in
                   email.message_from_string(mails[0]["data"]).walk() if not part.is_multipart())
    mailed_path = re.search(r"testserver(/invite/[A-Za-z0-9_-]+)", body).group(1)
    assert "Join as privacy officer of cph-public-wifi" in stranger.get(mailed_path).text
