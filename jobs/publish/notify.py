"""Telling buyers a delivery is ready: a signed webhook and e-mail, per the buyer registry.

``reference/buyers.yaml`` (``CDE_BUYER_REGISTRY``) names each buyer's channels. After a delivery has appeared
in the buyer's folder, :func:`notify_delivery` runs each channel and appends one record per channel to
``lake/ops/notifications.jsonl``. Nothing here fails or undoes a delivery: the outcome is recorded and the
operator sees it in ``cde audit deliveries``.

Webhook: the manifest is POSTed as JSON, signed ``X-CDE-Signature: t=<unix seconds>,v1=<hex>`` where the
hex is HMAC-SHA-256 of ``"<t>.<body>"`` under the secret in the environment variable the registry names (the
timestamp lets the buyer refuse replays). A 2xx answer is the acknowledgement; 408, 429, 5xx and connection
failures are retried ``CDE_WEBHOOK_ATTEMPTS`` times in all (default 4), waiting ``CDE_WEBHOOK_BACKOFF_SECONDS``
(default 5) and doubling; any other answer, or the last failure, leaves the delivery "unacknowledged".
Redirects are not followed. Server-side request forgery: the URL must be https and every address its host
resolves to must be public (not loopback, private, link-local, reserved or multicast), checked before each
attempt; ``CDE_WEBHOOK_ALLOW_LOCAL=1`` lifts both rules for tests and local receivers only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jobs.common import paths, settings
from jobs.common.storage import append_line, read_json_lines
from jobs.publish.sla import send_mail

log = logging.getLogger("cde.notify")

RETRY_STATUSES = {408, 429}
TIMEOUT_SECONDS = 10


class WebhookRefused(ValueError):
    """A webhook URL the exchange will not call (scheme or address), named with the reason."""


def read_registry(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Buyer id to its registry entry; empty when the registry file does not exist.

    Raises
    ------
    ValueError
        A registry that is not a mapping with a ``buyers`` list of entries with an ``id``, naming the entry.
    """
    import yaml

    path = path or settings.buyer_registry_path()
    if not path.exists():
        return {}
    document = yaml.safe_load(path.read_text()) or {}
    buyers = document.get("buyers") if isinstance(document, dict) else None
    if not isinstance(buyers, list):
        raise ValueError(f"{path}: `buyers` must be a list of buyer entries")
    registry = {}
    for index, entry in enumerate(buyers):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ValueError(f"{path}: buyers[{index}].id is missing")
        notify = entry.get("notify") or {}
        webhook = notify.get("webhook")
        if webhook is not None and not (isinstance(webhook, dict) and webhook.get("url") and webhook.get("secret_env")):
            raise ValueError(f"{path}: buyers[{index}].notify.webhook needs `url` and `secret_env`")
        email = notify.get("email") or []
        if not isinstance(email, list) or not all(isinstance(a, str) and "@" in a for a in email):
            raise ValueError(f"{path}: buyers[{index}].notify.email must be a list of addresses")
        registry[entry["id"]] = entry
    return registry


def notifications_path() -> Path:
    """The record of every notification attempt's outcome."""
    return paths.ops_file("notifications.jsonl")


def read_notifications() -> list[dict[str, Any]]:
    """Every recorded notification, oldest first."""
    return read_json_lines(notifications_path())


