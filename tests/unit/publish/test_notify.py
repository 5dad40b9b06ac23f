"""Webhook notifications: the SSRF rules, the signature, bounded retries against a real local receiver."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from jobs.publish import notify

SECRET = b"buyer-shared-secret-0123456789"


@pytest.mark.parametrize("url", [
    "http://example.com/hook",                     # not https
    "https://127.0.0.1/hook", "https://localhost/hook", "https://[::1]/hook",   # loopback
    "https://10.1.2.3/hook", "https://192.168.0.10/hook", "https://172.16.0.1/hook",   # private
    "https://169.254.169.254/latest/meta-data/",  # link-local (cloud metadata)
    "https://0.0.0.0/hook", "https://224.0.0.1/hook",   # unspecified, multicast
    "https://user:pw@93.184.215.14/hook",          # credentials in the URL
    "file:///etc/passwd", "https:///nohost",
])
def test_webhook_urls_that_could_reach_inside_are_refused(url):
    with pytest.raises(notify.WebhookRefused):
        notify.check_webhook_url(url, allow_local=False)


def test_a_public_https_address_is_accepted():
    notify.check_webhook_url("https://93.184.215.14/hook", allow_local=False)  # a literal: no DNS needed


def test_the_signed_manifest_is_retried_after_a_500_and_acknowledged(receiver, monkeypatch):
    url, hits, answers = receiver
    monkeypatch.setenv("CDE_WEBHOOK_ALLOW_LOCAL", "1")
    monkeypatch.setenv("CDE_WEBHOOK_BACKOFF_SECONDS", "0.01")
    answers.extend([500, 503])
    manifest = {"delivery_id": "d-1", "files": [{"name": "data.parquet", "sha256": "ab"}]}
    outcome = notify.send_webhook(url, SECRET, manifest)
    assert outcome["status"] == "acknowledged" and outcome["attempts"] == 3 and outcome["last_answer"] == 200
    assert len(hits) == 3
    body, headers = hits[-1]["body"], hits[-1]["headers"]
    assert json.loads(body) == manifest and headers["X-CDE-Delivery"] == "d-1"
    t, v1 = (part.split("=", 1)[1] for part in headers["X-CDE-Signature"].split(","))
    assert hmac.compare_digest(v1, hmac.new(SECRET, f"{t}.".encode() + body, hashlib.sha256).hexdigest())
    assert not hmac.compare_digest(v1, hmac.new(b"another-secret", f"{t}.".encode() + body, hashlib.sha256).hexdigest())


def test_retries_are_bounded_and_a_refusal_is_not_retried(receiver, monkeypatch):
    url, hits, answers = receiver
    monkeypatch.setenv("CDE_WEBHOOK_ALLOW_LOCAL", "1")
    monkeypatch.setenv("CDE_WEBHOOK_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("CDE_WEBHOOK_ATTEMPTS", "3")
    answers.extend([500] * 10)
    outcome = notify.send_webhook(url, SECRET, {"delivery_id": "d-2"})
    assert outcome["status"] == "unacknowledged" and outcome["attempts"] == 3 and len(hits) == 3
    answers.clear()
    answers.append(404)
    outcome = notify.send_webhook(url, SECRET, {"delivery_id": "d-3"})
    assert outcome["status"] == "unacknowledged" and outcome["attempts"] == 1 and outcome["last_answer"] == 404
    answers.append(302)  # a redirect towards the metadata service is not followed
    outcome = notify.send_webhook(url, SECRET, {"delivery_id": "d-4"})
    assert outcome["status"] == "unacknowledged" and outcome["last_answer"] == 302 and len(hits) == 5


def test_without_the_test_switch_loopback_is_never_called(receiver, monkeypatch):
    url, hits, _ = receiver
    monkeypatch.delenv("CDE_WEBHOOK_ALLOW_LOCAL", raising=False)
    outcome = notify.send_webhook(url.replace("http://", "https://"), SECRET, {"delivery_id": "d-5"})
    assert outcome["status"] == "unacknowledged" and "refused" in outcome["last_answer"] and hits == []


def test_a_broken_registry_names_the_entry(tmp_path):
    path = tmp_path / "buyers.yaml"
    path.write_text("buyers:\n  - id: b\n    notify: {webhook: {url: 'https://x.example/h'}}\n")
    with pytest.raises(ValueError, match=r"buyers\[0\]\.notify\.webhook needs `url` and `secret_env`"):
        notify.read_registry(path)
    path.write_text("buyers:\n  - name: no id\n")
    with pytest.raises(ValueError, match=r"buyers\[0\]\.id"):
        notify.read_registry(path)


def test_the_shipped_registry_names_every_example_buyer():
    from jobs.publish.portfolio import load_contracts

    registry = notify.read_registry()
    assert {c.buyer for c in load_contracts()[0].values()} <= set(registry)
