"""
### Telco slice: ingest -> aggregate -> publish, for one local Copenhagen day

Runs daily in Europe/Copenhagen with data-interval semantics: the run for the interval starting at
local midnight of day D processes day D. A manual run can name the day with the `date` param.

1. `data_date`: the local date this run processes.
2. `ingest_telco`: `lake/landing/telco/<date>/` -> `bronze/telco_events` (+ `quarantine/telco`, `ops/ingest_runs`).
3. `aggregate`: bronze -> `silver/presence` for that date.
4. `publish`: the contract's release (noise drawn once, budget spent once) -> `gold/<contract>`,
   `outbox/<buyer>/<contract>/<delivery>/`, `audit/<contract>/<delivery>.{json,html}`.

Every stage is idempotent per date: a retry or rerun replaces the same partitions and reuses a stored
release, spending no new budget.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

DEFAULT_CONTRACT = "kk-inner-city-presence"


@dag(
    dag_id="cde_telco_slice",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="Europe/Copenhagen"),
    start_date=pendulum.datetime(2026, 3, 1, tz="Europe/Copenhagen"),
    catchup=False,
    max_active_runs=1,
    tags=["cde", "feed:telco", f"contract:{DEFAULT_CONTRACT}"],
    doc_md=__doc__,
    default_args={
        "owner": "cde-data-platform",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(hours=2),
    },
    params={
        "date": Param(None, type=["null", "string"], format="date",
                      description="Local date to process (YYYY-MM-DD); default: the data interval's date"),
        "contract_id": Param(DEFAULT_CONTRACT, type="string", description="Contract to publish"),
    },
)
def cde_telco_slice():
    @task
    def data_date(params=None, data_interval_start=None) -> str:
        from jobs.tasks import data_date as resolve

        return resolve(params or {}, data_interval_start)

    @task
    def ingest_telco(date: str) -> dict:
        from jobs.tasks import ingest_feed

        return ingest_feed("telco", date)

    @task
    def aggregate(date: str, ingested: dict) -> dict:
        from jobs.tasks import aggregate_date

        return aggregate_date(date, ["telco"])

    @task
    def publish(date: str, aggregated: dict, params=None) -> dict:
        from jobs.tasks import publish_contract

        return publish_contract((params or {}).get("contract_id") or DEFAULT_CONTRACT, date)

    date = data_date()
    ingested = ingest_telco(date)
    aggregated = aggregate(date, ingested)
    publish(date, aggregated)


cde_telco_slice()
