"""Scan the lake for raw identifiers, by value (DESIGN.md section 6).

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

SKIPPED_TOP_FOLDERS = ("landing", "simulation", "_secrets")
TEXT_SUFFIXES = (".json", ".csv", ".geojson", ".html", ".log", ".txt", ".crc", ".jsonl", ".md")


@dataclasses.dataclass(frozen=True)
class Finding:
    """One identifier found: where and in which column (or "text")."""

    path: str
    column: str
    identifier: str


# Tokens an identifier can hide in: alphanumeric runs, digit runs, and MAC-shaped runs.
_TOKEN = re.compile(r"(?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2}|[0-9a-z]+|[0-9]+")


def _normalise(value: str) -> str:
    return value.strip().lower().replace("-", ":") if _MAC.fullmatch(value.strip()) else value.strip().lower()


_MAC = re.compile(r"(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}")


def _tokens(text: str) -> set[str]:
    lowered = text.lower()
    found = {_normalise(t) for t in _TOKEN.findall(lowered)}
    found.update(re.findall(r"[0-9]+", lowered))  # digits glued to letters
    return found


def _scan_parquet(path: Path, identifiers: set[str], numeric: set[int]) -> list[Finding]:
    findings = []
    table = pq.read_table(path)
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            text = "\n".join(v for v in column.drop_null().unique().to_pylist())
            findings += [Finding(str(path), name, i) for i in sorted(_tokens(text) & identifiers)]
        elif pa.types.is_integer(column.type) and numeric:
            values = set(column.drop_null().unique().to_pylist())
            findings += [Finding(str(path), name, str(v)) for v in sorted(values & numeric)]
    return findings


def _scan_text(path: Path, identifiers: set[str]) -> list[Finding]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return [Finding(str(path), "text", i) for i in sorted(_tokens(text) & identifiers)]


def scan_lake(root: Path, identifiers: Iterable[str]) -> list[Finding]:
    """Search every file under the lake (but the skipped folders) for the given raw identifiers.

    Parameters
    ----------
    root : Path
        Lake root.
    identifiers : iterable of str
        Raw identifiers from the landing files (IMSIs, MACs, card ids).

    Returns
    -------
    list of Finding
        Empty when no identifier is stored anywhere.
    """
    wanted = {_normalise(i) for i in identifiers if i and i.strip()}
    numeric = {int(i) for i in wanted if i.isdigit()}
    findings: list[Finding] = []
    for path in sorted(Path(root).rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(root).parts
        if relative and relative[0] in SKIPPED_TOP_FOLDERS:
            continue
        if path.suffix == ".parquet":
            findings += _scan_parquet(path, wanted, numeric)
        elif path.suffix in TEXT_SUFFIXES or path.suffix == "":
            findings += _scan_text(path, wanted)
    return findings
