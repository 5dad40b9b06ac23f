"""Segment columns: public lists of values that split a release, each with its look-back and multiplier."""

from __future__ import annotations

from jobs.common.settings import ANCHOR_WINDOW_DAYS as DEFAULT_WINDOW_DAYS
from jobs.common.settings import SEGMENT_NAMES as SEGMENTS
from jobs.ingest.feeds.ticket import MODES
from jobs.privacy.measures.base import SegmentColumn

# A country contract lists the countries its buyer needs; every other home country is released as this.
OTHER_COUNTRY = "other"


def _countries() -> list[str]:
    import pycountry

    return sorted(c.alpha_2 for c in pycountry.countries)


def _modes() -> list[str]:
    return list(MODES)


SEGMENT_COLUMNS = {
    column.name: column for column in (
        # Resident / commuter / visitor come from anchors over a look-back window: a person's data there can
        # move them from one segment to another (they leave one key and join another).
        SegmentColumn("segment", lambda: list(SEGMENTS), DEFAULT_WINDOW_DAYS - 1, 2, "silver/anchors",
                      f"resident / commuter / visitor / tourist from home and work anchors over "
                      f"{DEFAULT_WINDOW_DAYS} days"),
        # The home network code is fixed per subscriber, so per pseudonym: no look-back, no move.
        SegmentColumn("country", _countries, 0, 1, "silver/anchors",
                      "home country from the subscriber's home network code (fixed per pseudonym)"),
        # The mode is a property of each trip record: bounding the trips bounds it.
        SegmentColumn("mode", _modes, 0, 1, None, "transport mode of the trip record"),
    )
}


def segment_values(column: str) -> list[str]:
    """Public list of a segment column's values (never taken from the data)."""
    if column not in SEGMENT_COLUMNS:
        raise ValueError(f"unknown segment column {column!r} (known: {', '.join(SEGMENT_COLUMNS)})")
    return SEGMENT_COLUMNS[column].values()
