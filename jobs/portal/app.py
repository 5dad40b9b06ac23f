"""The portal's web application (FastAPI, server-rendered Jinja2 pages; docs/portal.md).

Public: ``/login``, the catalogue under ``/catalog`` and ``/static``. Everything else needs a login: a browser
is sent to ``/login`` (303), an API client (``/api/...``, or a request not asking for HTML) gets 401. Every
form carries ``csrf_token``, the value of the ``cde_csrf`` cookie (double submit; the cookie is HTTP-only
and SameSite=Strict); a POST without it is answered 403 before anything else happens.
"""


import datetime as dt
import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from jobs.common import settings
from jobs.contracts import LEGAL_BASES, legal_basis_words
from jobs.portal import accounts, charts, negotiation, views
from jobs.portal.catalog import catalog_document
from jobs.portal.db import PortalRefused, User, engine
from jobs.portal.offers import may_manage, save_offer
from jobs.publish.recipients import RecipientError, add_recipient, revoke
from jobs.publish.sla import send_mail

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
SESSION_COOKIE, CSRF_COOKIE = "cde_session", "cde_csrf"
HOMES = {"buyer": "/buyer", "privacy_officer": "/officer", "operator": "/operator", "administrator": "/admin"}


def _is_public(path: str) -> bool:
    """Pages anyone may open: the login, the catalogue, static assets and invitation links."""
    if path.startswith("/catalog/") and path.endswith("/request"):
        return False  # a request for a product needs a buyer's login
    return (path in ("/login", "/catalog", "/catalog.jsonld", "/favicon.ico", "/openapi.json")
            or path.startswith(("/catalog/", "/static/", "/invite/")))