def check_webhook_url(url: str, allow_local: bool | None = None) -> None:
    """Refuse a URL that is not https or whose host resolves to a non-public address.

    Raises
    ------
    WebhookRefused
        Naming the URL's host and why.
    """
    allow_local = settings.setting("CDE_WEBHOOK_ALLOW_LOCAL") if allow_local is None else allow_local
    parts = urlsplit(url)
    if parts.scheme not in (("https", "http") if allow_local else ("https",)):
        raise WebhookRefused(f"webhook {url!r}: only https URLs are called")
    if not parts.hostname:
        raise WebhookRefused(f"webhook {url!r}: no host")
    if parts.username or parts.password:
        raise WebhookRefused(f"webhook host {parts.hostname}: credentials in the URL are not accepted")
    if allow_local:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise WebhookRefused(f"webhook host {parts.hostname}: does not resolve ({exc})") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            raise WebhookRefused(f"webhook host {parts.hostname} resolves to {address}, which is not a public "
                                 "address: the exchange never calls loopback, private or link-local addresses")


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-CDE-Signature`` header value of a body sent at ``timestamp``."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def send_webhook(url: str, secret: bytes, manifest: dict[str, Any]) -> dict[str, Any]:
    """POST the signed manifest with bounded retries; return the outcome (never raises).

    Returns
    -------
    dict
        ``status`` (``acknowledged`` or ``unacknowledged``), ``attempts``, ``last_answer`` (HTTP status or
        the error) and ``host``.
    """
    import requests

    attempts = settings.setting("CDE_WEBHOOK_ATTEMPTS")
    wait = settings.setting("CDE_WEBHOOK_BACKOFF_SECONDS")
    body = json.dumps(manifest, sort_keys=True, default=str).encode()
    outcome: dict[str, Any] = {"host": urlsplit(url).hostname, "status": "unacknowledged", "attempts": 0}
    for attempt in range(1, attempts + 1):
        outcome["attempts"] = attempt
        try:
            check_webhook_url(url)  # again before each attempt: DNS can change between them
            now = int(time.time())
            response = requests.post(url, data=body, timeout=TIMEOUT_SECONDS, allow_redirects=False, headers={
                "Content-Type": "application/json", "X-CDE-Signature": sign(secret, now, body),
                "X-CDE-Delivery": str(manifest.get("delivery_id")), "User-Agent": "cde-notify/1"})
            outcome["last_answer"] = response.status_code
            if 200 <= response.status_code < 300:
                outcome["status"] = "acknowledged"
                return outcome
            if response.status_code not in RETRY_STATUSES and response.status_code < 500:
                return outcome  # the buyer's endpoint refused it: retrying will not change that
        except WebhookRefused as exc:
            outcome["last_answer"] = f"refused: {exc}"
            return outcome
        except requests.RequestException as exc:
            outcome["last_answer"] = f"{type(exc).__name__}: {exc}"
        if attempt < attempts:
            time.sleep(wait * 2 ** (attempt - 1))
    return outcome


def notify_delivery(contract, manifest: dict[str, Any], outbox: Path) -> list[dict[str, Any]]:
    """Tell the contract's buyer about a delivery on every channel the registry names; record each outcome.

    Never raises: a broken registry, a missing secret or an unreachable endpoint is recorded and logged,
    and the delivery stands.
    """
    base = {"contract_id": contract.id, "buyer": contract.buyer, "delivery_id": manifest.get("delivery_id"),
            "outbox": str(outbox)}
    records = []
    try:
        entry = read_registry().get(contract.buyer)
    except Exception as exc:  # the registry is the operator's to fix; the delivery stands
        entry = None
        records.append({**base, "channel": "registry", "status": "not sent", "detail": f"{exc}"})
    notify = (entry or {}).get("notify") or {}
    if notify.get("webhook"):
        hook = notify["webhook"]
        secret = os.environ.get(hook["secret_env"], "")
        if len(secret) < 16:
            records.append({**base, "channel": "webhook", "status": "unacknowledged", "attempts": 0,
                            "last_answer": f"not sent: {hook['secret_env']} is not set (16 characters or more)"})
        else:
            records.append({**base, "channel": "webhook", **send_webhook(hook["url"], secret.encode(), manifest)})
    if notify.get("email"):
        body = (f"Delivery {manifest.get('delivery_id')} of {contract.id} ({contract.name}) "
                f"is ready: local dates {manifest.get('window_start')} to {manifest.get('window_end')}.\n"
                f"Folder: {outbox}\nRead datapackage.json and README.md in it first.")
        subject = f"CDE delivery ready: {contract.id} {manifest.get('window_start')}"
        said = send_mail(list(notify["email"]), subject, body)
        records.append({**base, "channel": "email", "status": "sent" if said.startswith("sent") else "not sent",
                        "detail": said})
    if records:
        at = dt.datetime.now(dt.UTC).isoformat()
        for record in records:
            append_line(notifications_path(), json.dumps({"at": at, **record}, default=str))
        for record in records:
            if record["status"] not in ("acknowledged", "sent"):
                log.warning("delivery %s: %s notification %s (%s)", base["delivery_id"], record["channel"],
                            record["status"], record.get("last_answer") or record.get("detail"))
    return records


def delivery_notice(delivery_id: str) -> str:
    """The latest outcome per channel of one delivery, for the operator's view (``-`` when none)."""
    latest: dict[str, str] = {}
    for record in read_notifications():
        if record.get("delivery_id") == delivery_id:
            latest[record["channel"]] = record["status"]
    return ", ".join(f"{channel} {status}" for channel, status in sorted(latest.items())) or "-"
