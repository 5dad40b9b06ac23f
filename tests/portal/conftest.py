"""Portal fixtures: a real database (a SQLite file, and PostgreSQL from Debian's package started here as an
unprivileged user on a loopback port), a lake with two buyers' deliveries, and accounts of every role."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

PASSWORD = "correct horse battery staple"
PUBLISHED = ("kk-inner-city-presence", "retail-stroget-footfall")  # buyers kobenhavns-kommune, nordisk-retail


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_unprivileged(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: the Debian package's postgres user runs it then
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for this test session: ``(host, port, user)``; stopped and removed at the end."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("PostgreSQL is not installed (Debian package 'postgresql'; .ci/run installs it)")
    bin_dir = Path(found[-1]).parent
    folder = Path(tempfile.mkdtemp(prefix="cde-pg-"))  # not under pytest's 0700 folders: postgres must enter it
    folder.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    port = _free_port()
    subprocess.run(_as_unprivileged([str(bin_dir / "initdb"), "-D", str(folder / "data"), "-A", "trust", "-U", "cde",
                                     "-E", "UTF8", "--no-sync"]), check=True, capture_output=True)
    subprocess.run(_as_unprivileged([str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-w", "-l",
                                     str(folder / "log"), "-o", f"-k {folder} -c listen_addresses=127.0.0.1 -p {port} "
                                     "-c fsync=off", "start"]), check=True, capture_output=True)
    try:
        yield "127.0.0.1", port, "cde"
    finally:
        subprocess.run(_as_unprivileged([str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-m", "fast", "stop"]),
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _new_database(server, name: str) -> str:
    import psycopg

    host, port, user = server
    with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://{user}@{host}:{port}/{name}"


@pytest.fixture(scope="module")
def portal_lake(spark, simulated_day, tmp_path_factory, lake_copier):
    """A private lake with the two buyers' deliveries (and their audits) published."""
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract

    root = lake_copier(Path(simulated_day.root), tmp_path_factory.mktemp("portal") / "lake")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CDE_LAKE", str(root))
        results = {cid: publish(spark, find_contract(cid), simulated_day.day) for cid in PUBLISHED}
    return root, results


@pytest.fixture(params=["sqlite", "postgresql"])
def portal_db(request, tmp_path, monkeypatch):
    """``CDE_PORTAL_DB`` for a fresh database of each kind (the same tests run on both)."""
    from jobs.portal import db

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    else:
        url = _new_database(request.getfixturevalue("postgres_server"), f"portal_{os.getpid()}_{tmp_path.name[-20:]}")
    monkeypatch.setenv("CDE_PORTAL_DB", url)
    db.forget_engines()
    yield request.param
    db.forget_engines()


@pytest.fixture
def people(portal_db):
    """One account of every role: two buyers, two suppliers' officers (by invitation), an operator, an admin."""
    from jobs.portal import accounts

    accounts.init_admin("admin", PASSWORD)
    accounts.add_user("kk-anna", PASSWORD, "buyer", "kobenhavns-kommune")
    accounts.add_user("retail-bo", PASSWORD, "buyer", "nordisk-retail")
    accounts.add_user("ops-eva", PASSWORD, "operator")
    for name, supplier in (("telco-dpo", "nordic-telco"), ("movia-dpo", "movia-transit")):
        token = accounts.invite_officer(supplier, f"{name}@example.org", "admin", "test")
        accounts.accept_invitation(token, name, PASSWORD, "test")
    return {"admin": "admin", "buyer": "kk-anna", "other_buyer": "retail-bo", "operator": "ops-eva",
            "officer": "telco-dpo", "other_officer": "movia-dpo"}


@pytest.fixture
def portal(portal_lake, people, monkeypatch):
    """The portal app on the lake with deliveries, and ``login(name)`` giving a logged-in TestClient."""
    from fastapi.testclient import TestClient

    from jobs.portal.app import create_app

    monkeypatch.setenv("CDE_LAKE", str(portal_lake[0]))
    app = create_app()

    def client() -> TestClient:
        return TestClient(app, follow_redirects=False)

    def login(name: str) -> TestClient:
        c = client()
        c.get("/login")
        answer = c.post("/login", data={"username": name, "password": PASSWORD,
                                        "csrf_token": c.cookies.get("cde_csrf"), "next": "/"})
        assert answer.status_code == 303, answer.text
        return c

    return {"app": app, "client": client, "login": login, "lake": portal_lake[0], "results": portal_lake[1],
            "people": people}


@pytest.fixture
def store(tmp_path, monkeypatch):
    """The contract store the DAGs read (``CDE_CONTRACTS``): the examples, as a deployment starts with them."""
    from jobs.common import settings

    folder = tmp_path / "store"
    shutil.copytree(settings.REPO_ROOT / "contracts", folder)
    monkeypatch.setenv("CDE_CONTRACTS", str(folder))
    return folder


@pytest.fixture
def served(portal, loopback):
    """The portal app on a loopback port (uvicorn in a thread)."""
    with loopback(portal["app"], "portal") as url:
        yield {**portal, "url": url}


BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def browser():
    """Debian's Chromium, headless, driven by Playwright (never a downloaded browser)."""
    if not BROWSER:
        pytest.skip("chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=BROWSER, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield launched
        launched.close()


@pytest.fixture
def login_in(browser):
    """``login_in(url, name)``: a new browser context logged in as ``name``; returns the page and the list of
    every URL it requested (to check nothing is loaded from elsewhere)."""

    def login(url: str, name: str):
        context = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 900})
        requests_out: list[str] = []
        context.on("request", lambda r: requests_out.append(r.url))
        page = context.new_page()
        page.goto(f"{url}/login")
        page.fill("#username", name)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]:has-text('Log in')")
        page.wait_for_load_state()
        return page, requests_out

    return login


@pytest.fixture
def shot(tmp_path):
    """``shot(page, name)``: a full-page screenshot in the test's folder (and docs/screenshots/ with
    CDE_UPDATE_SCREENSHOTS=1), checked to be a rendered page."""

    def take(page, name: str) -> None:
        path = tmp_path / f"portal-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000  # a rendered page, not a blank one
        if os.environ.get("CDE_UPDATE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, SCREENSHOTS / path.name)

    return take
