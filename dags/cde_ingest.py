"""
### Ingest one supplier feed for one local day (the region's time zone)

`ingest_<feed>` turns `lake/landing/<feed>/<date>/` into the date's partition of `bronze/<feed>_events`:

1. `data_date`: the local date this run ingests.
2. `wait_for_landing` (sensor, reschedule mode): waits until the supplier's folder holds a file (up to 18 h).
3. `stage`: reads every file, type-checks every record, pseudonymises identifiers at the door, places
   records in H3 and gives bad records a quarantine reason; stages the batch under `lake/ingest_staging/`.
   More than 5% invalid records refuses the run.
4. `validate`: the feed's Great Expectations suite on the accepted batch; Data Docs under
   `lake/data_docs/<feed>/<date>/`. A failed critical expectation refuses the run.
5. `commit`: replaces the date's partitions of `bronze/<feed>_events` and `quarantine/<feed>` (one commit
   each) and updates the bronze Asset, whose event carries the date for the aggregation DAG.

`ops/ingest_runs` records every run, refused or not; a refused run commits nothing and fails at once
(no retries: rerunning the same files would be refused again). Daily in the region's time zone with
data-interval semantics: the run for the interval starting at local midnight of day D ingests day D, after
the day has ended. The `date` param names a day for manual runs. Reruns are idempotent.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from jobs.airflow.orchestration import (
    DAG_DEFAULTS,
    SPARK_POOL,
    SUPPLIED_FEEDS,
    WAIT_FOR_INPUT,
    bronze_asset,
    date_param,
    local_daily,
)


def create_ingest_dag(*, feed: str, schedule: str = "0 0 * * *"):
    """Build the ``ingest_<feed>`` DAG (one factory, called once per feed)."""
    bronze = bronze_asset(feed)

    @dag(
        dag_id=f"ingest_{feed}",
        schedule=local_daily(schedule),
        tags=["cde", "ingest", f"feed:{feed}"],
        doc_md=__doc__,
        **DAG_DEFAULTS,
        params={"date": date_param("ingest")},
    )
    def ingest_dag():
        @task
        def data_date(params=None, data_interval_start=None) -> str:
            from jobs.airflow.tasks import data_date as resolve  # at task run time: DAG parsing stays light

            return resolve(params or {}, data_interval_start)

        @task.sensor(**WAIT_FOR_INPUT)
        def wait_for_landing(date: str) -> bool:
            from jobs.airflow.tasks import landing_ready  # at task run time: DAG parsing stays light

            return landing_ready(feed, date)

        @task(pool=SPARK_POOL)
        def stage(date: str) -> dict:
            from jobs.airflow.tasks import stage_feed  # at task run time: DAG parsing stays light

            return stage_feed(feed, date)

        @task(pool=SPARK_POOL)
        def validate(staged: dict) -> dict:
            from jobs.airflow.tasks import validate_feed  # at task run time: DAG parsing stays light

            return validate_feed(feed, staged)

        @task(outlets=[bronze], pool=SPARK_POOL)
        def commit(validated: dict, outlet_events=None) -> dict:
            from jobs.airflow.tasks import commit_feed  # at task run time: DAG parsing stays light

            summary = commit_feed(feed, validated)
            # The aggregation DAG reads which day changed from the asset event.
            outlet_events[bronze].extra = {"feed": feed, "date": summary["date"], "run_id": summary["run_id"],
                                           "bronze_version": summary["bronze_version"]}
            return summary

        date = data_date()
        staged = stage(date)
        wait_for_landing(date) >> staged
        commit(validate(staged))

    return ingest_dag()


for _feed in SUPPLIED_FEEDS:
    globals()[f"ingest_{_feed}"] = create_ingest_dag(feed=_feed)
