"""
### Ingest one supplier feed for one local Copenhagen day

`ingest_<feed>` reads `lake/landing/<feed>/<date>/`, type-checks every record, pseudonymises identifiers at
the door, places records in H3, quarantines bad records with a reason, validates the accepted batch with the
feed's Great Expectations suite (Data Docs under `lake/data_docs/<feed>/<date>/`) and replaces the date's
partition of `bronze/<feed>_events` in one commit. A run with more than 5% invalid records, or a failed
critical expectation, is refused and commits nothing; `ops/ingest_runs` records every run either way.

Daily in Europe/Copenhagen with data-interval semantics (the run for the interval starting at local
midnight of day D ingests day D); the `date` param names a day for manual runs. Reruns are idempotent.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, task

FEEDS = ("telco", "wifi", "camera", "ticket")


def create_ingest_dag(*, feed: str, schedule: str = "0 0 * * *"):
    """Build the ``ingest_<feed>`` DAG (one factory, called once per feed)."""

    @dag(
        dag_id=f"ingest_{feed}",
        schedule=CronDataIntervalTimetable(schedule, timezone="Europe/Copenhagen"),
        start_date=pendulum.datetime(2026, 3, 1, tz="Europe/Copenhagen"),
        catchup=False,
        max_active_runs=1,
        tags=["cde", "ingest", f"feed:{feed}"],
        doc_md=__doc__,
        default_args={
            "owner": "cde-data-platform",
            "retries": 2,
            "retry_delay": timedelta(minutes=1),
            "retry_exponential_backoff": True,
            "execution_timeout": timedelta(hours=2),
        },
        params={"date": Param(None, type=["null", "string"], format="date",
                              description="Local date to ingest (YYYY-MM-DD); default: the data interval's date")},
    )
    def ingest_dag():
        @task
        def data_date(params=None, data_interval_start=None) -> str:
            from jobs.tasks import data_date as resolve

            return resolve(params or {}, data_interval_start)

        @task(outlets=[Asset(f"bronze/{feed}_events")])
        def ingest(date: str) -> dict:
            from jobs.tasks import ingest_feed

            return ingest_feed(feed, date)

        ingest(data_date())

    return ingest_dag()


for _feed in FEEDS:
    globals()[f"ingest_{_feed}"] = create_ingest_dag(feed=_feed)
