"""Airflow adapters: what the DAG files in ``dags/`` call, and nothing the pipeline itself needs.

- ``orchestration``: DAG defaults, the local daily timetable, params, sensor settings, Assets (light: read at
  parse time);
- ``tasks``: one function per task, each a thin call into the jobs with one summary line logged;
- ``standalone``: ``make airflow`` / ``cde airflow``, Airflow standalone on loopback.
"""
