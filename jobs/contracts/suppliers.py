"""The supplier registry (``reference/suppliers.yaml``): which supplier owns each source feed, and who may
approve contracts on that supplier's behalf.

A contract reads sources; the owner of every one of them must be listed in its ``suppliers`` and must
approve it (``jobs/publish/approvals.py``). Approvers come only from this registry, so a contract cannot name
its own approver. The registry is operator-kept reference data, validated when read: an error names the
file, the entry and the field.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

import yaml

from jobs.common import settings
from jobs.errors import ReferenceDataError


@dataclasses.dataclass(frozen=True)
class Supplier:
    """One supplier: its id, display name, the sources it owns and its approvers (name and e-mail)."""

    id: str
    name: str
    sources: tuple[str, ...]
    approvers: tuple[dict, ...]

    def is_approver(self, who: str) -> bool:
        """True when ``who`` is the name or e-mail of one of this supplier's approvers."""
        return any(who in (a.get("name"), a.get("email")) for a in self.approvers)


@dataclasses.dataclass(frozen=True)
class SupplierRegistry:
    """Every registered supplier, with the owner of each source."""

    path: str
    suppliers: dict[str, Supplier]

    def owner_of(self, source: str) -> Supplier | None:
        """The supplier owning a source feed, or None when no supplier registered it."""
        return next((s for s in self.suppliers.values() if source in s.sources), None)

    def get(self, supplier_id: str) -> Supplier | None:
        """The supplier with this id, or None."""
        return self.suppliers.get(supplier_id)


def _entry_errors(entry, index: int, where: str) -> list[str]:
    at = f"{where}: suppliers[{index}]"
    if not isinstance(entry, dict):
        return [f"{at}: an entry is a mapping with id, name, sources and approvers"]
    errors = []
    for field in ("id", "name"):
        if not isinstance(entry.get(field), str) or not entry.get(field).strip():
            errors.append(f"{at}.{field}: a non-empty text is required")
    sources = entry.get("sources")
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) and s for s in sources):
        errors.append(f"{at}.sources: a non-empty list of source feed names is required")
    approvers = entry.get("approvers")
    if not isinstance(approvers, list) or not approvers:
        errors.append(f"{at}.approvers: at least one approver (name and e-mail) is required")
    else:
        for j, approver in enumerate(approvers):
            if not isinstance(approver, dict) or not approver.get("name") or not approver.get("email"):
                errors.append(f"{at}.approvers[{j}]: an approver has a name and an email")
    return errors


def parse_registry(document, where: str) -> SupplierRegistry:
    """Validate a parsed registry document.

    Raises
    ------
    ReferenceDataError
        One line per problem, each naming the entry and field: a missing field, a duplicate supplier id, or a
        source claimed by two suppliers (a source has exactly one owner).
    """
    if not isinstance(document, dict) or not isinstance(document.get("suppliers"), list):
        raise ReferenceDataError(f"{where}: (top level): a mapping with a `suppliers` list is required")
    errors: list[str] = []
    suppliers: dict[str, Supplier] = {}
    owners: dict[str, str] = {}
    for index, entry in enumerate(document["suppliers"]):
        entry_errors = _entry_errors(entry, index, where)
        errors += entry_errors
        if entry_errors:
            continue
        if entry["id"] in suppliers:
            errors.append(f"{where}: suppliers[{index}].id: {entry['id']!r} appears twice")
        for source in entry["sources"]:
            if source in owners and owners[source] != entry["id"]:
                errors.append(f"{where}: suppliers[{index}].sources: {source!r} is already owned by "
                              f"{owners[source]!r} (a source has one owner)")
            owners[source] = entry["id"]
        suppliers[entry["id"]] = Supplier(entry["id"], entry["name"], tuple(entry["sources"]),
                                          tuple(dict(a) for a in entry["approvers"]))
    if errors:
        raise ReferenceDataError("\n".join(errors))
    return SupplierRegistry(where, suppliers)


def load_registry(path: Path | None = None) -> SupplierRegistry:
    """Read and validate the supplier registry (default ``settings.supplier_registry_path()``).

    Raises
    ------
    ReferenceDataError
        The file is missing, not YAML, or invalid (the message names the field).
    """
    path = Path(path or settings.supplier_registry_path())
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ReferenceDataError(f"{path}: (file): the supplier registry cannot be read ({exc})") from exc
    except yaml.YAMLError as exc:
        raise ReferenceDataError(f"{path}: (file): not valid YAML ({exc})") from exc
    return parse_registry(document, str(path))


def cached_registry(path: str) -> SupplierRegistry:
    """The supplier registry at ``path``, read again only when its file changes (validation asks often)."""
    try:
        stamp = Path(path).stat().st_mtime_ns
    except OSError:
        return load_registry(Path(path))  # raises, naming the file
    return _registry_at(path, stamp)


@cache
def _registry_at(path: str, stamp: int) -> SupplierRegistry:
    return load_registry(Path(path))


def source_owner_errors(sources, suppliers, registry: SupplierRegistry, where: str) -> list[str]:
    """Contract errors: a source without a registered owner, an owner missing from ``suppliers``, or a listed
    supplier that the registry does not know or that owns none of the contract's sources."""
    field, errors = "customProperties", []
    owners = set()
    for source in sources:
        owner = registry.owner_of(source)
        if owner is None:
            errors.append(f"{where}: {field}.sources: source {source!r} has no owning supplier in the supplier "
                          f"registry ({registry.path})")
            continue
        owners.add(owner.id)
        if owner.id not in suppliers:
            errors.append(f"{where}: {field}.suppliers: source {source!r} is owned by {owner.id!r}, which must be "
                          "listed and must approve the contract")
    for supplier in suppliers:
        if registry.get(supplier) is None:
            errors.append(f"{where}: {field}.suppliers: {supplier!r} is not in the supplier registry "
                          f"({registry.path})")
        elif supplier not in owners:
            errors.append(f"{where}: {field}.suppliers: {supplier!r} owns none of the sources "
                          f"{list(sources)}")
    return errors
