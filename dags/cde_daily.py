"""
### One local day (the region's time zone) end to end, on demand: every feed -> silver -> every contract's delivery

Manual only (no schedule): the scheduled pipeline is `ingest_<feed>` -> `aggregate_silver` (on the bronze
Assets) -> `publish_<contract>` (on each contract's cron). `cde_daily` is for reprocessing or demonstrating
one day in a single run (`make demo` uses it). The `date` param names the day (required), `contract_id`
one contract (default: every valid contract in `contracts/`). It updates no Assets, so it triggers nothing.

1. `data_date`: the local date this run processes.
2. `ingest` (one mapped task per feed): `lake/landing/<feed>/<date>/` -> `bronze/<feed>_events`
   (+ `quarantine/<feed>`, `ops/ingest_runs`, Data Docs).
3. `aggregate`: bronze -> `silver/presence`, `stays`, `trips`, `anchors` for that date.
4. `contracts`: the ids of the valid contracts (an invalid one is reported, not fatal to the others).
5. `publish` (one mapped task per contract): its release (noise drawn once, budget spent once) ->
   `gold/<contract>`, `outbox/<buyer>/<contract>/<delivery>/`, `audit/<contract>/<delivery>.{json,html}`.

Every stage is idempotent per date: a retry or rerun replaces the same partitions and reuses a stored
release, spending no new budget.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from jobs.airflow.orchestration import DAG_DEFAULTS, SPARK_POOL, SUPPLIED_FEEDS, date_param


@dag(
    dag_id="cde_daily",
    schedule=None,
    tags=["cde", "manual", "all-feeds", "all-contracts"],
    doc_md=__doc__,
    **DAG_DEFAULTS,
    params={
        "date": date_param(),
        "contract_id": Param(None, type=["null", "string"], description="Only this contract (default: all)"),
    },
)
def cde_daily():
    @task
    def data_date(params=None, data_interval_start=None) -> str:
        from jobs.airflow.tasks import data_date as resolve  # at task run time: DAG parsing stays light

        return resolve(params or {}, data_interval_start)

    # mapped tasks are labelled by their feed or contract in the UI, not by 0..n
    @task(pool=SPARK_POOL, map_index_template="{{ map_label }}")
    def ingest(feed: str, date: str) -> dict:
        from airflow.sdk import get_current_context

        from jobs.airflow.tasks import ingest_feed  # at task run time: DAG parsing stays light

        get_current_context()["map_label"] = feed
        return ingest_feed(feed, date)

    @task(pool=SPARK_POOL)
    def aggregate(date: str, ingested: list) -> dict:
        from jobs.airflow.tasks import aggregate_date  # at task run time: DAG parsing stays light

        return aggregate_date(date, None)

    @task
    def contracts(params=None) -> list[str]:
        from jobs.airflow.tasks import valid_contract_ids  # at task run time: DAG parsing stays light

        return valid_contract_ids((params or {}).get("contract_id"))

    @task(pool=SPARK_POOL, map_index_template="{{ map_label }}")
    def publish(contract_id: str, date: str, aggregated: dict) -> dict:
        from airflow.sdk import get_current_context

        from jobs.airflow.tasks import publish_contract  # at task run time: DAG parsing stays light

        get_current_context()["map_label"] = contract_id
        return publish_contract(contract_id, date)

    date = data_date()
    ingested = ingest.partial(date=date).expand(feed=list(SUPPLIED_FEEDS))
    aggregated = aggregate(date, ingested)
    publish.partial(date=date, aggregated=aggregated).expand(contract_id=contracts())


cde_daily()
