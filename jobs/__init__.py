"""City Data Exchange pipeline.

A map of the package:

- ``jobs.common``: the SparkSession, Delta I/O (``lake``), settings, H3 helpers, logging.
- ``jobs.simulate``: seeded synthetic Copenhagen feeds and their reference data.
- ``jobs.ingest``: one module per supplier feed (parse, validate, quarantine, pseudonymise, locate).
- ``jobs.aggregate``: person-level silver tables (presence) and metric functions.
- ``jobs.privacy``: contribution bounding, public domain, discrete noise, k-threshold, budget ledger.
- ``jobs.publish``: contracts, buyer products, outbox deliveries and audit reports.
"""
