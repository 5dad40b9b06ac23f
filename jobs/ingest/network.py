"""The ESS network topology of the ``mno`` feed: which cells exist on a day, where, and what is wrong with them.

The operator sends, with each day's events, a snapshot of its cells in the ESS / Eurostat MNO cell schema
("cell locations with physical properties", as Eurostat's MultiMNO pipeline reads it) under
``lake/landing/reference/mno_network/<YYYY-MM-DD>/`` (Parquet or CSV files, by suffix). Each row is one cell
and a validity period; a cell is valid on a day when ``valid_date_start`` is on or before it and
``valid_date_end`` is null or on or after it (date parts, the end inclusive). A day without its own snapshot
uses the latest earlier one, and says so in the run record.

Network quality warnings (after the ESS methodology's network cleaning): a value outside its admissible range
is not used (as if missing) and counted per field; a cell without a position cannot place its events (they are
quarantined, naming why); a cell listed twice for one day keeps its row with the latest start.

Placement (until cell footprints): a directional cell at the centroid of its coverage wedge
(``reference.sector_centroid``), an omnidirectional cell or one without azimuth, beam width or range at its
site.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd

from jobs.common import settings
from jobs.errors import ReferenceDataError
from jobs.ingest.reference import in_region, sector_centroid

REQUIRED = ("cell_id", "latitude", "longitude")
# Admissible ranges of the numeric fields (ESS cell schema units: degrees, metres, watts, MHz); outside them a
# value is a network quality warning and is not used.
NUMERIC_RANGES = {
    "latitude": (-90.0, 90.0), "longitude": (-180.0, 180.0), "altitude": (-500.0, 9_000.0),
    "antenna_height": (0.0, 500.0), "directionality": (0.0, 1.0), "azimuth_angle": (0.0, 360.0),
    "elevation_angle": (-90.0, 90.0), "horizontal_beam_width": (0.0, 360.0), "vertical_beam_width": (0.0, 180.0),
    "power": (0.0, 1_000.0), "range": (1.0, 100_000.0), "frequency": (1.0, 100_000.0),
}
TECHNOLOGIES = ("5G", "LTE", "UMTS", "GSM")
CELL_TYPES = ("macrocell", "microcell", "picocell", "femtocell")
DATE_FIELDS = ("valid_date_start", "valid_date_end")
COLUMNS = (*REQUIRED, *[c for c in NUMERIC_RANGES if c not in REQUIRED], "technology", *DATE_FIELDS, "cell_type")
FOLDER = "mno_network"


def snapshot_folder(date: dt.date) -> tuple[Path, str | None]:
    """The topology snapshot for a day: its own folder, else the latest earlier one (and a warning saying so).

    Raises
    ------
    ReferenceDataError
        No snapshot on or before the day.
    """
    base = settings.reference_path(FOLDER)
    own = base / date.isoformat()
    if own.is_dir() and _files(own):
        return own, None
    earlier = sorted(p for p in base.iterdir() if p.is_dir() and _is_date(p.name) and p.name < date.isoformat()
                     and _files(p)) if base.is_dir() else []
    if not earlier:
        raise ReferenceDataError(f"{own}: no network topology for {date} or any earlier day; the operator's cell "
                                 "snapshot (ESS cell schema, Parquet or CSV) belongs there")
    return earlier[-1], f"no topology snapshot for {date}: the snapshot of {earlier[-1].name} was used"


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in (".parquet", ".csv"))


def _read_file(path: Path) -> pd.DataFrame:
    """One topology file as text columns (lower-case names); an unreadable file names itself."""
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pq.read_table(pa.BufferReader(path.read_bytes()))  # a local file or an object in a bucket
            frame = pd.DataFrame({name.strip().lower(): [None if v is None else str(v) for v in
                                                         table.column(name).to_pylist()]
                                  for name in table.column_names})
        else:
            frame = pd.read_csv(io.BytesIO(path.read_bytes()), dtype=str, encoding="utf-8-sig",
                                keep_default_na=False)
            frame.columns = [c.strip().lower() for c in frame.columns]
            frame = frame.replace("", None)
    except UnicodeDecodeError as exc:
        raise ReferenceDataError(f"{path}: not UTF-8 (byte {exc.start}); re-export it as UTF-8") from exc
    except Exception as exc:  # pyarrow and pandas raise many kinds for a damaged file: one line naming it
        raise ReferenceDataError(f"{path}: cannot be read as {path.suffix.lstrip('.').upper()} "
                                 f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ReferenceDataError(f"{path}: missing column(s) {', '.join(missing)} of the ESS cell schema")
    return frame


def _date_part(values: pd.Series) -> pd.Series:
    """The date part of ``YYYY-MM-DD[...]`` or ``YYYYMMDD`` texts (NaT where it is not one)."""
    text = values.astype("string").str.strip()
    dashed = pd.to_datetime(text.str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
    compact = pd.to_datetime(text.str.slice(0, 8), format="%Y%m%d", errors="coerce")
    return dashed.fillna(compact).dt.date


def clean_topology(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Typed cells and the count of each network quality warning.

    Parameters
    ----------
    frame : pandas.DataFrame
        Topology rows as text (``_read_file``).

    Returns
    -------
    tuple
        The cells (numeric fields as floats, NaN where missing or inadmissible; dates as ``datetime.date`` or
        None) and ``{warning: cells}``.
    """
    warnings: dict[str, int] = {}
    cells = pd.DataFrame({"cell_id": frame["cell_id"].astype("string").str.strip()})
    for column, (low, high) in NUMERIC_RANGES.items():
        raw = frame[column] if column in frame.columns else pd.Series([None] * len(frame), index=frame.index)
        values = pd.to_numeric(raw, errors="coerce")
        bad = raw.notna() & (values.isna() | (values < low) | (values > high))
        if column == "horizontal_beam_width":
            bad |= values <= 0
        if bad.any():
            warnings[f"{column}: not a number in [{low:g}, {high:g}]"] = int(bad.sum())
        cells[column] = values.where(~bad)
    for column, allowed in (("technology", TECHNOLOGIES), ("cell_type", CELL_TYPES)):
        raw = frame[column].astype("string").str.strip() if column in frame.columns else None
        if raw is not None:
            bad = raw.notna() & ~raw.str.lower().isin([a.lower() for a in allowed])
            if bad.any():
                warnings[f"{column}: not one of {' | '.join(allowed)}"] = int(bad.sum())
            cells[column] = raw.where(~bad)
    for column in DATE_FIELDS:
        raw = frame[column] if column in frame.columns else pd.Series([None] * len(frame), index=frame.index)
        dates = _date_part(raw)
        bad = raw.notna() & pd.isna(dates)
        if bad.any():
            warnings[f"{column}: not a date (YYYY-MM-DD)"] = int(bad.sum())
        cells[column] = [None if pd.isna(d) else d for d in dates]
    empty = cells["cell_id"].isna() | (cells["cell_id"] == "")
    if empty.any():
        warnings["cell_id: empty (row not used)"] = int(empty.sum())
    cells = cells[~empty]
    inverted = cells["valid_date_start"].notna() & cells["valid_date_end"].notna() & (
        cells["valid_date_end"] < cells["valid_date_start"])
    if inverted.any():
        warnings["valid_date_end before valid_date_start (never valid)"] = int(inverted.sum())
    return cells.reset_index(drop=True), warnings


