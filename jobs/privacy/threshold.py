"""k-threshold on noisy values (post-processing: no extra privacy loss).

This code receives released (noisy) tables only, never true counts. The guarantee it gives is therefore
"no released value below k", not "no true count below k".
"""

from __future__ import annotations

import pandas as pd


def apply_k_threshold(released: pd.DataFrame, k: int, on: tuple[str, ...] = ("value",)) -> pd.DataFrame:
    """Suppress released values below ``k``: ``suppressed = True`` and ``value`` null (never 0).

    Parameters
    ----------
    released : pandas.DataFrame
        Rows of a stored release, with an integer ``value`` column holding noisy values.
    k : int
        The contract's threshold.
    on : tuple of str
        The columns that must all reach ``k`` for a row to be released: ``value`` (the noisy values), or
        ``noisy_value`` and ``value`` when ``value`` holds estimates made from them
        (``jobs/privacy/postprocess.py``): the released rows are then a subset of those whose noisy value
        reaches k (so phantom figures computed for the noise still bound them) and no delivered value is
        below k.

    Returns
    -------
    pandas.DataFrame
        A copy with ``value`` as nullable ``Int64`` and a boolean ``suppressed`` column.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    out = released.copy()
    suppressed = pd.Series(False, index=out.index)
    for column in on:
        suppressed |= (out[column].astype("Int64") < k).fillna(True).astype(bool)
    out["value"] = out["value"].astype("Int64").mask(suppressed)
    out["suppressed"] = suppressed
    return out
