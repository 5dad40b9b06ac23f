"""The portal's state: accounts, sessions, invitations, login attempts and the log of grants and decisions.

One database through SQLAlchemy, its schema made and changed only by the Alembic migrations in
``jobs/portal/migrations``: a SQLite file ``portal.sqlite3`` in the local secrets folder by default, or the
PostgreSQL database ``CDE_PORTAL_DB`` names (required for a lake in a bucket, whose readers must never see a
password hash). Nothing here is in the lake.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from jobs.common import settings
from jobs.errors import Refusal

MIGRATIONS = Path(__file__).with_name("migrations")
ROLES = ("buyer", "privacy_officer", "operator", "administrator")


class PortalRefused(Refusal, ValueError):
    """A portal action the rules refuse (a role ``add-user`` may not make, a second first administrator)."""


def utcnow() -> dt.datetime:
    """Now in UTC, to the second (what every row records)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class Base(DeclarativeBase):
    """Declarative base of the portal's tables."""


class User(Base):
    """A person who logs in: one role; a buyer belongs to a buyer organisation, an officer to a supplier."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    buyer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    supplier_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class LoginSession(Base):
    """A login: the cookie's token is stored only as its SHA-256."""

    __tablename__ = "sessions"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    address: Mapped[str] = mapped_column(String(64))


class Invitation(Base):
    """A one-time link an administrator issues for a supplier's privacy officer (token stored as SHA-256)."""

    __tablename__ = "invitations"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    supplier_id: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    used_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class LoginAttempt(Base):
    """One try at logging in (the rate limit counts the failed ones per name and per address)."""

    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    succeeded: Mapped[bool] = mapped_column(Boolean)


class Event(Base):
    """Every grant and decision: who, when, from where, what, on what."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="")


class Offer(Base):
    """A product a supplier offers in the catalogue: the terms of an example contract (metric, area, cells,
    bins, refresh, k, epsilon), with its price, licence and use-case notes."""

    __tablename__ = "offers"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    supplier_id: Mapped[str] = mapped_column(String(64))
    contract_id: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(200))
    use_cases: Mapped[str] = mapped_column(Text, default="")
    price_amount: Mapped[float | None] = mapped_column(nullable=True)
    price_currency: Mapped[str | None] = mapped_column(String(8), nullable=True)
    price_unit: Mapped[str | None] = mapped_column(String(40), nullable=True)
    licence: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20))
    published_by: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ApproverToken(Base):
    """A privacy officer's token for ``cde contracts approve`` (``CDE_APPROVER_TOKEN``), stored as its SHA-256;
    it expires and may be revoked."""

    __tablename__ = "approver_tokens"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Negotiation(Base):
    """A buyer's request for a product from an offer, in a Dataspace Protocol state, with its current terms
    (the draft contract's YAML)."""

    __tablename__ = "negotiations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[str] = mapped_column(String(128))
    buyer_id: Mapped[str] = mapped_column(String(64))
    requested_by: Mapped[str] = mapped_column(String(64))
    contract_id: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(20))
    terms_yaml: Mapped[str] = mapped_column(Text)
    countered_by: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the supplier of the counter-offer
    reason: Mapped[str] = mapped_column(Text, default="")
    store_path: Mapped[str | None] = mapped_column(String(400), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class NegotiationParty(Base):
    """One supplier's answer to a negotiation: pending, agreed, countered or rejected, by whom and when."""

    __tablename__ = "negotiation_parties"
    negotiation_id: Mapped[int] = mapped_column(ForeignKey("negotiations.id"), primary_key=True)
    supplier_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    answer: Mapped[str] = mapped_column(String(20))
    answered_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class NegotiationStep(Base):
    """One transition of a negotiation: who (and in what role), when, from which state to which, and why."""

    __tablename__ = "negotiation_steps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    negotiation_id: Mapped[int] = mapped_column(ForeignKey("negotiations.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_state: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")


def database_url() -> str:
    """``CDE_PORTAL_DB``, else a SQLite file in the local secrets folder (refused for a lake in a bucket).

    Raises
    ------
    PortalRefused
        The lake is in a bucket and no database URL is set.
    """
    url = settings.setting("CDE_PORTAL_DB")
    if url:
        return url
    if settings.lake_is_remote():
        raise PortalRefused("the lake is in a bucket: set CDE_PORTAL_DB to a PostgreSQL URL "
                            "(postgresql+psycopg://user@host/db) for the portal's accounts")
    folder = settings.secrets_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return f"sqlite:///{folder / 'portal.sqlite3'}"


_ENGINES: dict[str, Engine] = {}


def engine(url: str | None = None) -> Engine:
    """The engine of the portal's database (one per URL and process), its schema migrated to the newest."""
    url = url or database_url()
    if url not in _ENGINES:
        made = create_engine(url, pool_pre_ping=True)
        if made.dialect.name == "sqlite":
            event.listen(made, "connect", _sqlite_pragmas)
        migrate(made)
        if made.dialect.name == "sqlite" and made.url.database:
            os.chmod(made.url.database, 0o600)  # password hashes: the owner only
        _ENGINES[url] = made
    return _ENGINES[url]


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")  # the web server's threads and a CLI command at once
    # readers never wait for the writer, and a commit (a login, a download logged) costs no fsync of its own
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def migrate(made: Engine) -> None:
    """Bring the database's schema to the newest Alembic revision (nothing when it is there)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with made.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def session(url: str | None = None) -> Session:
    """A new ORM session on the portal's database (use as a context manager)."""
    return sessionmaker(engine(url), expire_on_commit=False)()


def forget_engines() -> None:
    """Dispose every engine (tests that switch databases)."""
    for made in _ENGINES.values():
        made.dispose()
    _ENGINES.clear()