def cells_on(cells: pd.DataFrame, date: dt.date) -> tuple[pd.DataFrame, pd.Series, dict[str, int]]:
    """The cells valid on a day (one row per cell id) and the ids listed only for other days.

    Returns
    -------
    tuple
        The valid rows, the ids of cells not valid on ``date``, and warnings (cells listed twice for the day).
    """
    start_ok = cells["valid_date_start"].map(lambda d: d is None or d <= date)
    end_ok = cells["valid_date_end"].map(lambda d: d is None or d >= date)
    valid = cells[start_ok & end_ok]
    warnings = {}
    twice = valid["cell_id"].duplicated(keep=False)
    if twice.any():
        warnings[f"cell listed more than once for {date} (the row with the latest start used)"] = int(
            valid.loc[twice, "cell_id"].nunique())
    order = valid.assign(_start=valid["valid_date_start"].map(lambda d: d or dt.date.min))
    valid = order.sort_values("_start").drop_duplicates("cell_id", keep="last").drop(columns="_start")
    other_days = pd.Series(sorted(set(cells["cell_id"]) - set(valid["cell_id"])), dtype="string")
    return valid.reset_index(drop=True), other_days, warnings


def place_cells(valid: pd.DataFrame, resolution: int) -> tuple[pd.DataFrame, dict[str, int]]:
    """Each valid cell's H3 cell (wedge centroid or site) and whether it lies in the region.

    Returns
    -------
    tuple
        ``ref_id, h3_cell, in_region, problem`` (problem: why a cell cannot place events, else None) and
        warnings.
    """
    import h3

    warnings: dict[str, int] = {}
    lat, lon = valid["latitude"].to_numpy(float), valid["longitude"].to_numpy(float)
    no_position = np.isnan(lat) | np.isnan(lon)
    if no_position.any():
        warnings["cells without a position (their events are quarantined)"] = int(no_position.sum())
    directional = (valid["directionality"].fillna(1) == 1) & valid["azimuth_angle"].notna() & (
        valid["horizontal_beam_width"].fillna(360) < 360)
    lacks_range = directional & valid["range"].isna() & ~no_position
    if lacks_range.any():
        warnings["directional cells without range (placed at their site)"] = int(lacks_range.sum())
    cells, places_lat, places_lon = [], [], []
    for i, row in enumerate(valid.itertuples(index=False)):
        if no_position[i]:
            cells.append(0)
            places_lat.append(np.nan)
            places_lon.append(np.nan)
            continue
        a, b = lat[i], lon[i]
        if directional.iloc[i] and not lacks_range.iloc[i]:
            a, b = sector_centroid(lat[i], lon[i], row.azimuth_angle, row.horizontal_beam_width, row.range)
        places_lat.append(a)
        places_lon.append(b)
        cells.append(h3.str_to_int(h3.latlng_to_cell(a, b, resolution)))
    inside = in_region(pd.Series(places_lat), pd.Series(places_lon)).to_numpy()
    return pd.DataFrame({
        "ref_id": valid["cell_id"].astype(str).to_numpy(),
        "h3_cell": np.asarray(cells, dtype="int64"),
        "in_region": inside,
        "problem": np.where(no_position, "cell has no position in the network topology", None),
    }), warnings


