"""Derived products: post-processing of a stored release, with no new spend.

A buyer product is either a release made for it or derived from an existing release by summing its noisy
values. Summing is valid only for additive metrics (events, trips, person-bin presences, camera counts):
distinct people of a coarser cell or a longer bin are not the sum of finer ones (one person is in several
children), so they need their own release. The contract's epsilon is a ceiling the source release must
respect. Summing multiplies noise (the sum of n cells has sqrt(n) times the spread): release at the cuts
contracts actually use.
"""

from __future__ import annotations

from collections.abc import Iterable

import h3
import pandas as pd

from jobs.common import settings, tables
from jobs.common.columns import SEGMENT_COLUMNS
from jobs.common.h3cells import cell_to_int, int_to_cell
from jobs.errors import DerivationRefused
from jobs.privacy import ledger
from jobs.privacy.measures import get_measure
from jobs.privacy.release import read_release


def derive_from_release(release_id: str, *, contract_epsilon: float, h3_resolution: int | None = None,
                        cells: Iterable[str] | None = None, bin_minutes: int | None = None) -> pd.DataFrame:
    """Derive a product from a stored release, with no new spend.

    The release's metric and epsilon are read from the release log and its ledger entry, never taken from
    the caller; the two must agree, and the release's epsilon must not exceed the contract's (a ceiling).

    Parameters
    ----------
    release_id : str
        A release in ``gold/releases`` (with its ``ops/releases`` row and ledger entry).
    contract_epsilon : float
        The deriving contract's epsilon per delivery.
    h3_resolution, cells, bin_minutes
        The cut to sum into (see ``sum_into_cut``).

    Raises
    ------
    DerivationRefused
        No such release or ledger entry, the log and the ledger disagree, the release spent more than the
        contract allows, or the metric is not additive at a coarser cut.
    """
    import json

    logged = tables.release_log_rows(release_id)
    if not logged:
        raise DerivationRefused(f"no stored release {release_id!r}")
    plan = json.loads(logged[-1]["plan"])
    entries = ledger.read_entries()
    entry = entries[entries["entry_id"] == logged[-1]["ledger_entry_id"]]
    if entry.empty or entry["kind"].iloc[0] != "spend":
        raise DerivationRefused(f"release {release_id}: its ledger entry {logged[-1]['ledger_entry_id']} is missing")
    spent = float(entry["epsilon"].iloc[0])
    if abs(spent - float(plan["epsilon"])) > 1e-12 or entry["release_id"].iloc[0] != release_id:
        raise DerivationRefused(f"release {release_id}: the release log says epsilon {plan['epsilon']:g}, its "
                                f"ledger entry {spent:g}")
    if spent > contract_epsilon + 1e-12:
        raise DerivationRefused(f"the release spent epsilon {spent:g}, above the contract's {contract_epsilon:g}")
    stored = read_release(release_id)  # fenced: the newest spend's rows, matching its recorded draw
    if stored.num_rows and set(stored.column("ledger_entry_id").to_pylist()) != {logged[-1]["ledger_entry_id"]}:
        raise DerivationRefused(f"release {release_id}: its stored rows were paid by ledger entries "
                                f"{sorted(set(stored.column('ledger_entry_id').to_pylist()))}, not by the logged "
                                f"entry {logged[-1]['ledger_entry_id']}")
    frame = stored.to_pandas()
    return sum_into_cut(frame, plan["metric"], h3_resolution=h3_resolution, cells=cells, bin_minutes=bin_minutes)


def sum_into_cut(release: pd.DataFrame, metric: str, *, h3_resolution: int | None = None,
                 cells: Iterable[str] | None = None, bin_minutes: int | None = None) -> pd.DataFrame:
    """The post-processing itself: sum noisy values into a coarser cut (parents, a buyer's cells, longer bins).

    Only ``derive_from_release`` may feed it a stored release: it takes the metric and epsilon from the
    release and its ledger entry.

    Parameters
    ----------
    release : pandas.DataFrame
        Rows of ``gold/releases`` (``h3_cell`` and, for OD, ``destination_h3`` as int64, ``bin_start``,
        ``bin_minutes``, segment columns where set, ``value``).
    metric : str
        The release's metric; must be additive unless the cut is unchanged.
    h3_resolution : int, optional
        Coarser resolution to sum into (origin and destination alike).
    cells : iterable of str, optional
        Cells (at the release's resolution) the buyer's area keeps; a row is kept when each of its places is
        one of them.
    bin_minutes : int, optional
        Longer bins to sum into (a whole multiple of the release's bins, aligned to hours or local days).

    Returns
    -------
    pandas.DataFrame
        The place columns, ``bin_start, bin_minutes``, the segment columns, ``metric`` and ``value`` at the
        derived cut.
    """
    places = [c for c in ("h3_cell", "destination_h3") if c in release and release[c].notna().any()]
    segments = [c for c in SEGMENT_COLUMNS if c in release and release[c].notna().any()]
    keys = [*places, "bin_start", "bin_minutes", *segments]
    frame = release[[*keys, "value"]].copy()
    if cells is not None:
        keep = {cell_to_int(c) for c in cells}
        inside = pd.Series(True, index=frame.index)
        for place in places:
            inside &= frame[place].isin(keep)
        frame = frame[inside]
    if frame.empty:
        return frame.assign(metric=metric)[[*keys, "metric", "value"]]
    coarser = h3_resolution is not None and h3_resolution < h3.get_resolution(int_to_cell(frame["h3_cell"].iloc[0]))
    longer = bin_minutes is not None and bin_minutes > int(frame["bin_minutes"].iloc[0])
    if (coarser or longer) and not get_measure(metric).additive:
        raise DerivationRefused(
            f"{metric} is not additive: a coarser cell or a longer bin needs its own release (one person is "
            "in several children)")
    if coarser:
        for place in places:
            frame[place] = [cell_to_int(h3.cell_to_parent(int_to_cell(c), h3_resolution)) for c in frame[place]]
    if longer:
        if bin_minutes == 1440:
            local = frame["bin_start"].dt.tz_localize("UTC").dt.tz_convert(settings.LOCAL_TZ_NAME).dt.floor("D")
            frame["bin_start"] = local.dt.tz_convert("UTC").dt.tz_localize(None)
        else:
            frame["bin_start"] = frame["bin_start"].dt.floor(f"{bin_minutes}min")
        frame["bin_minutes"] = bin_minutes
    out = frame.groupby(keys, as_index=False, dropna=False)["value"].sum()
    return out.assign(metric=metric)[[*keys, "metric", "value"]]
