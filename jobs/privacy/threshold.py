"""k-threshold on noisy values (post-processing: no extra privacy loss).

This code receives released (noisy) tables only, never true counts. The guarantee it gives is therefore
"no released value below k", not "no true count below k".
"""

from __future__ import annotations

import pandas as pd


def apply_k_threshold(released: pd.DataFrame, k: int) -> pd.DataFrame:
    """Suppress released values below ``k``: ``suppressed = True`` and ``value`` null (never 0).

    Parameters
    ----------
    released : pandas.DataFrame
        Rows of a stored release, with an integer ``value`` column holding noisy values.
    k : int
        The contract's threshold.

    Returns
    -------
    pandas.DataFrame
        A copy with ``value`` as nullable ``Int64`` and a boolean ``suppressed`` column.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    out = released.copy()
    values = out["value"].astype("Int64")
    suppressed = (values < k).fillna(True).astype(bool)
    out["value"] = values.mask(suppressed)
    out["suppressed"] = suppressed
    return out
