"""Opt-outs: people who asked not to be counted.

``cde optout apply --source telco FILE`` reads raw identifiers (one per line), turns each into its stable
token on read (the raw value is never stored) and appends the tokens to ``ops/optouts``. From then on:

- ingest marks their records ``opted_out``: counted in the run record, never stored anywhere;
- their rows are deleted from bronze, silver and quarantine (a Delta delete per table, visible in the
  table history), using the pseudonyms of every key period present in each table.

Releases already made are not redrawn (they are differentially private, and redrawing would spend budget).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from jobs.common import lake, tables
from jobs.ingest.feeds import feeds_with, get_feed
from jobs.ingest.pseudonym import identifier_token, key_period, period_key, pseudonym_of_token, token_key

log = logging.getLogger(__name__)
OPTOUT_SCHEMA = tables.OPTOUTS.schema


def sources_with_identifiers() -> tuple[str, ...]:
    """Feeds whose records carry an identifier (opt-outs apply to them)."""
    return feeds_with(lambda spec: spec.identifier is not None)


def normalise_identifier(source: str, value: str) -> str:
    """The identifier as ingest hashes it (the feed's ``identifier_rule``)."""
    return get_feed(source).identifier_rule.python(value)


def optouts_path():
    """Folder of ``ops/optouts``."""
    return tables.OPTOUTS.path()


def opted_out_tokens(source: str) -> frozenset[bytes]:
    """Tokens of every opted-out identifier of a source."""
    table = tables.OPTOUTS.read_arrow(partitions={"source": source})
    return frozenset(bytes.fromhex(t) for t in table.column("token").to_pylist())


def _delete_pseudonyms(table: tables.Table, tokens: frozenset[bytes], source: str, source_filter: bool) -> int:
    """Delete the rows of these tokens in every key period of a table; return rows deleted.

    The key periods come from the table's ``event_date`` partitions (a period is a function of the local
    date), read from the Delta log: no data file is read into the driver.
    """
    if not table.exists() or not tokens:
        return 0
    periods = sorted({key_period(dt.date.fromisoformat(d)) for d in table.partition_values("event_date")})
    deleted = 0
    for period in periods:
        key = period_key(source, period)
        ids = sorted(pseudonym_of_token(t, key) for t in tokens)
        predicate = f"key_period = {period} AND pseudo_id IN ({', '.join(str(i) for i in ids)})"
        if source_filter:
            predicate = f"source = '{source}' AND " + predicate
        deleted += lake.delete_rows(table.path(), predicate)
    return deleted


def apply_optouts(source: str, identifiers: Iterable[str], list_name: str) -> dict:
    """Record opt-outs (as tokens) and delete their rows from bronze, silver and quarantine.

    Parameters
    ----------
    source : str
        Feed whose identifiers these are (``telco``, ``wifi``, ``ticket``).
    identifiers : iterable of str
        Raw identifiers; hashed on read, never stored.
    list_name : str
        Name of the supplier's list (recorded with each token).

    Returns
    -------
    dict
        Tokens added and rows deleted per table.
    """
    if source not in sources_with_identifiers():
        raise ValueError(f"source must be one of {sources_with_identifiers()}, not {source!r}")
    key = token_key(source)
    tokens = {identifier_token(normalise_identifier(source, i), key) for i in identifiers if i.strip()}
    known = opted_out_tokens(source)
    new = sorted(tokens - known)
    now = dt.datetime.now(dt.timezone.utc)
    if new:
        rows = [{"source": source, "token": t.hex(), "list_name": list_name, "added_at": now} for t in new]
        tables.OPTOUTS.append(rows)
    everyone = frozenset(tokens | known)
    deleted = {
        f"bronze/{source}_events": _delete_pseudonyms(tables.bronze(source), everyone, source, False),
        **{f"silver/{name}": _delete_pseudonyms(table, everyone, source, True)
           for name, table in tables.SILVER.items()},
        f"quarantine/{source}": _delete_pseudonyms(tables.quarantine(source), everyone, source, False),
    }
    log.info("opt-out %s (%s): %d identifiers, %d new; rows deleted %s", source, list_name, len(tokens), len(new),
             deleted)
    return {"identifiers": len(tokens), "new": len(new), "deleted": deleted}
