"""Contract files: which files the contracts folder holds, and reading one into a document and its hash.

A contract folder is written by people and tools we do not control, so every file is read defensively: only
regular files of bounded size (a FIFO or a device would hang or never end), YAML whose aliases expand to a
bounded size and whose nesting is shallow (an alias bomb of a few hundred bytes expands to billions of
nodes for whatever walks it), and the files a contract names (``area``, ``zones``) only from
inside its own folder, never through ``..``, an absolute path or a link that leaves it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from jobs.common import settings
from jobs.errors import ContractError


def contract_files(folder: Path | None = None) -> list[Path]:
    """Return the contract YAML files of the contracts folder."""
    folder = folder or settings.contracts_dir()
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


MAX_CONTRACT_BYTES = 1 << 20  # a contract is a page of YAML; areas and zones live in their own files
MAX_GEOJSON_BYTES = 32 << 20  # the largest area or zone file read (a city's districts are a few MB)
MAX_YAML_DEPTH = 32
MAX_YAML_NODES = 200_000  # nodes of the document with every alias expanded (a contract has a few thousand)


class _BoundedLoader(yaml.SafeLoader):
    """YAML's safe loader with bounded nesting and a bounded expanded size: an alias (``*name``) is fine, as
    tools such as PyYAML write them for repeated values, but not one that expands to more than
    ``MAX_YAML_NODES`` nodes (an alias bomb), which whatever walks the document would take for ever on."""

    def compose_node(self, parent, index):  # noqa: D102 (PyYAML's hook)
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.YAMLError(f"nested deeper than {MAX_YAML_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):  # noqa: D102 (PyYAML's hook)
        node = super().compose_document()
        if node is not None and _expanded_size(node, {}) > MAX_YAML_NODES:
            raise yaml.YAMLError(f"its aliases expand to more than {MAX_YAML_NODES:,} nodes (an alias bomb?)")
        return node


def _expanded_size(node, sizes: dict) -> int:
    """Nodes of ``node`` with every alias expanded, counted once per shared node (so a bomb costs little)."""
    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = 1  # a node that holds itself counts once (no recursion)
    children = []
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    total = 1
    for child in children:
        total += _expanded_size(child, sizes)
        if total > MAX_YAML_NODES:
            break
    sizes[id(node)] = total
    return total


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    Raises
    ------
    OSError
        Not a regular file (a folder, a FIFO, a device), larger than ``limit``, or unreadable; the message
        says which.
    """
    info = os.stat(path)  # follows links; a FIFO is never opened (opening one blocks)
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise OSError(f"{path.name} is {kind}")
    if info.st_size > limit:
        raise OSError(f"{path.name} holds {info.st_size:,} bytes, more than the {limit:,} allowed")
    with open(path, "rb") as handle:
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise OSError(f"{path.name} grew beyond the {limit:,} bytes allowed while it was read")
    return raw


def read_contract_file(path: Path) -> tuple[Any, str]:
    """The YAML document of a contract file and the sha256 of its bytes (an approval holds for those bytes).

    Raises
    ------
    ContractError
        The file is not a regular file of at most ``MAX_CONTRACT_BYTES``, cannot be read as UTF-8 text, or is
        not YAML of bounded depth and expanded size (naming the file).
    """
    path = Path(path)
    try:
        raw = read_regular_file(path, MAX_CONTRACT_BYTES)
        document = yaml.load(raw.decode("utf-8"), Loader=_BoundedLoader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        raise ContractError([f"{path.name}: (file): not valid YAML for a contract ({exc})"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError([f"{path.name}: (file): cannot be read as UTF-8 text ({exc})"]) from exc
    return document, hashlib.sha256(raw).hexdigest()


def field_lines(text: str) -> dict[str, int]:
    """The line (1-based) of every field path of a contract's YAML text, as errors name them.

    Paths are written as validation errors write them (``schema[0].properties``); a term also answers to its
    name (``customProperties.epsilon``), since the terms are checked as a mapping by property name.
    Text that is not YAML has no lines (empty mapping).
    """
    try:
        root = yaml.compose(text, Loader=_BoundedLoader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = f"{path}.{key.value}" if path else str(key.value)
                lines.setdefault(child, key.start_mark.line + 1)
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = f"{path}[{index}]"
                lines.setdefault(child, item.start_mark.line + 1)
                walk(item, child)
                if path == "customProperties" and isinstance(item, yaml.MappingNode):
                    keys = {key.value: key for key, _ in item.value}
                    named = {key.value: value for key, value in item.value}
                    if "property" in named and isinstance(named["property"].value, str):
                        term = f"customProperties.{named['property'].value}"
                        lines.setdefault(term, (keys.get("value") or item).start_mark.line + 1)  # where the value is
                        walk(named.get("value"), term)

    walk(root, "")
    return lines


def with_lines(errors: list[str], where: str, lines: dict[str, int]) -> list[str]:
    """Contract errors (``file: field: what``) with the line of the field, or of its nearest enclosing one."""
    located = []
    for error in errors:
        field = error.removeprefix(f"{where}: ").split(": ", 1)[0].split(" (", 1)[0]  # "x[0] (the 'k' term)"
        candidates = [path for path in lines
                      if field == path or field.startswith(path + ".") or field.startswith(path + "[")]
        if candidates and error.startswith(f"{where}: "):
            error = f"{error} (line {lines[max(candidates, key=len)]})"
        located.append(error)
    return located


def read_named_json(name: Any, base: Path) -> Any:
    """The JSON document of a file a contract names (``area``, ``zones``), resolved inside the contract's
    folder, else inside the region's folder (``regions/<name>/``: its ``areas/``), never elsewhere.

    Parameters
    ----------
    name : str
        The path as the contract states it, relative to its folder (or the region's).
    base : Path
        The contract's folder.

    Raises
    ------
    ValueError
        With the reason in words: a path that leaves the folder (absolute, ``..``, a link outside), not a
        regular file of at most ``MAX_GEOJSON_BYTES``, not found (naming both folders looked in), or not JSON.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{name!r} is not a file name")
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"{name} is outside the contracts folder (use a path inside it, such as areas/...)")
    folders = [Path(base).resolve(), settings.REGION.folder]
    for folder, what in zip(folders, ("the contracts folder", "the region's folder"), strict=True):
        path = (folder / relative).resolve()
        if not path.is_relative_to(folder):
            raise ValueError(f"{name} leads outside {what} (a link to {path})")
        if path.exists():
            break
    else:
        raise ValueError(f"{name} not found (looked in {folders[0]} and in the region {settings.REGION.name}'s "
                         f"folder {folders[1]}: an area or zones file lives beside the contract or in the region's "
                         "areas/)")
    try:
        text = read_regular_file(path, MAX_GEOJSON_BYTES).decode("utf-8")
        return json.loads(text)
    except OSError as exc:
        raise ValueError(f"{name}: {exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{name} is not JSON text ({type(exc).__name__}: {exc})") from exc


def declares_derived(document: Any) -> bool:
    """True when a contract document names ``derived_from`` (served by another contract's releases)."""
    terms = document.get("customProperties") or [] if isinstance(document, dict) else []
    return any(isinstance(t, dict) and t.get("property") == "derived_from" for t in terms)
