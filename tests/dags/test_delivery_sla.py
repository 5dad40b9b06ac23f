"""The hourly delivery_sla DAG: a delivery past its contract's latency SLA fails the run and is mailed once."""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = [pytest.mark.airflow]


def test_the_delivery_sla_dag_fails_on_a_miss_and_mails_once(airflow_db, dagbag, lake_root, smtp_sink, monkeypatch):
    from jobs.common.settings import LOCAL_TZ
    from jobs.publish.sla import read_alerts

    port, mails = smtp_sink
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", f"smtp://127.0.0.1:{port}?disable_ssl=true&disable_tls=true")
    dag = dagbag.dags["delivery_sla"]
    when = dt.datetime(2026, 3, 5, 10, 0, tzinfo=LOCAL_TZ)
    run = dag.test(logical_date=when)
    assert run.state == "failed"  # an empty outbox: every contract's deliveries of the last days are missed
    alerts = read_alerts()
    assert len({a["contract_id"] for a in alerts}) >= 5 and all(a["source"] == "Airflow delivery_sla" for a in alerts)
    sent = [a for a in alerts if a["email"].startswith("sent to")]
    assert sent and len(mails) == len(sent)
    run = dag.test(logical_date=when + dt.timedelta(minutes=1))
    assert run.state == "failed"  # still missed: the task stays red ...
    assert len(read_alerts()) == len(alerts) and len(mails) == len(sent)  # ... but each miss is alerted once
