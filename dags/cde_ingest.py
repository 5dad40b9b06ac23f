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

from airflow.sdk import Asset, dag, task

from jobs.orchestration import DEFAULT_ARGS, START_DATE, date_param, local_daily

FEEDS = ("telco", "wifi", "camera", "ticket")


def create_ingest_dag(*, feed: str, schedule: str = "0 0 * * *"):
    """Build the ``ingest_<feed>`` DAG (one factory, called once per feed)."""

    @dag(
        dag_id=f"ingest_{feed}",
        schedule=local_daily(schedule),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["cde", "ingest", f"feed:{feed}"],
        doc_md=__doc__,
        default_args=DEFAULT_ARGS,
        params={"date": date_param("ingest")},
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
