"""Delta Sharing recipients: one per buyer, a bearer token stored only as its SHA-256, expiry and revocation.

``lake/ops/sharing_recipients.json`` holds, per recipient, the buyer, the token's hash, when it was made,
when it expires and when it was revoked. ``cde sharing add-recipient <buyer>`` makes a new token (revoking
the buyer's previous one: one live recipient per buyer) and writes the profile file the buyer loads with the
``delta-sharing`` client (``lake/ops/sharing_profiles/<buyer>.share``, mode 0600): the token is in that file
and nowhere else. Every read the server answers is appended to ``lake/ops/sharing_reads.jsonl`` (buyer,
request, table, version, files; never a token) and shown in the next audit of that contract.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from jobs.common import paths, settings
from jobs.common.locks import exclusive
from jobs.common.objectstore import S3Path
from jobs.common.storage import append_line, read_json_lines, write_atomic
from jobs.errors import Refusal, StorageFault
from jobs.publish.portfolio import load_contracts

DEFAULT_TOKEN_DAYS = 90


class RecipientError(Refusal, ValueError):
    """A recipient cannot be made or changed (unknown buyer, nothing to revoke)."""


def recipients_path() -> Path:
    """The recipients file (token hashes, expiry, revocation)."""
    return paths.ops_file("sharing_recipients.json")


def profiles_dir() -> Path:
    """Where profile files for buyers are written (each 0600): the lake's ``ops/sharing_profiles``, or, for a
    lake on an object store (whose readers must never see a token), ``sharing_profiles`` in the local secrets
    folder (``CDE_SECRETS``)."""
    if settings.lake_is_remote():
        return settings.secrets_dir() / "sharing_profiles"
    return paths.ops_file("sharing_profiles")


def reads_path() -> Path:
    """The read log of the sharing server (one JSON object per line)."""
    return paths.ops_file("sharing_reads.jsonl")


def token_hash(token: str) -> str:
    """SHA-256 hex of a bearer token (tokens are 256-bit random, so a plain hash cannot be searched)."""
    return hashlib.sha256(token.encode()).hexdigest()


RECIPIENT_FIELDS = ("buyer", "token_sha256", "expires_at")


def read_recipients() -> list[dict[str, Any]]:
    """Every recipient ever made, newest last.

    Raises
    ------
    StorageFault
        The file cannot be read or is not a recipients file (one line naming it and what to do).
    """
    path = recipients_path()
    if not path.exists():
        return []
    try:
        recipients = json.loads(path.read_text())["recipients"]
        for r in recipients:
            missing = [f for f in RECIPIENT_FIELDS if not isinstance(r.get(f), str)]
            if missing:
                raise ValueError(f"a recipient without {', '.join(missing)}")
            dt.datetime.fromisoformat(r["expires_at"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StorageFault(f"ops/sharing_recipients.json ({path}) cannot be read ({type(exc).__name__}: "
                           f"{str(exc)[:120]}): restore it from its object-store version or backup, or move it "
                           f"aside and make each buyer's recipient again (cde sharing add-recipient)") from None
    return recipients


def _write(recipients: list[dict[str, Any]]) -> None:
    # atomic: the server never reads half a file
    write_atomic(recipients_path(), json.dumps({"recipients": recipients}, indent=2), mode=0o600)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def known_buyers() -> set[str]:
    """Buyers named by a valid contract (a recipient is made only for one of them)."""
    contracts, _ = load_contracts()
    return {c.buyer for c in contracts.values()}


def add_recipient(buyer: str, endpoint: str, days: int = DEFAULT_TOKEN_DAYS) -> Path:
    """Make the buyer's recipient (revoking any earlier one) and write its profile file.

    Parameters
    ----------
    buyer : str
        A buyer named in a valid contract; becomes the recipient's share name.
    endpoint : str
        The server's URL as the buyer reaches it (``http://127.0.0.1:8765/delta-sharing``).
    days : int
        Days until the token expires (1 to 366).

    Returns
    -------
    Path
        The profile file, readable by its owner only: hand it to the buyer over a secure channel.
    """
    if buyer not in known_buyers():
        raise RecipientError(f"buyer {buyer!r} is named by no valid contract: nothing to share with it")
    if not 1 <= days <= 366:
        raise RecipientError(f"--days must be 1 to 366, not {days}")
    token = secrets.token_urlsafe(32)
    now = _now()
    expires = now + dt.timedelta(days=days)
    with exclusive("sharing-recipients"):
        recipients = read_recipients()
        for r in recipients:
            if r["buyer"] == buyer and not r.get("revoked_at"):
                r["revoked_at"] = now.isoformat()
                r["revoked_because"] = "replaced by a new recipient"
        recipients.append({"recipient_id": secrets.token_hex(8), "buyer": buyer, "token_sha256": token_hash(token),
                           "created_at": now.isoformat(), "expires_at": expires.isoformat(), "revoked_at": None})
        _write(recipients)
    folder = profiles_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    profile = folder / f"{buyer}.share"
    fd = os.open(profile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"shareCredentialsVersion": 1, "endpoint": endpoint.rstrip("/"), "bearerToken": token,
                   "expirationTime": expires.isoformat().replace("+00:00", "Z")}, f, indent=2)
    os.chmod(profile, 0o600)
    return profile


def revoke(buyer: str, because: str = "revoked by the operator") -> int:
    """Revoke every live token of ``buyer``; return how many were revoked."""
    with exclusive("sharing-recipients"):
        recipients = read_recipients()
        live = [r for r in recipients if r["buyer"] == buyer and not r.get("revoked_at")]
        for r in live:
            r["revoked_at"] = _now().isoformat()
            r["revoked_because"] = because
        if live:
            _write(recipients)
    profile = profiles_dir() / f"{buyer}.share"
    profile.unlink(missing_ok=True)
    return len(live)


def authenticate(token: str, recipients: list[dict[str, Any]], now: dt.datetime | None = None) -> str | None:
    """The buyer a bearer token stands for, or None when it is unknown, expired or revoked."""
    digest = token_hash(token)
    now = now or dt.datetime.now(dt.UTC)
    for r in recipients:
        if hmac.compare_digest(r["token_sha256"], digest):
            if r.get("revoked_at") or dt.datetime.fromisoformat(r["expires_at"]) <= now:
                return None
            return r["buyer"]
    return None


def refusals_path() -> Path:
    """The log of refused sharing requests (401, 403, 404: one JSON object per line)."""
    return paths.ops_file("sharing_refusals.jsonl")


def log_refusal(entry: dict[str, Any]) -> None:
    """Append one refused request (status, error code, path, table when named, token fingerprint, address)."""
    _append_entry(refusals_path(), entry)


def refusals_summary(contract_id: str, since: str | None = None, latest: int = 20) -> dict[str, Any] | None:
    """Refused sharing requests since ``since`` for a contract's audit: those naming its table, and how many
    named no table at all (a bad token on the share list cannot be told apart by product)."""
    refused = [r for r in read_json_lines(refusals_path()) if since is None or r["at"] >= since]
    mine = [r for r in refused if r.get("table") == contract_id]
    unnamed = sum(1 for r in refused if not r.get("table"))
    if not mine and not unnamed:
        return None
    statuses = sorted({r["status"] for r in mine})
    return {"since": since, "total": len(mine), "unattributed": unnamed,
            "by_status": {str(k): sum(1 for r in mine if r["status"] == k) for k in statuses},
            "latest": mine[-latest:]}


def log_read(entry: dict[str, Any]) -> None:
    """Append one answered read to the read log (one short line, appended atomically)."""
    _append_entry(reads_path(), entry)


def _append_entry(path: Path, entry: dict[str, Any]) -> None:
    line = json.dumps({"at": _now().isoformat(), **entry}) + "\n"
    if isinstance(path, S3Path):
        append_line(path, line)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def reads_of(contract_id: str) -> list[dict[str, Any]]:
    """Every logged read of one contract's product table, oldest first."""
    return [entry for entry in read_json_lines(reads_path()) if entry.get("table") == contract_id]


def reads_summary(contract_id: str, since: str | None = None, latest: int = 20) -> dict[str, Any] | None:
    """Reads of a contract's product since ``since`` (ISO instant; all when None), for its audit."""
    # Both instants are to the second: a read in the same second as the previous audit is counted again
    # rather than missed (an audit may over-report reads, never hide one).
    reads = [r for r in reads_of(contract_id) if since is None or r["at"] >= since]
    if not reads:
        return None
    return {"total": len(reads), "since": since, "recipients": sorted({r["buyer"] for r in reads}),
            "by_request": {k: sum(1 for r in reads if r["request"] == k)
                           for k in sorted({r["request"] for r in reads})},
            "latest": reads[-latest:]}
