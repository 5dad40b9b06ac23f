"""
### Deliver one contract's data product on the contract's schedule

One `publish_<contract>` DAG per valid contract in `contracts/`, generated when this file is parsed and
scheduled by the contract's `schedule` cron in the region's time zone. A run delivers the local days its data
interval spans (cron `0 6 * * *`: the run at 06:00 on day D delivers day D-1):

1. `window`: the local dates to deliver (a manual run may name one day with the `date` param).
2. `wait_for_inputs` (sensor, reschedule mode): every source day the release reads is ingested and its
   silver build is newer than its ingest, so no budget is spent on a partial day.
3. `publish`: the release (noise drawn once, budget checked and spent once in `ops/privacy_ledger`; a
   rerun reuses the stored release) -> `gold/<contract>`, the buyer's files and manifest in
   `outbox/<buyer>/<contract>/<delivery>/`, the audit report in `audit/<contract>/<delivery>.{json,html}`.

A refused release (budget exhausted, contract not approved by every supplier) fails at once, without retries.

`delivery_sla` checks every hour that each delivery due by a contract's latency SLA (`slaProperties`) is in
the outbox: a miss is logged at ERROR, recorded in `ops/sla_alerts.jsonl` and e-mailed once
(`jobs/publish/sla.py`), and the task fails while any delivery of the last 7 days is missed. It sees runs that
never started (a paused DAG, a scheduler that was down) as well as runs that failed or ran late.

`contracts_health` validates every contract file daily. An invalid file never stops the other contracts'
DAGs from loading: it is logged at ERROR by the DAG processor and fails `contracts_health`'s
`validate_contracts` task with every error (file and field). If an earlier valid version of the same
contract id exists, that version (the one the suppliers approved) stays in force; otherwise the contract
gets no publish DAG. The task also logs the budget plan's warnings (schedules the budgets cannot pay for).
"""

from __future__ import annotations

import logging

from airflow.sdk import CronDataIntervalTimetable, dag, task

from jobs.airflow.orchestration import DAG_DEFAULTS, SPARK_POOL, TIMEZONE, WAIT_FOR_INPUT, date_param, local_daily

log = logging.getLogger("cde.dags.publish")


def create_publish_dag(contract):
    """Build the ``publish_<contract id>`` DAG of one validated contract."""
    contract_id = contract.id

    @dag(
        dag_id=f"publish_{contract_id}",
        schedule=CronDataIntervalTimetable(contract.schedule, timezone=TIMEZONE),
        tags=["cde", "publish", f"buyer:{contract.buyer}", f"contract:{contract_id}"],
        doc_md=f"{__doc__}\n#### {contract.name} (`{contract_id}` v{contract.version})\n\n"
               f"Buyer **{contract.buyer}**; schedule `{contract.schedule}`; sources {', '.join(contract.sources)}; "
               f"metrics {', '.join(contract.metrics)}; H3 resolution {contract.h3_resolution}, bins "
               f"{contract.time_bin}; k={contract.k}, epsilon={contract.epsilon} per delivery.\n\n"
               f"Purpose: {contract.purpose}",
        **DAG_DEFAULTS,
        params={"date": date_param("deliver")},
    )
    def publish_dag():
        @task
        def window(params=None, data_interval_start=None, data_interval_end=None) -> dict:
            from jobs.airflow.tasks import publish_window  # at task run time: DAG parsing stays light

            return publish_window(params or {}, data_interval_start, data_interval_end)

        @task.sensor(**WAIT_FOR_INPUT)
        def wait_for_inputs(dates: dict) -> bool:
            from jobs.airflow.tasks import inputs_ready  # at task run time: DAG parsing stays light

            return inputs_ready(contract_id, dates)

        @task(pool=SPARK_POOL)
        def publish(dates: dict) -> dict:
            from jobs.airflow.tasks import publish_contract  # at task run time: DAG parsing stays light

            return publish_contract(contract_id, dates["start"], dates["end"])

        dates = window()
        wait_for_inputs(dates) >> publish(dates)

    return publish_dag()


@dag(
    dag_id="contracts_health",
    schedule=local_daily(),
    tags=["cde", "contracts", "health"],
    doc_md=__doc__,
    **DAG_DEFAULTS,
)
def contracts_health():
    @task
    def validate_contracts() -> dict:
        from jobs.airflow.tasks import contracts_health as check  # at task run time: DAG parsing stays light

        return check()

    validate_contracts()


def _valid_contracts() -> dict:
    """The newest valid version of each contract id; every invalid file is logged at ERROR, none is fatal."""
    from jobs.publish.portfolio import load_contracts  # at task run time: DAG parsing stays light

    try:
        valid, invalid = load_contracts()
    except Exception:  # never let the contracts folder take contracts_health down with it
        log.exception("the contracts folder could not be read; no publish DAGs")
        return {}
    from jobs.publish.ending import is_ended  # at task run time: DAG parsing stays light

    valid = {cid: c for cid, c in valid.items() if not is_ended(c)}  # an ended contract's DAG goes away
    for name, errors in invalid.items():
        log.error("contract %s is invalid; no publish DAG from it (see DAG contracts_health):\n%s", name,
                  "\n".join(errors))
    return valid


contracts_health()


@dag(
    dag_id="delivery_sla",
    schedule=CronDataIntervalTimetable("15 * * * *", timezone=TIMEZONE),
    tags=["cde", "publish", "health", "sla"],
    doc_md=__doc__,
    **DAG_DEFAULTS,  # a miss fails with AirflowFailException: never retried
)
def delivery_sla():
    @task
    def check_deliveries(data_interval_end=None) -> dict:
        from jobs.airflow.tasks import check_delivery_sla  # at task run time: DAG parsing stays light

        return check_delivery_sla(data_interval_end)

    check_deliveries()


delivery_sla()
for _id, _contract in sorted(_valid_contracts().items()):
    globals()[f"publish_{_id}"] = create_publish_dag(_contract)
