"""The feed registry: one module per supplier feed, each defining ``SPEC`` (a ``FeedSpec``).

Discovered from the modules of this package, so a new feed is one module here plus its reference table,
its suite in ``expectations/`` and its simulator; no list elsewhere needs an edit. Light at import: the
DAG files read it at parse time.
"""

from __future__ import annotations

import importlib
import pkgutil

from jobs.ingest.spec import FeedSpec

FEEDS: dict[str, FeedSpec] = {}


def _discover() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            register_feed(importlib.import_module(f"{__name__}.{info.name}").SPEC)


def register_feed(spec: FeedSpec) -> FeedSpec:
    """Add a feed to the registry (feed modules here are added on import; tests add throwaway ones)."""
    if spec.name in FEEDS and FEEDS[spec.name] is not spec:
        raise ValueError(f"a feed named {spec.name!r} is registered already")
    FEEDS[spec.name] = spec
    return spec


def unregister_feed(name: str) -> None:
    """Remove a feed from the registry (for tests that register throwaway feeds)."""
    FEEDS.pop(name, None)


def get_feed(name: str) -> FeedSpec:
    """The spec of a feed; ``KeyError`` naming the known feeds otherwise."""
    if name not in FEEDS:
        raise KeyError(f"unknown feed {name!r}; known: {', '.join(sorted(FEEDS))}")
    return FEEDS[name]


def feeds_with(predicate) -> tuple[str, ...]:
    """Names of the registered feeds whose spec satisfies ``predicate``, in registry order."""
    return tuple(name for name, spec in FEEDS.items() if predicate(spec))


def supplied_feeds() -> tuple[str, ...]:
    """The registered feeds a supplier in the supplier registry owns: the ones ingested daily and simulated by
    default (a feed format nobody supplies, such as ``mno`` before an operator sends it, gets no daily run
    waiting for files)."""
    from jobs.contracts.suppliers import load_registry  # a small YAML file, read when a DAG file is parsed
    from jobs.errors import ReferenceDataError  # with the registry: this module stays light at import

    try:
        registry = load_registry()
    except ReferenceDataError:  # reported by every contract check; until it is fixed every feed is ingested
        return tuple(FEEDS)
    return tuple(feed for feed in FEEDS if registry.owner_of(feed))


_discover()
