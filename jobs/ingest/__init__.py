"""Ingest: one module per supplier feed, all run by ``jobs.ingest.runner``.

``FEEDS`` maps a feed name to its spec; adding a feed means one module (a ``FeedSpec``), one reference
table and one suite in ``expectations/``.
"""

from __future__ import annotations

from jobs.ingest import camera, telco, ticket, wifi

FEEDS = {spec.name: spec for spec in (telco.SPEC, wifi.SPEC, camera.SPEC, ticket.SPEC)}
