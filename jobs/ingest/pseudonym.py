"""Pseudonymisation at the door: keyed HMAC-SHA-256 with per-period keys (docs/architecture.md, the privacy model).

The master key comes from ``CDE_PSEUDONYM_KEY`` (at least 32 bytes) or a key file created on first use with 0600
permissions in the secrets folder. Its fingerprint is recorded in the lake at first use
(``ops/pseudonym_key_fingerprint.json``); a missing key file or a different key is refused, never replaced. A raw
identifier first becomes a stable per-source token (HMAC under the source's token key); the pseudonym is the HMAC of
that token under the key of the source and period. Tokens are what opt-out lists store, so an opt-out can later be
turned into the pseudonyms of any period without keeping the raw identifier. Keys are derived per source, so a person's
telco and ticket pseudonyms cannot be linked, and pseudonyms change every rotation period. Periods start on local days
(the bronze ``event_date``), so one person has exactly one pseudonym per source and day. A pseudonym is the first 8
bytes of the HMAC as a signed 64-bit integer (collision chance for 10 million people about 3e-6), which keeps joins and
shuffles cheap. No key ever enters a table, a log or the repository.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

import pandas as pd

from jobs.common import paths, settings
from jobs.common.storage import create_exclusive
from jobs.errors import KeyRefused

if TYPE_CHECKING:
    from pyspark.sql import Column

_EPOCH = dt.date(1970, 1, 1)


MIN_KEY_BYTES = 32
_checked: set[tuple[str, bytes]] = set()


def _master_key() -> bytes:
    """The master key, checked against the fingerprint this lake recorded at its first use.

    Raises
    ------
    KeyRefused
        ``CDE_PSEUDONYM_KEY`` shorter than 32 bytes, the key file missing while the lake was built under a
        key, or a key whose fingerprint is not the lake's (every pseudonym would change and opted-out people
        would be accepted again).
    """
    env = settings.setting("CDE_PSEUDONYM_KEY")
    if env:
        key = env.encode("utf-8")
        if len(key) < MIN_KEY_BYTES:
            raise KeyRefused(f"CDE_PSEUDONYM_KEY is {len(key)} bytes; at least {MIN_KEY_BYTES} are required (make "
                             "one with `python -c 'import secrets; print(secrets.token_hex(32))'`)")
    else:
        path = settings.secrets_dir() / "pseudonym.key"
        if not path.exists():
            if _fingerprint_path().exists():
                raise KeyRefused(f"the pseudonym key file {path} is missing, but this lake was built under a key "
                                 f"(fingerprint in {_fingerprint_path()}): restore the key file from backup. A new "
                                 "key would change every pseudonym and accept opted-out people again")
            built = lake_history()
            # a new key only for a lake nothing was made in yet (re-checked: a concurrent first use may have
            # made the key, then the history, since the check above)
            if built and not path.exists():
                raise KeyRefused(f"the pseudonym key file {path} is missing, and the lake was built under a key "
                                 f"({', '.join(built)} exist): restore the key file and "
                                 f"{_fingerprint_path().name} from backup; a new key would change every pseudonym")
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                create_exclusive(path, secrets.token_hex(32), 0o600)
        key = path.read_text().strip().encode("utf-8")
    _check_fingerprint(key, "CDE_PSEUDONYM_KEY" if env else str(settings.secrets_dir() / "pseudonym.key"))
    return key


def lake_history() -> list[str]:
    """What shows this lake was built under a key already: bronze tables of feeds with identifiers (a camera
    feed carries none, so its bronze shows nothing of a key), opt-outs, the ledger."""
    from jobs.common import tables  # loads deltalake and pyarrow: only when a key is first checked
    from jobs.ingest.feeds import FEEDS  # the feed registry: light, but only needed here

    keyed = [tables.bronze(name) for name, spec in sorted(FEEDS.items()) if spec.identifier]
    made = [t for t in (*keyed, tables.OPTOUTS, tables.LEDGER) if t.exists()]
    return [t.qualified for t in made]


def _fingerprint_path():
    return paths.ops_file("pseudonym_key_fingerprint.json")


def key_fingerprint(key: bytes) -> str:
    """A fingerprint that identifies a key without revealing it (HMAC of a fixed label under the key)."""
    return hmac.new(key, b"cde-key-fingerprint", hashlib.sha256).hexdigest()[:32]


def _check_fingerprint(key: bytes, where: str) -> None:
    """Record the key's fingerprint at the lake's first use; refuse any other key after that."""
    import json

    path = _fingerprint_path()
    if (str(path), key) in _checked:
        return
    fingerprint = key_fingerprint(key)
    if not path.exists():
        built = lake_history()
        # without the fingerprint nothing shows this key is the lake's (re-checked: a concurrent first use
        # records the fingerprint before it makes anything)
        if built and not path.exists():
            raise KeyRefused(f"the lake has no key fingerprint ({path} is missing) though it was built under a key "
                             f"({', '.join(built)} exist): restore {path.name} from backup (the object store's "
                             f"versions, or the backup of ops/); the key from {where} is not accepted unproven")
        create_exclusive(path, json.dumps({"fingerprint": fingerprint,
                                           "recorded_at": dt.datetime.now(dt.UTC).isoformat()}), 0o640)
    try:
        recorded = json.loads(path.read_text() or "{}").get("fingerprint")
    except (ValueError, AttributeError) as exc:  # a damaged file proves nothing: never accept a key against it
        raise KeyRefused(f"the key fingerprint file {path} is damaged ({exc}): restore it from backup") from exc
    if recorded != fingerprint:
        raise KeyRefused(f"the pseudonym key from {where} is not the key this lake was built with (fingerprint "
                         f"{fingerprint[:8]}..., the lake recorded {str(recorded)[:8]}... in {path}): use the "
                         "lake's key. Another key would change every pseudonym and accept opted-out people again")
    _checked.add((str(path), key))


def derived_key(purpose: str) -> bytes:
    """A secret key for one purpose (e.g. the ledger's hash chain), derived from the master key."""
    return hmac.new(_master_key(), purpose.encode(), hashlib.sha256).digest()


def key_period(date: dt.date, rotation_days: int = settings.KEY_ROTATION_DAYS) -> int:
    """Return the index of the key period holding a local date (periods start on local days)."""
    return (date - _EPOCH).days // rotation_days


def token_key(source: str) -> bytes:
    """Derive the stable per-source key of identifier tokens (used for opt-outs) from the master key."""
    return hmac.new(_master_key(), f"cde-token|{source}".encode(), hashlib.sha256).digest()


def period_key(source: str, period: int) -> bytes:
    """Derive the HMAC key of one source and key period from the master key."""
    return hmac.new(_master_key(), f"cde-pseudonym|{source}|{period}".encode(), hashlib.sha256).digest()


def identifier_token(value: str, key: bytes) -> bytes:
    """The stable token of a raw identifier: HMAC-SHA-256 under the source's token key."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()


def pseudonym_of_token(token: bytes, key: bytes) -> int:
    """The period pseudonym of a token: the first 8 bytes of HMAC-SHA-256 as a signed 64-bit integer."""
    return int.from_bytes(hmac.new(key, token, hashlib.sha256).digest()[:8], "big", signed=True)


def pseudonymise_values(values: pd.Series, token_key_: bytes, period_key_: bytes,
                        opted_out: frozenset[bytes] = frozenset()) -> pd.DataFrame:
    """Return the pseudonym of each identifier and whether its owner opted out.

    Parameters
    ----------
    values : pandas.Series
        Raw identifiers as strings (None for missing).
    token_key_ : bytes
        The source's token key (``token_key``).
    period_key_ : bytes
        The source's key of the run's period (``period_key``).
    opted_out : frozenset of bytes
        Tokens of opted-out identifiers.

    Returns
    -------
    pandas.DataFrame
        ``pseudo_id`` (nullable Int64) and ``opted_out`` (bool).
    """
    # Identifiers repeat (tens of events per person and day): hash each distinct value once.
    present = values.dropna()
    present = present[present != ""]
    distinct = present.unique()
    pseudo_of, out_of = {}, {}
    for value in distinct:
        token = identifier_token(value, token_key_)
        pseudo_of[value] = pseudonym_of_token(token, period_key_)
        out_of[value] = token in opted_out
    # A list of Python ints keeps all 64 bits (a pandas map would pass through float64).
    pseudo = [pseudo_of.get(v) for v in values]
    opted = [out_of.get(v, False) for v in values]
    return pd.DataFrame({"pseudo_id": pd.array(pseudo, dtype="Int64"), "opted_out": opted})


def pseudonym_struct(identifier: Column, source: str, period: int, opted_out: frozenset[bytes]) -> Column:
    """Spark expression: ``struct(pseudo_id long, opted_out boolean)`` computed in the executors.

    The keys are derived on the driver and travel in the task closure; they are never written anywhere.
    """
    from pyspark.sql.functions import pandas_udf

    t_key, p_key = token_key(source), period_key(source, period)

    @pandas_udf("pseudo_id long, opted_out boolean")
    def _pseudonym(values: pd.Series) -> pd.DataFrame:
        return pseudonymise_values(values, t_key, p_key, opted_out)

    return _pseudonym(identifier)