def create_app():  # noqa: C901 - one closure per page reads best
    """The portal's FastAPI application (state in the database ``jobs.portal.db`` names)."""
    from fastapi import FastAPI, Form, Request
    from fastapi.exceptions import HTTPException
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
    from fastapi.staticfiles import StaticFiles
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    pages = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                        trim_blocks=True, lstrip_blocks=True)
    pages.filters["g"] = lambda value: f"{value:g}"
    pages.filters["legal"] = legal_basis_words
    # no /docs or /redoc: their pages load scripts from a CDN; the OpenAPI document itself is public
    app = FastAPI(title="City Data Exchange portal", version="1.0", docs_url=None, redoc_url=None,
                  description="Accounts, catalogue and each role's pages (jobs/portal/app.py)")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def address(request: Request) -> str:
        return (request.client.host if request.client else "unknown")[:64]

    def wants_html(request: Request) -> bool:
        return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")

    @app.middleware("http")
    async def login_required(request: Request, call_next):
        user = accounts.user_of(request.cookies.get(SESSION_COOKIE))
        request.state.user = user
        if user is None and not _is_public(request.url.path):
            if wants_html(request):
                return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
            return JSONResponse({"error": "login required"}, status_code=401,
                                headers={"WWW-Authenticate": 'Cookie realm="portal"'})
        response = await call_next(request)
        if CSRF_COOKIE not in request.cookies:  # every visitor has a CSRF value before their first form
            response.set_cookie(CSRF_COOKIE, request.state.csrf, httponly=True, samesite="strict")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; "
                                    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.middleware("http")
    async def csrf_value(request: Request, call_next):
        # the cookie's value, or a new one set by login_required on the way out
        request.state.csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        return await call_next(request)

    def check_csrf(request: Request, token: str) -> None:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        # bytes: compare_digest refuses str with non-ASCII characters (a fuzzed form sends them)
        if not cookie or not token or not hmac.compare_digest(cookie.encode(), token.encode()):
            raise HTTPException(403, "the form's csrf_token is missing or not this browser's")

    def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        user: User | None = request.state.user
        body = pages.get_template(template).render(user=user, csrf=request.state.csrf, homes=HOMES,
                                                   airflow=settings.setting("CDE_AIRFLOW_URL"),
                                                   time_zone=settings.LOCAL_TZ_NAME, **context)
        return HTMLResponse(body, status_code=status)

    def role(request: Request, *allowed: str) -> User:
        user: User = request.state.user
        if user.role not in allowed:
            raise HTTPException(403, f"this page is for {' or '.join(allowed)}")
        return user

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if wants_html(request):
            return render(request, "error.html.j2", status=exc.status_code, message=exc.detail)
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/"):  # noqa: A002 - the query parameter's name
        return render(request, "login.html.j2", next=_local(next), error=None)

    @app.post("/login")
    def login_post(request: Request, username: str = Form(""), password: str = Form(""),
                   csrf_token: str = Form(""), next: str = Form("/")):  # noqa: A002
        check_csrf(request, csrf_token)
        where = address(request)
        if accounts.rate_limited(username, where):
            return render(request, "login.html.j2", status=429, next=_local(next),
                          error="Too many failed logins: wait 15 minutes.")
        done = accounts.login(username, password, where)
        if done is None:
            return render(request, "login.html.j2", status=401, next=_local(next),
                          error="Wrong user name or password.")
        user, token = done
        target = _local(next) if next not in ("", "/") else HOMES[user.role]
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                            max_age=int(float(settings.setting("CDE_PORTAL_SESSION_HOURS")) * 3600))
        response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(32), httponly=True, samesite="strict")
        return response

    @app.post("/logout")
    def logout(request: Request, csrf_token: str = Form("")):
        check_csrf(request, csrf_token)
        accounts.logout(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @app.get("/")
    def home(request: Request):
        return RedirectResponse(HOMES[request.state.user.role], status_code=303)

    # -- the catalogue (public) -------------------------------------------------------------------------
    @app.get("/catalog", response_class=HTMLResponse)
    def catalog(request: Request):
        return render(request, "catalog.html.j2", offers=views.offers())

    @app.get("/catalog.jsonld")
    def catalog_jsonld(request: Request):
        document = catalog_document(views.offers(), str(request.base_url), dt.date.today())
        return JSONResponse(document, media_type="application/ld+json")

    @app.get("/catalog/{offer_id}", response_class=HTMLResponse)
    def offer(request: Request, offer_id: str):
        found = next((o for o in views.offers() if o["id"] == offer_id), None)
        if found is None:
            raise HTTPException(404, "no such offer")
        contract = views.valid_contracts().get(found["contract_id"])
        return render(request, "offer.html.j2", offer=found, sample=views.sample_rows(offer_id) is not None,
                      area_svg=Markup(charts.area_map(contract)) if contract else "")

    @app.get("/catalog/{offer_id}/sample.csv")
    def offer_sample(offer_id: str):
        path = views.sample_rows(offer_id)
        if path is None:
            raise HTTPException(404, "no sample: samples come only from a simulated lake's deliveries")
        with path.open(encoding="utf-8") as f:
            lines = [line for _, line in zip(range(51), f, strict=False)]  # the header and 50 rows
        return Response("".join(lines), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{offer_id}-sample.csv"'})

    # -- buyer ------------------------------------------------------------------------------------------
    @app.get("/buyer", response_class=HTMLResponse)
    def buyer_home(request: Request):
        user = role(request, "buyer")
        contracts = views.contracts_of(user)
        return render(request, "buyer.html.j2", contracts=contracts, waiting=negotiation.waiting_for(user),
                      deliveries={c.id: views.deliveries(c) for c in contracts}, sharing=views.sharing_state(user),
                      endpoint=settings.setting("CDE_SHARING_ENDPOINT"))

    @app.post("/buyer/sharing")
    def buyer_sharing(request: Request, action: str = Form(""), csrf_token: str = Form("")):
        """Make (or replace) the organisation's Delta Sharing profile and hand it over once, or revoke it."""
        check_csrf(request, csrf_token)
        user = role(request, "buyer")
        where = address(request)
        if action == "revoke":
            count = revoke(user.buyer_id, because=f"revoked by {user.username} in the portal")
            accounts.log_event(user.username, where, "revoke", f"sharing {user.buyer_id}", f"{count} token(s)")
            return RedirectResponse("/buyer", status_code=303)
        if action != "create":
            raise HTTPException(400, "action: create or revoke")
        try:
            profile = add_recipient(user.buyer_id, settings.setting("CDE_SHARING_ENDPOINT"))
        except RecipientError as exc:
            raise HTTPException(400, str(exc)) from None
        accounts.log_event(user.username, where, "grant", f"sharing {user.buyer_id}",
                           "a new Delta Sharing token (any earlier one revoked)")
        # the token is in this file and nowhere else: handed over once, as a download
        return Response(profile.read_bytes(), media_type="application/json", headers={
            "Content-Disposition": f'attachment; filename="{user.buyer_id}.share"', "Cache-Control": "no-store"})

    @app.get("/buyer/deliveries/{contract_id}/{delivery_id}", response_class=HTMLResponse)
    def delivery_page(request: Request, contract_id: str, delivery_id: str, bin: str | None = None,  # noqa: A002
                      place: str | None = None):
        user = role(request, "buyer")
        found = views.delivery_rows(user, contract_id, delivery_id)
        if found is None:
            raise HTTPException(404, "no such delivery among yours")
        contract, manifest, rows = found
        all_bins = charts.bins(rows)
        shown_bin = bin if bin in all_bins else charts.busiest_bin(rows)
        places = sorted(rows[charts.place_column(rows)].astype(str).unique()) if len(rows) else []
        shown_place = place if place in places else None
        if shown_place is None and len(rows):
            table = charts.per_place(rows, shown_bin)
            shown_place = str(table["value"].idxmax()) if table["value"].notna().any() else places[0]
        base = f"/buyer/deliveries/{contract_id}/{delivery_id}"
        return render(request, "delivery.html.j2", contract=contract, manifest=manifest, bins=all_bins,
                      shown_bin=shown_bin, place=shown_place, base=base,
                      map_svg=Markup(charts.delivery_map(rows, shown_bin, link=f"{base}?bin={quote(shown_bin or '')}"
                                                         "&place={place}", zones=contract.zones))
                      if shown_bin else "",
                      chart_svg=Markup(charts.value_chart(rows, shown_place)) if shown_place else "")

    @app.get("/buyer/deliveries/{contract_id}/{delivery_id}/files/{name}")
    def delivery_download(request: Request, contract_id: str, delivery_id: str, name: str):
        user = role(request, "buyer")
        path = views.delivery_file(user, contract_id, delivery_id, name)
        if path is None:
            raise HTTPException(404, "no such file among your deliveries")
        accounts.log_event(user.username, address(request), "download", f"{contract_id}/{delivery_id}/{name}")
        return FileResponse(path, filename=name)

    # -- privacy officer --------------------------------------------------------------------------------
    @app.get("/officer", response_class=HTMLResponse)
    def officer_home(request: Request):
        user = role(request, "privacy_officer", "administrator")
        contracts = views.contracts_of(user)
        return render(request, "officer.html.j2", contracts=contracts, waiting=negotiation.waiting_for(user),
                      deliveries={c.id: views.deliveries(c) for c in contracts}, ledger=views.ledger_rows(user)[:200])

    @app.get("/officer/contracts/{contract_id}", response_class=HTMLResponse)
    def officer_contract(request: Request, contract_id: str):
        user = role(request, "privacy_officer", "administrator")
        contract = views.contract_of(user, contract_id)
        if contract is None:
            raise HTTPException(404, "no such contract reads your supplier's data")
        review = views.contract_review(contract, user.supplier_id)
        return render(request, "review.html.j2", review=review, deliveries=views.deliveries(contract),
                      area_svg=Markup(charts.area_map(contract)),
                      plan_svg=Markup(charts.plan_chart(review["own_monthly"], review["global_monthly"],
                                                        contract.budget_epsilon_per_period)))

    @app.get("/officer/offers", response_class=HTMLResponse)
    def officer_offers(request: Request, error: str | None = None):
        user = role(request, "privacy_officer", "administrator")
        mine = [o for o in views.offers(include_withdrawn=True) if may_manage(user, o["supplier_id"])]
        offered = {o["contract_id"] for o in mine}
        return render(request, "offers.html.j2", offers=mine, error=error,
                      unoffered=[c for c in views.contracts_of(user) if c.id not in offered])

    @app.post("/officer/offers/{contract_id}")
    def officer_offer_save(request: Request, contract_id: str, title: str = Form(""), use_cases: str = Form(""),
                           price_amount: str = Form(""), price_currency: str = Form(""), price_unit: str = Form(""),
                           licence: str = Form(""), status: str = Form("published"), csrf_token: str = Form("")):
        check_csrf(request, csrf_token)
        user = role(request, "privacy_officer", "administrator")
        contract = views.contract_of(user, contract_id)
        if contract is None:
            raise HTTPException(404, "no such contract reads your supplier's data")
        try:
            save_offer(user, address(request), contract, title, use_cases, price_amount, price_currency,
                       price_unit, licence, status)
        except PortalRefused as exc:
            mine = [o for o in views.offers(include_withdrawn=True) if may_manage(user, o["supplier_id"])]
            return render(request, "offers.html.j2", status=400, offers=mine, error=str(exc), unoffered=[])
        return RedirectResponse("/officer/offers", status_code=303)

    @app.get("/officer/audits/{contract_id}/{delivery_id}")
    def officer_audit(request: Request, contract_id: str, delivery_id: str, kind: str = "html"):
        user = role(request, "privacy_officer", "operator", "administrator")
        path = views.audit_file(user, contract_id, delivery_id, kind)
        if path is None:
            raise HTTPException(404, "no such audit among your contracts")
        return FileResponse(path, media_type="text/html" if kind == "html" else "application/json")

    # -- negotiation: request, counter-offer, agreement (jobs/portal/negotiation.py) -----------------------
    def request_page(request: Request, offer_id: str, form: dict[str, str], errors: dict[str, list[str]],
                     status: int = 200) -> HTMLResponse:
        found = next((o for o in views.offers() if o["id"] == offer_id), None)
        if found is None:
            raise HTTPException(404, "no such offer")
        return render(request, "request.html.j2", status=status, offer=found, form=form, errors=errors,
                      areas=negotiation.area_files(), legal_bases=LEGAL_BASES,
                      time_bins=negotiation.TIME_BINS)

    @app.get("/catalog/{offer_id}/request", response_class=HTMLResponse)
    def request_form(request: Request, offer_id: str):
        role(request, "buyer")
        contract = views.valid_contracts().get(next((o["contract_id"] for o in views.offers()
                                                     if o["id"] == offer_id), ""))
        if contract is None:
            raise HTTPException(404, "no such offer")
        return request_page(request, offer_id, negotiation.form_defaults(contract), {})

    @app.post("/catalog/{offer_id}/request")
    async def request_post(request: Request, offer_id: str):
        form = {k: str(v) for k, v in (await request.form()).items()}
        check_csrf(request, form.get("csrf_token", ""))
        user = role(request, "buyer")
        try:
            made = negotiation.request_product(user, offer_id, form, address(request))
        except negotiation.RequestRefused as exc:
            return request_page(request, offer_id, form, exc.errors, status=400)
        except PortalRefused as exc:
            raise HTTPException(400, str(exc)) from None
        return RedirectResponse(f"/negotiations/{made.id}", status_code=303)

    @app.get("/negotiations", response_class=HTMLResponse)
    def negotiations_page(request: Request):
        return render(request, "negotiations.html.j2", negotiations=negotiation.negotiations_for(request.state.user))

    def negotiation_page(request: Request, negotiation_id: int, error: str | None = None,
                         errors: dict[str, list[str]] | None = None, status: int = 200) -> HTMLResponse:
        user = request.state.user
        try:
            detail = negotiation.negotiation_detail(user, negotiation_id)
        except PortalRefused as exc:
            raise HTTPException(404, str(exc)) from None
        options = None
        if detail["may_counter"]:
            try:
                options = negotiation.counter_options(negotiation.current_terms(detail["negotiation"].terms_yaml))
            except negotiation.RequestRefused as exc:  # the terms no longer validate (an area or registry changed)
                error = error or f"these terms no longer validate: {exc}"
        return render(request, "negotiation.html.j2", status=status, error=error, errors=errors or {},
                      options=options, **detail)

    @app.get("/negotiations/{negotiation_id}", response_class=HTMLResponse)
    def negotiation_get(request: Request, negotiation_id: int):
        return negotiation_page(request, negotiation_id)

    @app.post("/negotiations/{negotiation_id}/{action}")
    async def negotiation_post(request: Request, negotiation_id: int, action: str):
        form = {k: str(v) for k, v in (await request.form()).items()}
        check_csrf(request, form.get("csrf_token", ""))
        user, where = request.state.user, address(request)
        steps = {"agree": lambda: negotiation.agree(user, negotiation_id, where),
                 "counter": lambda: negotiation.counter_offer(user, negotiation_id, form, where),
                 "reject": lambda: negotiation.reject(user, negotiation_id, form.get("reason", ""), where),
                 "accept": lambda: negotiation.answer_counter(user, negotiation_id, True, where),
                 "decline": lambda: negotiation.answer_counter(user, negotiation_id, False, where),
                 "withdraw": lambda: negotiation.withdraw(user, negotiation_id, where),
                 "retry": lambda: negotiation.retry(user, negotiation_id, where)}
        if action not in steps:
            raise HTTPException(404, "no such action")
        try:
            steps[action]()
        except negotiation.RequestRefused as exc:
            return negotiation_page(request, negotiation_id, error=str(exc), errors=exc.errors, status=400)
        except PortalRefused as exc:
            return negotiation_page(request, negotiation_id, error=str(exc), status=400)
        return RedirectResponse(f"/negotiations/{negotiation_id}", status_code=303)

    @app.get("/officer/tokens", response_class=HTMLResponse)
    def officer_tokens(request: Request):
        user = role(request, "privacy_officer")
        return render(request, "tokens.html.j2", tokens=accounts.approver_tokens(user), issued=None, error=None,
                      now=dt.datetime.now(dt.UTC))

    @app.post("/officer/tokens", response_class=HTMLResponse)
    def officer_token_issue(request: Request, label: str = Form(""), days: str = Form("30"),
                            csrf_token: str = Form("")):
        check_csrf(request, csrf_token)
        user = role(request, "privacy_officer")
        try:
            issued = accounts.issue_approver_token(user, label, int(days) if days.isdigit() else 0, address(request))
        except PortalRefused as exc:
            return render(request, "tokens.html.j2", status=400, tokens=accounts.approver_tokens(user), issued=None,
                          error=str(exc), now=dt.datetime.now(dt.UTC))
        response = render(request, "tokens.html.j2", tokens=accounts.approver_tokens(user), issued=issued,
                          error=None, now=dt.datetime.now(dt.UTC))
        response.headers["Cache-Control"] = "no-store"  # the token is on this page once
        return response

    @app.post("/officer/tokens/revoke")
    def officer_token_revoke(request: Request, token_id: str = Form(""), csrf_token: str = Form("")):
        check_csrf(request, csrf_token)
        user = role(request, "privacy_officer")
        try:
            accounts.revoke_approver_token(user, token_id, address(request))
        except PortalRefused as exc:
            raise HTTPException(400, str(exc)) from None
        return RedirectResponse("/officer/tokens", status_code=303)

    # -- operator ---------------------------------------------------------------------------------------
    @app.get("/operator", response_class=HTMLResponse)
    def operator_home(request: Request):
        user = role(request, "operator", "administrator")
        return render(request, "operator.html.j2", runs=views.ingest_runs()[:500], sla=views.delivery_sla(user),
                      builds=views.silver_builds()[:500])

    # -- administrator ----------------------------------------------------------------------------------
    @app.get("/admin", response_class=HTMLResponse)
    def admin_home(request: Request):
        role(request, "administrator")
        return render(request, "admin.html.j2", users=accounts.users(), events=accounts.events(),
                      buyers=accounts.buyers(), suppliers=accounts.suppliers(), invited=None, error=None)

    @app.post("/admin/users")
    def admin_add_user(request: Request, username: str = Form(""), password: str = Form(""),
                       role_name: str = Form("", alias="role"), buyer: str = Form(""), csrf_token: str = Form("")):
        check_csrf(request, csrf_token)
        admin = role(request, "administrator")
        try:
            accounts.add_user(username, password, role_name, buyer or None, created_by=admin.username,
                              address=address(request))
        except PortalRefused as exc:
            return render(request, "admin.html.j2", status=400, users=accounts.users(), events=accounts.events(),
                          buyers=accounts.buyers(), suppliers=accounts.suppliers(), invited=None, error=str(exc))
        return RedirectResponse("/admin", status_code=303)

    @app.post("/admin/invitations", response_class=HTMLResponse)
    def admin_invite(request: Request, supplier: str = Form(""), email: str = Form(""), csrf_token: str = Form("")):
        check_csrf(request, csrf_token)
        admin = role(request, "administrator")
        try:
            token = accounts.invite_officer(supplier, email, admin.username, address(request))
        except PortalRefused as exc:
            return render(request, "admin.html.j2", status=400, users=accounts.users(), events=accounts.events(),
                          buyers=accounts.buyers(), suppliers=accounts.suppliers(), invited=None, error=str(exc))
        link = f"{str(request.base_url).rstrip('/')}/invite/{token}"
        outcome = send_mail([email], "Your invitation to the City Data Exchange",
                            f"You are invited as privacy officer of {supplier}. Set your password at\n\n{link}\n\n"
                            f"The link works once, for {accounts.INVITATION_DAYS} days.")
        sent = outcome.startswith("sent")
        return render(request, "admin.html.j2", users=accounts.users(), events=accounts.events(),
                      buyers=accounts.buyers(), suppliers=accounts.suppliers(), error=None,
                      invited=None if sent else link, mailed=email if sent else None,
                      mail_outcome=None if sent else outcome)

    @app.get("/invite/{token}", response_class=HTMLResponse)
    def invitation_form(request: Request, token: str):
        invitation = accounts.open_invitation(token)
        if invitation is None:
            raise HTTPException(404, "this invitation is unknown, used or expired")
        return render(request, "invite.html.j2", invitation=invitation, token=token, error=None)

    @app.post("/invite/{token}")
    def invitation_accept(request: Request, token: str, username: str = Form(""), password: str = Form(""),
                          csrf_token: str = Form("")):
        check_csrf(request, csrf_token)
        try:
            accounts.accept_invitation(token, username, password, address(request))
        except PortalRefused as exc:
            invitation = accounts.open_invitation(token)
            if invitation is None:
                raise HTTPException(404, "this invitation is unknown, used or expired") from None
            return render(request, "invite.html.j2", status=400, invitation=invitation, token=token, error=str(exc))
        return RedirectResponse("/login", status_code=303)

    # -- API (JSON; 401 without a login) ----------------------------------------------------------------
    @app.get("/api/me")
    def api_me(request: Request):
        user: User = request.state.user
        return {"username": user.username, "role": user.role, "buyer": user.buyer_id, "supplier": user.supplier_id}

    @app.get("/api/contracts")
    def api_contracts(request: Request):
        return [{"id": c.id, "version": c.version, "name": c.name, "buyer": c.buyer, "suppliers": list(c.suppliers)}
                for c in views.contracts_of(request.state.user)]

    @app.get("/api/contracts/{contract_id}/deliveries")
    def api_deliveries(request: Request, contract_id: str):
        contract = views.contract_of(request.state.user, contract_id)
        if contract is None:
            raise HTTPException(404, "no such contract")
        return views.deliveries(contract)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return Response(status_code=204)

    return app


def _local(target: str) -> str:
    """A redirect target inside the portal (an absolute or scheme-relative URL would leave it)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the portal (``cde portal serve``, ``make portal``); loopback by default."""
    import uvicorn

    engine()  # the database migrated before the first request
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")
