"""Missed deliveries are seen: the latency SLA against the outbox, Airflow's deadline callback, alerts and mail."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys

import pytest

from jobs.common import settings

CONTRACT = "retail-stroget-footfall"  # cron 30 6 * * * (Copenhagen), latency 8 h


def test_the_latency_sla_is_read_and_checked():
    from jobs.contracts import latency

    assert latency({"slaProperties": [{"property": "latency", "value": 8, "unit": "h"}]}) == dt.timedelta(hours=8)
    assert latency({"slaProperties": [{"property": "latency", "value": 2, "unit": "d"}]}) == dt.timedelta(days=2)
    assert latency({"slaProperties": [{"property": "frequency", "value": 1, "unit": "d"}]}) is None
    with pytest.raises(ValueError, match="slaProperties.latency.value"):
        latency({"slaProperties": [{"property": "latency", "value": -1, "unit": "h"}]})
    with pytest.raises(ValueError, match="slaProperties.latency.unit"):
        latency({"slaProperties": [{"property": "latency", "value": 8, "unit": "fortnights"}]})


def test_a_contract_with_a_bad_latency_is_refused(tmp_path):

    import yaml

    from jobs.common import settings
    from jobs.errors import ContractError
    from jobs.publish.portfolio import load_contract

    doc = yaml.safe_load((settings.contracts_dir() / f"{CONTRACT}.yaml").read_text())
    for item in doc["slaProperties"]:
        if item["property"] == "latency":
            item["unit"] = "weeks"
    path = tmp_path / f"{CONTRACT}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(ContractError, match="slaProperties.latency.unit"):
        load_contract(path)


def test_on_time_late_missed_and_not_yet_due(lake_root):
    from jobs.publish.portfolio import find_contract
    from jobs.publish.sla import delivery_states

    contract = find_contract(CONTRACT)
    cph = dt.timezone(dt.timedelta(hours=1))

    def manifest(day: int, created: str) -> None:
        folder = lake_root / "outbox" / contract.buyer / CONTRACT / f"d{day}"
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps({
            "delivery_id": f"d{day}", "window_start": f"2026-03-{day:02d}T00:00:00+01:00", "created_at": created}))

    manifest(1, "2026-03-02T09:00:00+00:00")  # fired 03-02 06:30, due 14:30 local: on time
    manifest(2, "2026-03-03T14:00:00+00:00")  # due 03-03 14:30 local = 13:30 UTC: late
    rows = delivery_states([contract], dt.datetime(2026, 3, 5, 10, 0, tzinfo=cph), days=4)
    states = {r["window_start"].day: r["state"] for r in rows}
    # 03-04 fire (window 03-03) due 14:30 on 03-04: missed by 03-05 10:00; the 03-05 fire is not due until 14:30
    assert states == {1: "on time", 2: "late", 3: "missed", 4: "not yet due"}, rows


@pytest.mark.spark
@pytest.mark.integration
@pytest.mark.slow
def test_missed_deliveries_show_in_cde_audit_and_raise_one_alert_each(spark, simulated_day, lake_copy, smtp_sink,
                                                                     monkeypatch):
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract
    from jobs.publish.sla import read_alerts

    port, mails = smtp_sink
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", f"smtp://127.0.0.1:{port}?disable_ssl=true&disable_tls=true")
    monkeypatch.setenv("CDE_ALERT_EMAIL", "ops@supplier.example")
    publish(spark, find_contract(CONTRACT), simulated_day.day)  # 2026-03-03, made now: late by months
    now = "2026-03-06T10:00:00+01:00"

    def audit(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "jobs", "audit", "deliveries", "--contract", CONTRACT,
                               "--now", now, "--days", "3", *extra], capture_output=True, text=True, timeout=300)

    shown = audit("--alert")
    assert shown.returncode == 1, shown.stderr  # a miss is a failure the operator's cron can see
    found = [re.match(r"\s+(on time|late|missed|not yet due)\s+(\S+)\s+(\S+)", line) for line in shown.stdout.splitlines()]
    assert [m.group(1, 3) for m in found if m] == [("late", "2026-03-03..2026-03-04"), ("missed", "2026-03-04..2026-03-05"),
                                                  ("not yet due", "2026-03-05..2026-03-06")], shown.stdout
    alerts = read_alerts()
    assert [a["window_start"] for a in alerts] == ["2026-03-04"]
    assert alerts[0]["email"].startswith("sent to"), alerts
    alert_mails = [m for m in mails if "ops@supplier.example" in m["to"]]  # the buyer is told of the delivery too
    assert len(alert_mails) == 1 and CONTRACT in alert_mails[0]["data"]
    assert len(mails) == 2 and "data@nordisk-retail.example" in mails[0]["to"]
    again = audit("--alert")
    assert again.returncode == 1 and "SLA alerts recorded: 1 (0 new)" in again.stdout  # one alert per miss
    assert len(mails) == 2


def test_without_a_mail_server_the_alert_is_still_recorded(lake_root, monkeypatch):
    from jobs.publish.portfolio import find_contract
    from jobs.publish.sla import read_alerts, record_alert

    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", "smtp://127.0.0.1:1?disable_ssl=true&disable_tls=true")
    record_alert(find_contract(CONTRACT), dt.date(2026, 3, 3), dt.date(2026, 3, 4), None, "test")
    (alert,) = read_alerts()
    assert alert["email"].startswith("not sent:") and alert["window_start"] == "2026-03-03"


def test_a_simulated_lake_is_judged_by_its_own_clock_and_nothing_before_its_first_day_is_due(
        spark, simulated_day, lake_copy, capsys):
    """Right after a demo (issue 34): the simulated day's deliveries are on time by the simulated world's clock,
    windows before its first ingested day are not due, and ``cde audit deliveries`` exits 0."""
    from jobs.cli import main
    from jobs.publish import sla
    from jobs.publish.deliver import publish
    from jobs.publish.portfolio import find_contract

    clock = sla.lake_clock()
    assert clock.simulated and clock.now == dt.datetime(2026, 3, 5, tzinfo=settings.LOCAL_TZ)
    assert sla.first_ingested_day() == simulated_day.day
    publish(spark, find_contract(CONTRACT), simulated_day.day)  # made now, in December: on time in March
    assert main(["audit", "deliveries", "--contract", CONTRACT]) == 0
    shown = capsys.readouterr().out
    assert "the simulated world's clock: 2026-03-05T00:00+01:00" in shown
    found = re.findall(r"^\s+(on time|late|missed|not yet due)\s+(\S+)\s+(\S+)", shown, re.M)
    assert found == [("on time", CONTRACT, "2026-03-03..2026-03-04")], shown
    # judged at a real time instead, the days after the simulated one are missed, as before
    assert main(["audit", "deliveries", "--contract", CONTRACT, "--now", "2026-12-06T12:00+01:00"]) == 1


def test_without_a_mail_connection_the_alert_says_mail_is_not_set_up(lake_root, monkeypatch, caplog):
    from jobs.publish.portfolio import find_contract
    from jobs.publish.sla import read_alerts, record_alert

    monkeypatch.delenv("AIRFLOW_CONN_SMTP_DEFAULT", raising=False)
    with caplog.at_level("WARNING", logger="cde.sla"):
        record_alert(find_contract(CONTRACT), dt.date(2026, 3, 3), dt.date(2026, 3, 4), None, "test")
    (alert,) = read_alerts()
    assert alert["email"] == "not sent: no SMTP connection smtp_default is configured"
    # a setup state, not a fault: a warning, where a refusing server is an error
    assert [r.levelname for r in caplog.records if "not sent" in r.getMessage()] == ["WARNING"]
