"""A delivery tells its buyer: the signed webhook (acknowledged after a retry) and e-mail, shown to the
operator by ``cde audit deliveries``; an unreachable endpoint leaves the delivery standing, unacknowledged."""

from __future__ import annotations

import email
import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]
CONTRACT, BUYER = "kk-inner-city-presence", "kobenhavns-kommune"


def _registry(tmp_path, url: str) -> str:
    path = tmp_path / "buyers.yaml"
    path.write_text(f"buyers:\n  - id: {BUYER}\n    notify:\n      webhook: {{url: '{url}', secret_env: KK_HOOK_SECRET}}\n"
                    "      email: [byliv@kk.example]\n")
    return str(path)


def test_a_delivery_is_acknowledged_by_the_buyers_webhook_and_mailed(spark, simulated_day, lake_copy, receiver,
                                                                    smtp_sink, tmp_path, monkeypatch):
    from jobs.publish.deliver import publish
    from jobs.publish.notify import read_notifications
    from jobs.publish.portfolio import find_contract

    url, hits, answers = receiver
    port, mails = smtp_sink
    monkeypatch.setenv("CDE_BUYER_REGISTRY", _registry(tmp_path, url))
    monkeypatch.setenv("KK_HOOK_SECRET", "kk-shared-secret-0123456789")
    monkeypatch.setenv("CDE_WEBHOOK_ALLOW_LOCAL", "1")
    monkeypatch.setenv("CDE_WEBHOOK_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", f"smtp://127.0.0.1:{port}?disable_ssl=true&disable_tls=true")
    answers.append(500)  # the buyer's endpoint fails once
    result = publish(spark, find_contract(CONTRACT), simulated_day.day)
    assert len(hits) == 2 and json.loads(hits[-1]["body"]) == json.loads(json.dumps(result["manifest"], default=str))
    told = {r["channel"]: r for r in read_notifications() if r["delivery_id"] == result["delivery_id"]}
    assert told["webhook"]["status"] == "acknowledged" and told["webhook"]["attempts"] == 2
    assert told["email"]["status"] == "sent" and len(mails) == 1 and "byliv@kk.example" in mails[0]["to"]
    message = email.message_from_string(mails[0]["data"])
    text = "".join(part.get_payload(decode=True).decode() for part in message.walk() if not part.is_multipart())
    assert CONTRACT in message["Subject"] and result["delivery_id"] in text and "datapackage.json" in text
    shown = subprocess.run([sys.executable, "-m", "jobs", "audit", "deliveries", "--contract", CONTRACT,
                            "--now", "2026-03-04T12:00:00+01:00", "--days", "2"], capture_output=True, text=True,
                           timeout=300)
    assert "buyer told: email sent, webhook acknowledged" in shown.stdout, shown.stdout + shown.stderr

    # the endpoint goes away: the redelivery stands, recorded as unacknowledged after the last retry
    monkeypatch.setenv("CDE_WEBHOOK_ATTEMPTS", "2")
    monkeypatch.setenv("CDE_BUYER_REGISTRY", _registry(tmp_path, "http://127.0.0.1:9/gone"))
    again = publish(spark, find_contract(CONTRACT), simulated_day.day)
    latest = [r for r in read_notifications() if r["channel"] == "webhook"][-1]
    assert again["delivery_id"] == result["delivery_id"] and latest["status"] == "unacknowledged"
    assert latest["attempts"] == 2 and "ConnectionError" in latest["last_answer"]
