"""Ingest: one spec per supplier feed (``jobs.ingest.feeds``), all run by ``jobs.ingest.runner``.

``FEEDS`` maps a feed name to its spec; adding a feed means one module in ``jobs/ingest/feeds/`` (a
``FeedSpec``), one reference table, one suite in ``expectations/`` and a simulator.
"""

from __future__ import annotations

from jobs.ingest.feeds import FEEDS, get_feed, register_feed, unregister_feed

__all__ = ["FEEDS", "get_feed", "register_feed", "unregister_feed"]
