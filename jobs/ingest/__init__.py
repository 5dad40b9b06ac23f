"""Ingest: one module per supplier feed, all run by ``jobs.ingest.runner``.

``FEEDS`` maps a feed name to its spec; adding a feed means one module, one reference table, one suite.
"""

from __future__ import annotations

from jobs.ingest import telco

FEEDS = {"telco": telco.SPEC}
