"""Pseudonymisation at the door: keyed HMAC-SHA-256 with per-period keys (DESIGN.md section 6).

The master key comes from ``CDE_PSEUDONYM_KEY`` or a key file created on first use with 0600 permissions
in the secrets folder. Period keys are derived per source and period, so a person's telco and ticket
pseudonyms cannot be linked and pseudonyms change every rotation period. Periods start on local days
(the bronze ``event_date``), so one person has exactly one pseudonym per source and day. A pseudonym is
the first 8 bytes of the HMAC as a signed 64-bit integer (collision chance for 10 million people about
3e-6), which keeps joins and shuffles cheap. No key ever enters a table, a log or the repository.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
from typing import TYPE_CHECKING

import pandas as pd

from jobs.common import settings

if TYPE_CHECKING:
    from pyspark.sql import Column

_EPOCH = dt.date(1970, 1, 1)


def _master_key() -> bytes:
    env = os.environ.get("CDE_PSEUDONYM_KEY")
    if env:
        return env.encode("utf-8")
    path = settings.secrets_dir() / "pseudonym.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip().encode("utf-8")


def key_period(date: dt.date, rotation_days: int = settings.KEY_ROTATION_DAYS) -> int:
    """Return the index of the key period holding a local date (periods start on local days)."""
    return (date - _EPOCH).days // rotation_days


def period_key(source: str, period: int) -> bytes:
    """Derive the HMAC key of one source and key period from the master key."""
    return hmac.new(_master_key(), f"cde-pseudonym|{source}|{period}".encode(), hashlib.sha256).digest()


def pseudonymise_values(values: pd.Series, key: bytes) -> pd.Series:
    """Return 64-bit pseudonyms for identifier strings (None stays None).

    Parameters
    ----------
    values : pandas.Series
        Raw identifiers as strings.
    key : bytes
        Period key from ``period_key``.

    Returns
    -------
    pandas.Series
        Nullable ``Int64`` pseudonyms.
    """
    def one(value: str | None) -> int | None:
        if value is None or value is pd.NA or value != value:  # None, NA or NaN
            return None
        digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    return pd.Series([one(v) for v in values], dtype="Int64")


def pseudonym_column(identifier: Column, key: bytes) -> Column:
    """Spark expression: the pseudonym of an identifier column, computed in the executors."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("long")
    def _pseudonym(values: pd.Series) -> pd.Series:
        return pseudonymise_values(values, key)

    return _pseudonym(identifier)
