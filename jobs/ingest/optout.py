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

import pyarrow as pa

from jobs.common import lake, settings
from jobs.ingest.pseudonym import identifier_token, period_key, pseudonym_of_token, token_key

log = logging.getLogger(__name__)
OPTOUT_SCHEMA = pa.schema([("source", pa.string()), ("token", pa.string()), ("list_name", pa.string()),
                           ("added_at", pa.timestamp("us", tz="UTC"))])
SOURCES_WITH_IDENTIFIERS = ("telco", "wifi", "ticket")
SILVER_TABLES = ("presence", "stays", "trips", "anchors")


def normalise_identifier(source: str, value: str) -> str:
    """The identifier as ingest hashes it (MACs lower-case with colons; others trimmed)."""
    value = value.strip()
    return value.lower().replace("-", ":") if source == "wifi" else value


def optouts_path():
    """Folder of ``ops/optouts``."""
    return settings.table_path("ops", "optouts")


def opted_out_tokens(source: str) -> frozenset[bytes]:
    """Tokens of every opted-out identifier of a source."""
    path = optouts_path()
    if not lake.exists(path):
        return frozenset()
    table = lake.read_arrow(path, partitions={"source": source})
    return frozenset(bytes.fromhex(t) for t in table.column("token").to_pylist())


def _delete_pseudonyms(table_path, tokens: frozenset[bytes], source: str, source_filter: bool) -> int:
    """Delete the rows of these tokens in every key period of a table; return rows deleted."""
    if not lake.exists(table_path):
        return 0
    arrow = lake.read_arrow(table_path, partitions={"source": source} if source_filter else None)
    periods = sorted(set(arrow.column("key_period").drop_null().to_pylist())) if arrow.num_rows else []
    before = arrow.num_rows
    for period in periods:
        key = period_key(source, period)
        ids = sorted(pseudonym_of_token(t, key) for t in tokens)
        predicate = f"key_period = {period} AND pseudo_id IN ({', '.join(str(i) for i in ids)})"
        if source_filter:
            predicate = f"source = '{source}' AND " + predicate
        lake.delete(table_path, predicate)
    after = lake.read_arrow(table_path, partitions={"source": source} if source_filter else None).num_rows
    return before - after


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
    if source not in SOURCES_WITH_IDENTIFIERS:
        raise ValueError(f"source must be one of {SOURCES_WITH_IDENTIFIERS}, not {source!r}")
    key = token_key(source)
    tokens = {identifier_token(normalise_identifier(source, i), key) for i in identifiers if i.strip()}
    known = opted_out_tokens(source)
    new = sorted(tokens - known)
    now = dt.datetime.now(dt.timezone.utc)
    if new:
        rows = [{"source": source, "token": t.hex(), "list_name": list_name, "added_at": now} for t in new]
        lake.append_arrow(optouts_path(), pa.Table.from_pylist(rows, schema=OPTOUT_SCHEMA), partition_by=["source"])
    everyone = frozenset(tokens | known)
    deleted = {
        f"bronze/{source}_events": _delete_pseudonyms(settings.table_path("bronze", f"{source}_events"), everyone,
                                                      source, False),
        **{f"silver/{name}": _delete_pseudonyms(settings.table_path("silver", name), everyone, source, True)
           for name in SILVER_TABLES},
        f"quarantine/{source}": _delete_pseudonyms(settings.table_path("quarantine", source), everyone, source,
                                                   False),
    }
    log.info("opt-out %s (%s): %d identifiers, %d new; rows deleted %s", source, list_name, len(tokens), len(new),
             deleted)
    return {"identifiers": len(tokens), "new": len(new), "deleted": deleted}
