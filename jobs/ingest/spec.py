"""``FeedSpec``: the only description of a supplier feed (light at import: DAG files read it).

What makes a feed different is here; everything else is shared: the classification rules
(``jobs.ingest.classify``), the run log (``jobs.ingest.runlog``) and the three stages
(``jobs.ingest.runner``). One module per feed under ``jobs/ingest/feeds/`` defines ``SPEC``; the registry
there is discovered from the modules, and every list of feeds (orchestration, CLI choices, simulator,
opt-outs, releases, the record of processing, the contract schema's source enum) comes from it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame


@dataclasses.dataclass(frozen=True)
class Reference:
    """A reference join: where the ids of one record column are.

    Attributes
    ----------
    column : str
        Record column holding the supplier id (``cell_id``, ``ap_id``, ``camera_id``, ``check_in_stop``).
    load : callable
        Returns a pandas DataFrame with ``ref_id`` (str), ``h3_cell`` (int64), ``in_region`` (bool) and
        optionally ``problem`` (why an id cannot place a record, such as a cell not valid that day; null
        otherwise). Called with the run's local date when ``dated``, else without arguments.
    suffix : str
        Suffix of the output columns (``h3_cell<suffix>``), for feeds with two places (ticket check-out).
    optional : bool
        An empty id is allowed (and then has no place, unless ``point`` gives one).
    dated : bool
        The reference changes by day (an operator's topology snapshot): ``load`` takes the date.
    point : tuple of str, optional
        Latitude and longitude columns (typed as double) placing a record whose id is empty (ESS events may
        carry coordinates instead of a cell).
    """

    column: str
    load: Callable[..., pd.DataFrame]
    suffix: str = ""
    optional: bool = False
    dated: bool = False
    point: tuple[str, str] | None = None


@dataclasses.dataclass(frozen=True)
class IdentifierRule:
    """How a raw identifier is normalised before hashing, once for Spark (ingest) and Python (opt-outs).

    Attributes
    ----------
    lower : bool
        Lower-case the value.
    replace : tuple of (str, str)
        Substrings replaced, in order (``("-", ":")`` makes MAC separators alike).
    """

    lower: bool = False
    replace: tuple[tuple[str, str], ...] = ()

    def python(self, value: str) -> str:
        """The normalised identifier of one raw value (trimmed)."""
        value = value.strip()
        for old, new in self.replace:
            value = value.replace(old, new)
        return value.lower() if self.lower else value

    def spark(self, column: Column) -> Column:
        """The same rule as a Spark expression."""
        from pyspark.sql import functions as F

        for old, new in self.replace:
            column = F.replace(column, F.lit(old), F.lit(new))
        return F.lower(column) if self.lower else column


@dataclasses.dataclass(frozen=True)
class FeedSpec:
    """What makes a feed different; everything else is the shared runner.

    Attributes
    ----------
    name : str
        Feed name: landing folder, ``bronze/<name>_events``, ``quarantine/<name>``, suite name.
    fields : tuple of str
        Required supplier fields.
    file_format : str
        ``csv``, ``jsonl``, ``parquet``, or ``suffix`` (each file's own: ``.parquet``, ``.csv`` or ``.jsonl``;
        ``jobs.ingest.records``).
    identifier : str or None
        The raw identifier field, pseudonymised at the door (None for feeds without identity); opt-outs
        apply to feeds with one.
    type_check : callable
        DataFrame -> DataFrame adding ``event_ts_utc``, ``type_error`` (first failing field or null),
        ``identifier_value`` (normalised identifier) and the feed's typed columns.
    references : tuple of Reference
        Reference joins locating the record.
    bronze_columns : callable
        Returns the feed's own bronze columns (Spark Columns over the typed records).
    policy_reason : callable, optional
        Returns a Column holding a policy reason (``randomised_mac``) or null.
    unit : str
        Privacy unit of the feed (``person``, ``device-network``, ``event``).
    optional_fields : tuple of str
        Fields a supplier may omit.
    identifier_rule : IdentifierRule
        How the identifier is normalised (ingest and opt-out lists use the same rule).
    suite : str or None
        Great Expectations suite in ``expectations/<suite>.json`` (default: the feed's name).
    presence : callable or None
        ``(bronze, source) -> DataFrame`` building ``silver/presence`` rows; None for feeds released from
        bronze (camera counts carry no identity).
    instants : callable or None
        ``(bronze, source) -> DataFrame`` building ``silver/instants`` (the serving cell nearest each person's
        quarter-hour instants, which ``present_population`` spreads over cell footprints); feeds whose records
        are served by network cells (telco, mno). None: no present population.
    trips_from : str or None
        How ``silver/trips`` are made: ``stays`` (movement between stays) or ``records`` (each record is a
        trip, as ticket check-in / check-out); None: no trips.
    anchors : bool
        Whether home / work anchors and segments are built from the feed (needs nights, days and a home
        network).
    data_subjects, personal_data : str
        The Art. 30 wording: who the data is about and what is kept of them.
    placement : str
        How a record is placed in H3, in words (every delivery's README and audit state it).
    abroad : callable, optional
        Returns a Column true for records the feed itself places outside the region (ESS outbound roaming);
        they are quarantined as ``out_of_region``.
    quality : callable, optional
        ``(spark, classified, date) -> dict`` of the feed's quality warnings for the run record (the ESS
        network and event warnings of ``mno``); None: no feed-specific warnings.
    """

    name: str
    fields: tuple[str, ...]
    file_format: str
    identifier: str | None
    type_check: Callable[[DataFrame], DataFrame]
    references: tuple[Reference, ...]
    bronze_columns: Callable[[], list[Column]]
    policy_reason: Callable[[], Column] | None = None
    unit: str = "person"
    optional_fields: tuple[str, ...] = ()
    identifier_rule: IdentifierRule = IdentifierRule()
    suite: str | None = None
    presence: Callable[[DataFrame, str], DataFrame] | None = None
    instants: Callable[[DataFrame, str], DataFrame] | None = None
    trips_from: str | None = None
    anchors: bool = False
    data_subjects: str = ""
    personal_data: str = ""
    placement: str = ""
    abroad: Callable[[], Column] | None = None
    quality: Callable[..., dict] | None = None

    @property
    def suite_name(self) -> str:
        """The feed's Great Expectations suite name."""
        return self.suite or self.name


def timestamp_column(text: Column) -> Column:
    """Spark expression parsing ISO-8601 with ``Z`` or an offset (``+01:00``/``+0100``); null otherwise.

    A timestamp without an offset is ambiguous around daylight-saving changes, so it does not parse (a feed
    whose format has naive timestamps in a stated zone uses ``naive_timestamp_column``).
    """
    from pyspark.sql import functions as F

    formats = ["yyyy-MM-dd'T'HH:mm:ss[.SSSSSS]XXX", "yyyy-MM-dd'T'HH:mm:ss[.SSSSSS]XX"]
    return F.coalesce(*[F.try_to_timestamp(text, F.lit(f)) for f in formats])


def naive_timestamp_column(text: Column, time_zone: str) -> Column:
    """Spark expression parsing a timestamp with an offset, or without one as wall time in ``time_zone``.

    Naive forms: ``yyyy-MM-dd'T'HH:mm:ss[.ffffff]`` and the same with a space for the ``T``. In a zone with
    daylight saving, a wall time that does not exist or exists twice is read with the offset before the change.
    """
    from pyspark.sql import functions as F

    naive = F.coalesce(*[F.try_to_timestamp(text, F.lit(f))
                         for f in ("yyyy-MM-dd'T'HH:mm:ss[.SSSSSS]", "yyyy-MM-dd HH:mm:ss[.SSSSSS]")])
    return F.coalesce(timestamp_column(text), F.to_utc_timestamp(naive, time_zone))


def first_error(checks: Sequence[tuple[Column, str]]) -> Column:
    """Spark expression: the message of the first failing check (a null check counts as failing)."""
    from pyspark.sql import functions as F

    error = F.lit(None).cast("string")
    for failed, message in reversed(checks):
        error = F.when(F.coalesce(failed, F.lit(True)), F.lit(message)).otherwise(error)
    return error
