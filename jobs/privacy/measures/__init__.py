"""Measures: one module per metric, each defining ``MEASURE`` (a frozen :class:`Measure`).

The registry is discovered from the modules of this package, so a new metric is one new module (plus its
test and its bound property in ``contracts/schema/terms.schema.json``); nothing else lists metrics.

| module | reads | bound | domain |
|---|---|---|---|
| ``unique_people`` | silver/presence | pairs per person-day, once per pair | zero-fill |
| ``footfall`` | silver/presence | pairs per person-day, events per pair | zero-fill |
| ``dwell_minutes`` | silver/stays | pairs per person-day, minutes per pair | zero-fill |
| ``od_trips`` | silver/trips | trips per person-day | partition selection |
| ``camera_count`` | bronze/camera_events | event-level | zero-fill |
| ``present_population`` | silver/instants | bins per person-day, one person per bin | zero-fill |

``base`` holds ``Bounds``, ``Bounder``, ``SegmentColumn`` and ``Measure``; ``bounders`` the shared bounders;
``segments`` the segment columns.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from jobs.errors import ReleaseRefused
from jobs.privacy.measures.base import PARTITION_SELECTION, ZERO_FILL, Bounder, Bounds, Measure, SegmentColumn

__all__ = ["PARTITION_SELECTION", "ZERO_FILL", "Bounder", "Bounds", "Measure", "SegmentColumn",
           "bound_defaults", "get_measure", "measures"]

_NOT_MEASURES = {"base", "bounders", "segments"}


@cache
def measures() -> dict[str, Measure]:
    """Every measure of this package, by metric name (discovered from the modules)."""
    found: dict[str, Measure] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in _NOT_MEASURES or info.name.startswith("_"):
            continue
        measure = importlib.import_module(f"{__name__}.{info.name}").MEASURE
        if measure.name != info.name:
            raise ImportError(f"measure module {info.name} defines MEASURE {measure.name!r}: name them alike")
        found[measure.name] = measure
    return found


def get_measure(metric: str) -> Measure:
    """The measure of a metric.

    Raises
    ------
    ReleaseRefused
        No measure releases this metric.
    """
    known = measures()
    if metric not in known:
        raise ReleaseRefused(f"metric {metric!r} has no release (known: {', '.join(sorted(known))})")
    return known[metric]


def bound_defaults() -> dict[str, int | None]:
    """Every bound property any measure reads, with its default (None: the contract must set it)."""
    defaults: dict[str, int | None] = {}
    for measure in measures().values():
        for name, default in measure.bound_properties().items():
            defaults.setdefault(name, default)
    return defaults
