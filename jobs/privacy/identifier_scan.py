"""Scan the lake for raw identifiers, by value (docs/architecture.md, the privacy model).

Every Parquet file under the lake (live, old versions and orphans alike: a vacuumed-later file still
counts while it exists) and every text file (Delta logs, manifests, CSV, GeoJSON, JSON, HTML audits, logs)
is searched for every identifier taken from the landing files. Numbers are compared as numbers too, so an
IMSI stored as an integer is found. ``landing/`` (where raw identifiers legitimately live until
retention removes them), ``simulation/`` (the simulator's answer key) and ``_secrets/`` are skipped.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.ingest.feeds import FEEDS

SKIPPED_TOP_FOLDERS = ("landing", "simulation", "_secrets")
TEXT_SUFFIXES = (".json", ".csv", ".geojson", ".html", ".log", ".txt", ".crc", ".jsonl", ".md")


@dataclasses.dataclass(frozen=True)
class Finding:
    """One identifier found: where and in which column (or "text")."""

    path: str
    column: str
    identifier: str


# MAC-shaped runs in any common notation (aa:bb:.., aa-bb-.., aabb.ccdd.eeff) become their 12 hex digits.
_MAC_FORMS = re.compile(r"\b(?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2}\b|\b(?:[0-9a-f]{4}\.){2}[0-9a-f]{4}\b")
_RUN = re.compile(r"[0-9a-z]+")


def canonical(value: str) -> str:
    """An identifier as the scan compares it: lower case, letters and digits only (a MAC is 12 hex digits)."""
    return re.sub(r"[^0-9a-z]", "", value.strip().lower())


def _squash_macs(lowered: str) -> str:
    return _MAC_FORMS.sub(lambda m: re.sub(r"[:.-]", "", m.group(0)), lowered)


def _tokens(text: str, lengths: frozenset[int] = frozenset()) -> set[str]:
    """Every letter-and-digit run of the text, and every substring of a run with an identifier's length
    (so an id inside a longer string, or a MAC written without separators, is found)."""
    found: set[str] = set()
    for run in _RUN.findall(_squash_macs(text.lower())):
        found.add(run)
        for size in lengths:
            if len(run) > size:
                found.update(run[i:i + size] for i in range(len(run) - size + 1))
    return found


# Identifiers this long are also searched inside longer strings; shorter ones only as whole runs (an 8-digit
# card number would otherwise match inside every timestamp). MACs (12 hex digits) and IMSIs (15) qualify.
MIN_EMBEDDED_LENGTH = 12


def _lengths(identifiers: set[str]) -> frozenset[int]:
    return frozenset(len(i) for i in identifiers if len(i) >= MIN_EMBEDDED_LENGTH)


def _scan_parquet(path: Path, identifiers: set[str], numeric: set[int]) -> list[Finding]:
    findings = []
    table = pq.read_table(path, partitioning=None)  # the file itself, not the folder names above it
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            text = "\n".join(v for v in column.drop_null().unique().to_pylist())
            found = _tokens(text, _lengths(identifiers)) & identifiers
            findings += [Finding(str(path), name, i) for i in sorted(found)]
        elif pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type) \
                or pa.types.is_fixed_size_binary(column.type):  # an identifier kept as bytes, in its hex form
            values = {v.hex() for v in column.drop_null().unique().to_pylist()}
            findings += [Finding(str(path), name, i) for i in sorted(values & identifiers)]
        elif pa.types.is_integer(column.type) and numeric:
            values = set(column.drop_null().unique().to_pylist())
            findings += [Finding(str(path), name, str(v)) for v in sorted(values & numeric)]
    return findings


def _scan_text(path: Path, identifiers: set[str]) -> list[Finding]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return [Finding(str(path), "text", i) for i in sorted(_tokens(text, _lengths(identifiers)) & identifiers)]


def _scan_sqlite(path: Path, identifiers: set[str], numeric: set[int]) -> list[Finding]:
    """Every value of every table of a SQLite database (Airflow's metadata: XComs, params, logs, run conf)."""
    import sqlite3

    findings = []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            texts, numbers = [], set()
            for row in db.execute(f'SELECT * FROM "{table}"'):  # table names come from the database itself
                for value in row:
                    if isinstance(value, int):
                        numbers.add(value)
                    elif isinstance(value, bytes):
                        texts.append(value.decode("utf-8", errors="replace"))
                    elif value is not None:
                        texts.append(str(value))
            found = _tokens("\n".join(texts), _lengths(identifiers)) & identifiers
            findings += [Finding(str(path), table, i) for i in sorted(found)]
            findings += [Finding(str(path), table, str(v)) for v in sorted(numbers & numeric)]
    return findings


SUFFIX_FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl"}


def landing_identifiers(root: Path) -> set[str]:
    """Every raw identifier in the landing files of every feed that has one (the values the scan looks for)."""
    import json

    import pandas as pd

    found: set[str] = set()
    for name, spec in FEEDS.items():
        if spec.identifier is None:
            continue
        for path in sorted((Path(root) / "landing" / name).rglob("*")):
            if not path.is_file():
                continue
            file_format = SUFFIX_FORMATS.get(path.suffix.lower()) if spec.file_format == "suffix" else spec.file_format
            if file_format == "csv":
                column = pd.read_csv(path, dtype=str, usecols=[spec.identifier])[spec.identifier]
                found |= set(column.dropna())
            elif file_format == "parquet":  # binary ids in the hex form ingest reads them in
                names = {n.lower(): n for n in pq.read_schema(path).names}
                values = pq.read_table(path, columns=[names[spec.identifier]]).column(0).drop_null().to_pylist()
                found |= {v.hex() if isinstance(v, bytes) else str(v) for v in values}
            else:
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
                found |= {str(json.loads(line).get(spec.identifier)) for line in lines if line.strip()}
    return {i for i in found if i and i != "None"}


def scan_lake(root: Path, identifiers: Iterable[str], *, also: Iterable[Path] = ()) -> list[Finding]:
    """Search every file under the lake (but the skipped folders) for the given raw identifiers, in any form:
    any case, MACs with or without separators, ids inside longer strings, integers as numbers.

    Parameters
    ----------
    root : Path
        Lake root.
    identifiers : iterable of str
        Raw identifiers from the landing files (IMSIs, MACs, card ids).
    also : iterable of Path
        More folders to search whole, e.g. ``AIRFLOW_HOME`` (task logs and the SQLite metadata database).

    Returns
    -------
    list of Finding
        Empty when no identifier is stored anywhere.
    """
    wanted = {canonical(i) for i in identifiers if i and i.strip()}
    numeric = {int(i) for i in wanted if i.isdigit()}
    findings: list[Finding] = []
    for folder, skipped in ((Path(root), SKIPPED_TOP_FOLDERS), *((Path(extra), ()) for extra in also)):
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            relative = path.relative_to(folder).parts
            if relative and relative[0] in skipped:
                continue
            if path.suffix == ".parquet":
                findings += _scan_parquet(path, wanted, numeric)
            elif path.suffix in (".db", ".sqlite", ".sqlite3"):
                findings += _scan_sqlite(path, wanted, numeric)
            elif path.suffix in TEXT_SUFFIXES or path.suffix in ("", ".cfg", ".out", ".err"):
                findings += _scan_text(path, wanted)
    return findings
