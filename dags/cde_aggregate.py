"""
### Rebuild the silver tables when bronze changes

`aggregate_silver` is scheduled on the bronze Assets of the feeds that carry people (telco, wifi, ticket):
any ingest that commits a day triggers it. It reads which days and feeds changed from the triggering asset
events (several queued events are handled in one run) and, per local day, rebuilds that day's partitions of
`silver/presence`, `silver/stays`, `silver/trips` and (telco) `silver/anchors` for those feeds, recording
each build in `ops/silver_builds`. Camera counts carry no identity and are released from bronze, so the
camera feed does not trigger it.

A manual run names the day with the `date` param (and optionally `sources`). Rebuilding a day replaces its
partitions in one commit per table, so reruns and retries are idempotent. Publish DAGs wait until the
silver builds of their days are newer than the days' ingests.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from jobs.airflow.orchestration import (
    AGGREGATED_FEEDS,
    DAG_DEFAULTS,
    SILVER_TABLES,
    SPARK_POOL,
    bronze_asset,
    date_param,
    silver_asset,
)

SILVER = [silver_asset(t) for t in SILVER_TABLES]
TRIGGER = bronze_asset(AGGREGATED_FEEDS[0])
for _feed in AGGREGATED_FEEDS[1:]:
    TRIGGER = TRIGGER | bronze_asset(_feed)


@dag(
    dag_id="aggregate_silver",
    schedule=TRIGGER,
    tags=["cde", "aggregate", "silver"],
    doc_md=__doc__,
    **DAG_DEFAULTS,
    params={
        "date": date_param("aggregate"),
        "sources": Param(None, type=["null", "array"], items={"type": "string", "enum": list(AGGREGATED_FEEDS)},
                         description="Feeds to rebuild (default: all of them)"),
    },
)
def aggregate_silver():
    @task
    def work(params=None, triggering_asset_events=None) -> list[dict]:
        from jobs.airflow.tasks import aggregation_work  # at task run time: DAG parsing stays light

        events = [e.extra for events in (triggering_asset_events or {}).values() for e in events]
        return aggregation_work(events, params or {})

    @task(outlets=SILVER, pool=SPARK_POOL, map_index_template="{{ map_label }}")  # labelled by day in the UI
    def aggregate(item: dict, outlet_events=None) -> dict:
        from airflow.sdk import get_current_context

        from jobs.airflow.tasks import aggregate_date  # at task run time: DAG parsing stays light

        get_current_context()["map_label"] = f"{item['date']} {'+'.join(item['sources'] or ['all feeds'])}"
        summary = aggregate_date(item["date"], item["sources"])
        for asset in SILVER:
            outlet_events[asset].extra = {"date": item["date"], "sources": summary["sources"]}
        return summary

    aggregate.expand(item=work())


aggregate_silver()