def snapshot_cells(date: dt.date) -> tuple[pd.DataFrame, dict[str, int], Path, str | None]:
    """The day's snapshot (or the latest earlier one) read and cleaned.

    Returns
    -------
    tuple
        The cells (``clean_topology``), their warnings, the folder read, and why an earlier day's snapshot was
        read (or None).
    """
    folder, fallback = snapshot_folder(date)
    cells, warnings = clean_topology(pd.concat([_read_file(p) for p in _files(folder)], ignore_index=True))
    return cells, warnings, folder, fallback


def load_network(date: dt.date, resolution: int = settings.FINEST_H3_RESOLUTION) -> pd.DataFrame:
    """The cells of the day's topology snapshot placed in H3, with what the ingest run must know.

    Returns
    -------
    pandas.DataFrame
        ``ref_id, h3_cell, in_region, problem``: one row per cell valid on ``date`` and one per cell listed only
        for other days (``problem`` says so; their events are quarantined as unknown references). The frame's
        ``attrs`` hold ``warnings`` (``{warning: cells}``), ``snapshot`` (the folder read), ``fallback`` (why
        an earlier day's snapshot was read, or None), ``cells_valid`` and ``cells_other_days``.

    Raises
    ------
    ReferenceDataError
        No snapshot, an unreadable file, or a file without ``cell_id``, ``latitude`` or ``longitude``.
    """
    cells, warnings, folder, fallback = snapshot_cells(date)
    valid, other_days, day_warnings = cells_on(cells, date)
    placed, place_warnings = place_cells(valid, resolution)
    elsewhere = pd.DataFrame({"ref_id": other_days.astype(str).to_numpy(), "h3_cell": np.zeros(len(other_days),
                                                                                                  "int64"),
                              "in_region": np.ones(len(other_days), bool),
                              "problem": f"cell not valid on {date} in the network topology"})
    result = pd.concat([placed, elsewhere], ignore_index=True)
    result.attrs.update(warnings={**warnings, **day_warnings, **place_warnings}, snapshot=str(folder),
                        fallback=fallback, cells_valid=len(valid), cells_other_days=len(other_days))
    return result
