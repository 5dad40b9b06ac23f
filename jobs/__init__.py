"""City Data Exchange pipeline.

The package is built in floors, lowest first: ``errors``, ``common``, ``contracts``, ``ingest``, ``aggregate``,
``privacy``, ``publish``, then ``sharing`` and ``airflow``, then ``simulate``, ``evaluate``, ``demo``,
``month_run`` and ``cluster``, and on top ``cli`` and ``reference``. A module imports from its own floor and
below; ``tests/test_layers.py`` holds the rule. The map of each floor, the flow of a record and of a contract,
and the privacy model are in docs/architecture.md.
"""
