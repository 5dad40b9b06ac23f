"""Accounts, logins and invitations of the portal; every grant and decision written to the event log.

Passwords are hashed with argon2id (``argon2-cffi``'s defaults, RFC 9106's second recommended setting).
A login is a random 256-bit token in an HTTP-only, SameSite=Strict cookie, stored here only as its SHA-256.
Failed logins are limited per user name and per address (``MAX_FAILURES`` in ``FAILURE_WINDOW``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from jobs.common import settings
from jobs.portal.db import (
    ApproverToken,
    Event,
    Invitation,
    LoginAttempt,
    LoginSession,
    PortalRefused,
    User,
    session,
    utcnow,
)

HASHER = PasswordHasher()
MIN_PASSWORD = 12
MAX_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)
INVITATION_DAYS = 7
# a hash to verify against when the name is unknown, so a wrong name takes as long as a wrong password
_DUMMY_HASH = HASHER.hash("not a password of anyone")


def token_hash(token: str) -> str:
    """SHA-256 hex of a random token (a session or an invitation)."""
    return hashlib.sha256(token.encode()).hexdigest()


def registry_ids(path) -> dict[str, str]:
    """Id to name of every entry of a registry file (buyers or suppliers)."""
    doc = yaml.safe_load(path.read_text()) or {}
    entries = doc.get("buyers") or doc.get("suppliers") or []
    return {str(e["id"]): str(e.get("name", e["id"])) for e in entries}


def buyers() -> dict[str, str]:
    """The buyer organisations of ``reference/buyers.yaml``."""
    return registry_ids(settings.buyer_registry_path())


def buyer_sectors() -> dict[str, str]:
    """Buyer id to its sector in ``reference/buyers.yaml`` (a supplier's rules may refuse a sector)."""
    doc = yaml.safe_load(settings.buyer_registry_path().read_text()) or {}
    return {str(e["id"]): str(e["sector"]) for e in doc.get("buyers") or [] if e.get("sector")}


def suppliers() -> dict[str, str]:
    """The suppliers of ``reference/suppliers.yaml``."""
    return registry_ids(settings.supplier_registry_path())


def log_event(actor: str, address: str, action: str, subject: str, detail: str = "") -> None:
    """Record one grant or decision: who, from where, what, on what (the time is now)."""
    with session() as s, s.begin():
        s.add(Event(at=utcnow(), actor=actor, address=address, action=action, subject=subject, detail=detail))


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise PortalRefused(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise PortalRefused("password: at most 1024 characters")


def _check_username(username: str) -> None:
    if not (3 <= len(username) <= 64) or not all(c.isalnum() or c in "._-@" for c in username):
        raise PortalRefused("username: 3 to 64 letters, digits or . _ - @")


def _new_user(username: str, password: str, role: str, created_by: str, address: str,
              buyer_id: str | None = None, supplier_id: str | None = None) -> User:
    _check_username(username)
    _check_password(password)
    with session() as s, s.begin():
        if s.scalar(select(User).where(User.username == username)):
            raise PortalRefused(f"username: {username!r} exists")
        user = User(username=username, password_hash=HASHER.hash(password), role=role, buyer_id=buyer_id,
                    supplier_id=supplier_id, created_at=utcnow(), created_by=created_by, disabled=False)
        s.add(user)
        s.add(Event(at=utcnow(), actor=created_by, address=address, action="grant",
                    subject=f"user {username}", detail=f"role {role}" + (f", buyer {buyer_id}" if buyer_id else "")
                    + (f", supplier {supplier_id}" if supplier_id else "")))
    return user


def init_admin(username: str, password: str, address: str = "cli") -> User:
    """Make the first administrator; refused once any administrator exists."""
    with session() as s:
        if s.scalar(select(func.count()).select_from(User).where(User.role == "administrator")):
            raise PortalRefused("an administrator exists: init-admin makes only the first one")
    return _new_user(username, password, "administrator", "init-admin", address)


def check_new_user(role: str, buyer: str | None) -> None:
    """Refuse a role ``add_user`` may not make, or a buyer organisation the registry does not hold."""
    if role not in ("buyer", "operator"):
        raise PortalRefused(f"role: {role!r} cannot be made here: a privacy officer joins through an "
                            "administrator's invitation, and only the first administrator is made (init-admin)")
    if role == "buyer":
        known = buyers()
        if buyer not in known:
            raise PortalRefused(f"buyer: {buyer!r} is not in the buyer registry ({', '.join(sorted(known))})")
    elif buyer:
        raise PortalRefused("buyer: only a buyer belongs to a buyer organisation")


def add_user(username: str, password: str, role: str, buyer: str | None = None, created_by: str = "cli",
             address: str = "cli") -> User:
    """Make a buyer (of a registered buyer organisation) or an operator.

    Raises
    ------
    PortalRefused
        Another role (privacy officers come only through an invitation, administrators only from
        ``init-admin``), an unknown buyer, a taken name or a short password.
    """
    check_new_user(role, buyer)
    return _new_user(username, password, role, created_by, address, buyer_id=buyer if role == "buyer" else None)


def invite_officer(supplier: str, email: str, created_by: str, address: str) -> str:
    """Issue a one-time invitation for a supplier's privacy officer; return its token (shown or e-mailed once).

    Raises
    ------
    PortalRefused
        The supplier is not in the supplier registry.
    """
    known = suppliers()
    if supplier not in known:
        raise PortalRefused(f"supplier: {supplier!r} is not in the supplier registry ({', '.join(sorted(known))})")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with session() as s, s.begin():
        s.add(Invitation(token_sha256=token_hash(token), supplier_id=supplier, email=email, created_by=created_by,
                         created_at=now, expires_at=now + dt.timedelta(days=INVITATION_DAYS)))
        s.add(Event(at=now, actor=created_by, address=address, action="invite",
                    subject=f"supplier {supplier}", detail=f"privacy officer invitation to {email}"))
    return token


def open_invitation(token: str) -> Invitation | None:
    """The unused, unexpired invitation a token stands for, or None."""
    with session() as s:
        found = s.get(Invitation, token_hash(token))
        if found is None or found.used_at is not None or _aware(found.expires_at) <= utcnow():
            return None
        return found


def accept_invitation(token: str, username: str, password: str, address: str) -> User:
    """Make the invited privacy officer (once per invitation).

    Raises
    ------
    PortalRefused
        The invitation is unknown, used or expired, or the name or password is refused.
    """
    invitation = open_invitation(token)
    if invitation is None:
        raise PortalRefused("invitation: unknown, used or expired")
    user = _new_user(username, password, "privacy_officer", f"invitation of {invitation.created_by}", address,
                     supplier_id=invitation.supplier_id)
    with session() as s, s.begin():
        row = s.get(Invitation, token_hash(token))
        row.used_at, row.used_by = utcnow(), username
    return user


def _aware(when: dt.datetime) -> dt.datetime:
    # SQLite gives naive datetimes back; every stored instant is UTC
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def rate_limited(username: str, address: str) -> bool:
    """Whether this name or this address has failed ``MAX_FAILURES`` times within ``FAILURE_WINDOW``."""
    since = utcnow() - FAILURE_WINDOW
    with session() as s:
        for column, value in ((LoginAttempt.username, username), (LoginAttempt.address, address)):
            failures = s.scalar(select(func.count()).select_from(LoginAttempt).where(
                column == value, LoginAttempt.at >= since, LoginAttempt.succeeded.is_(False)))
            if failures >= MAX_FAILURES:
                return True
    return False


def login(username: str, password: str, address: str) -> tuple[User, str] | None:
    """Check a name and password; on success a new session token (the cookie's value), else None."""
    with session() as s:
        user = s.scalar(select(User).where(User.username == username[:64]))
    ok = False
    try:
        HASHER.verify(user.password_hash if user else _DUMMY_HASH, password[:1024])
        ok = user is not None and not user.disabled
    except (VerificationError, InvalidHashError):
        ok = False
    now = utcnow()
    with session() as s, s.begin():
        s.add(LoginAttempt(username=username[:64], address=address[:64], at=now, succeeded=ok))
        if not ok:
            return None
        token = secrets.token_urlsafe(32)
        hours = float(settings.setting("CDE_PORTAL_SESSION_HOURS"))
        s.add(LoginSession(token_sha256=token_hash(token), user_id=user.id, created_at=now,
                           expires_at=now + dt.timedelta(hours=hours), address=address[:64]))
        s.add(Event(at=now, actor=user.username, address=address[:64], action="login", subject=user.username))
    return user, token


def user_of(token: str | None) -> User | None:
    """The user a session token stands for, or None when it is unknown, expired or the user is disabled."""
    if not token or len(token) > 200:
        return None
    with session() as s:
        found = s.get(LoginSession, token_hash(token))
        if found is None or _aware(found.expires_at) <= utcnow():
            return None
        user = s.get(User, found.user_id)
        return None if user is None or user.disabled else user


def logout(token: str | None) -> None:
    """End a session (nothing when it is unknown)."""
    if not token:
        return
    with session() as s, s.begin():
        found = s.get(LoginSession, token_hash(token))
        if found is not None:
            s.delete(found)


def users() -> list[User]:
    """Every account, oldest first."""
    with session() as s:
        return list(s.scalars(select(User).order_by(User.id)))


def events(limit: int = 200) -> list[Event]:
    """The newest grants and decisions, newest first."""
    with session() as s:
        return list(s.scalars(select(Event).order_by(Event.id.desc()).limit(limit)))


APPROVER_TOKEN_PREFIX = "cdeapprove_"
APPROVER_TOKEN_DAYS = 30


def issue_approver_token(user: User, label: str, days: int, address: str) -> str:
    """Issue a privacy officer's token for ``cde contracts approve``; return it (shown once, stored hashed).

    Raises
    ------
    PortalRefused
        The user is not a privacy officer, or the lifetime is not 1 to 365 days.
    """
    if user.role != "privacy_officer" or not user.supplier_id:
        raise PortalRefused("role: only a supplier's privacy officer approves contracts")
    if not 1 <= days <= 365:
        raise PortalRefused("days: a token lasts 1 to 365 days")
    token = APPROVER_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    with session() as s, s.begin():
        s.add(ApproverToken(token_sha256=token_hash(token), user_id=user.id, label=label.strip()[:100],
                            created_at=now, expires_at=now + dt.timedelta(days=days)))
        s.add(Event(at=now, actor=user.username, address=address[:64], action="issue token",
                    subject=f"approver token {token_hash(token)[:12]}",
                    detail=f"for {user.supplier_id}, {days} days, {label.strip()[:100]}"))
    return token


def approver_tokens(user: User) -> list[ApproverToken]:
    """An officer's approver tokens, newest first."""
    with session() as s:
        return list(s.scalars(select(ApproverToken).where(ApproverToken.user_id == user.id)
                              .order_by(ApproverToken.created_at.desc())))


def revoke_approver_token(user: User, token_id: str, address: str) -> None:
    """Revoke one of the user's approver tokens (by the first characters of its hash, as the page lists it).

    Raises
    ------
    PortalRefused
        No such token of this user.
    """
    now = utcnow()
    with session() as s, s.begin():
        found = [t for t in s.scalars(select(ApproverToken).where(ApproverToken.user_id == user.id))
                 if token_id and t.token_sha256.startswith(token_id)]
        if len(found) != 1:
            raise PortalRefused("token: not one of your approver tokens")
        found[0].revoked_at = found[0].revoked_at or now
        s.add(Event(at=now, actor=user.username, address=address[:64], action="revoke token",
                    subject=f"approver token {found[0].token_sha256[:12]}"))


def approver_identity(token: str | None, supplier: str) -> str:
    """The identity an approver token stands for, checked for this supplier: ``username <e-mail>``.

    Raises
    ------
    PortalRefused
        No token (a typed name is not an identity), or a token that is unknown, revoked, expired, of a
        disabled account, or of another supplier's officer; each said in words.
    """
    if not token:
        raise PortalRefused("CDE_APPROVER_TOKEN is not set: an approval needs the identity of the supplier's privacy "
                            "officer, and a typed name is not one; issue a token on the portal's Approver tokens page "
                            "and set CDE_APPROVER_TOKEN to it")
    now = utcnow()
    with session() as s, s.begin():
        found = s.get(ApproverToken, token_hash(token.strip()))
        if found is None:
            raise PortalRefused("CDE_APPROVER_TOKEN: not a token the portal issued")
        user = s.get(User, found.user_id)
        if found.revoked_at is not None:
            raise PortalRefused(f"CDE_APPROVER_TOKEN: revoked at {_aware(found.revoked_at):%Y-%m-%d %H:%M} UTC")
        if _aware(found.expires_at) <= now:
            raise PortalRefused(f"CDE_APPROVER_TOKEN: expired at {_aware(found.expires_at):%Y-%m-%d %H:%M} UTC; "
                                "issue a new one in the portal")
        if user is None or user.disabled or user.role != "privacy_officer":
            raise PortalRefused("CDE_APPROVER_TOKEN: its account is disabled or no longer a privacy officer")
        if user.supplier_id != supplier:
            raise PortalRefused(f"CDE_APPROVER_TOKEN: {user.username} is a privacy officer of {user.supplier_id}, "
                                f"not of {supplier}")
        found.last_used_at = now
    return officer_identity(user)


def officer_identity(user: User) -> str:
    """How an officer is named in an approval: the account, with the e-mail its invitation was sent to."""
    with session() as s:
        email = s.scalar(select(Invitation.email).where(Invitation.used_by == user.username))
    return f"{user.username} <{email}>" if email else user.username
