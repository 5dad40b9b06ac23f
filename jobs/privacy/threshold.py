"""k-threshold on noisy values (post-processing: no extra privacy loss).

This code receives released (noisy) tables only, never true counts. The guarantee it gives is therefore
"no released value below k", not "no true count below k".
"""

from __future__ import annotations

import pandas as pd


def apply_k_threshold(released: pd.DataFrame, k: int, on: str = "value") -> pd.DataFrame:
    """Suppress released values below ``k``: ``suppressed = True`` and ``value`` null (never 0).

    Parameters
    ----------
    released : pandas.DataFrame
        Rows of a stored release, with an integer ``value`` column holding noisy values.
    k : int
        The contract's threshold.
    on : str
        The column of noisy values the threshold acts on: ``value``, or ``noisy_value`` when ``value`` holds
        post-processed estimates (``jobs/privacy/postprocess.py``), so that the rule stays "noisy value
        below k".

    Returns
    -------
    pandas.DataFrame
        A copy with ``value`` as nullable ``Int64`` and a boolean ``suppressed`` column.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    out = released.copy()
    suppressed = (out[on].astype("Int64") < k).fillna(True).astype(bool)
    out["value"] = out["value"].astype("Int64").mask(suppressed)
    out["suppressed"] = suppressed
    return out
