"""The supplier registry (``reference/suppliers.yaml``): which supplier owns each source feed, and who may
approve contracts on that supplier's behalf.

A contract reads sources; the owner of every one of them must be listed in its ``suppliers`` and must
approve it (``jobs/publish/approvals.py``). A supplier's ``rules`` say what it never sells (buyers, sectors,
purposes, a longer term, more epsilon per 30 days to one buyer); a request breaking one is refused before
any officer sees it. Approvers come only from this registry, so a contract cannot name
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
class SupplierRules:
    """What a supplier never sells, whoever asks: buyers and buyer sectors it refuses, purposes it refuses
    (a purpose naming one of these words or phrases, in any case), the longest term and the most epsilon per
    30 days it grants one buyer (None: no such limit)."""

    never_sell_to_buyers: tuple[str, ...] = ()
    never_sell_to_sectors: tuple[str, ...] = ()
    refused_purposes: tuple[str, ...] = ()
    max_term_days: int | None = None
    max_epsilon_per_30_days: float | None = None


@dataclasses.dataclass(frozen=True)
class Supplier:
    """One supplier: its id, display name, the sources it owns, its approvers (name and e-mail) and its rules."""

    id: str
    name: str
    sources: tuple[str, ...]
    approvers: tuple[dict, ...]
    rules: SupplierRules = SupplierRules()
    contact: dict | None = None  # the controller's contact (name, email, address): the Art. 30 record's
    dpo: dict | None = None  # the data protection officer (name, email): the Art. 30 record's
    # per source: the IANA zone its timestamps without an offset are in (feed settings; UTC when not stated)
    timestamps_without_offset: tuple[tuple[str, str], ...] = ()

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

    def naive_time_zone(self, source: str) -> str:
        """The zone a source's timestamps without an offset are read in: its owner's setting, else UTC."""
        owner = self.owner_of(source)
        return dict(owner.timestamps_without_offset).get(source, "UTC") if owner else "UTC"


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
    for field in ("contact", "dpo"):
        person = entry.get(field)
        if person is not None and (not isinstance(person, dict) or not person.get("name")
                                   or "@" not in str(person.get("email", ""))):
            errors.append(f"{at}.{field}: a name and an email (optional: address)")
    return errors + _rules_errors(entry.get("rules"), f"{at}.rules") + _zone_errors(entry, at)


def _zone_errors(entry: dict, at: str) -> list[str]:
    zones = entry.get("timestamps_without_offset")
    if zones is None:
        return []
    if not isinstance(zones, dict):
        return [f"{at}.timestamps_without_offset: a mapping of source to IANA time zone (such as mno: UTC)"]
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    errors = []
    for source, zone in zones.items():
        if source not in (entry.get("sources") or []):
            errors.append(f"{at}.timestamps_without_offset.{source}: not one of this supplier's sources")
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            errors.append(f"{at}.timestamps_without_offset.{source}: {zone!r} is not an IANA time zone")
    return errors


_RULE_LISTS = ("never_sell_to_buyers", "never_sell_to_sectors", "refused_purposes")


def _rules_errors(rules, at: str) -> list[str]:
    if rules is None:
        return []
    if not isinstance(rules, dict):
        return [f"{at}: a mapping of {', '.join(_RULE_LISTS)}, max_term_days, max_epsilon_per_30_days"]
    errors = [f"{at}.{name}: not a rule (known: {', '.join(_RULE_LISTS)}, max_term_days, max_epsilon_per_30_days)"
              for name in rules if name not in (*_RULE_LISTS, "max_term_days", "max_epsilon_per_30_days")]
    for name in _RULE_LISTS:
        value = rules.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            errors.append(f"{at}.{name}: a list of non-empty texts")
    term = rules.get("max_term_days")
    if term is not None and (isinstance(term, bool) or not isinstance(term, int) or term < 1):
        errors.append(f"{at}.max_term_days: a whole number of days, at least 1")
    epsilon = rules.get("max_epsilon_per_30_days")
    if epsilon is not None and (isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or epsilon <= 0):
        errors.append(f"{at}.max_epsilon_per_30_days: a number above 0")
    return errors


def _rules(entry: dict) -> SupplierRules:
    rules = entry.get("rules") or {}
    return SupplierRules(*(tuple(v.strip() for v in rules.get(name, [])) for name in _RULE_LISTS),
                         rules.get("max_term_days"), rules.get("max_epsilon_per_30_days"))


def rule_breaches(supplier: Supplier, buyer: str, sector: str | None, purpose: str, term_days: int,
                  epsilon_per_30_days: float) -> list[str]:
    """The rules of a supplier that a request breaks, each naming the rule and the supplier.

    Parameters
    ----------
    supplier : Supplier
        Whose data the request reads.
    buyer, sector : str
        The requesting buyer's id and its sector in the buyer registry (None when it states none).
    purpose : str
        The purpose as the request states it.
    term_days : int
        Days from the request to the agreement's end.
    epsilon_per_30_days : float
        The most epsilon this buyer's approved contracts reading this supplier, with the request, put into
        any 30-day window (look-back included).
    """
    rules, at = supplier.rules, f"supplier {supplier.id} ({supplier.name})"
    found = []
    if buyer in rules.never_sell_to_buyers:
        found.append(f"{at} never sells to {buyer} (rule never_sell_to_buyers)")
    if sector and sector.casefold() in {s.casefold() for s in rules.never_sell_to_sectors}:
        found.append(f"{at} never sells to the sector {sector!r} (rule never_sell_to_sectors)")
    for phrase in rules.refused_purposes:
        if phrase.casefold() in purpose.casefold():
            found.append(f"{at} refuses purposes of {phrase!r} (rule refused_purposes)")
    if rules.max_term_days is not None and term_days > rules.max_term_days:
        found.append(f"{at} grants a term of at most {rules.max_term_days} days, not {term_days} "
                     "(rule max_term_days)")
    if rules.max_epsilon_per_30_days is not None and epsilon_per_30_days > rules.max_epsilon_per_30_days + 1e-12:
        found.append(f"{at} grants one buyer at most epsilon {rules.max_epsilon_per_30_days:g} per 30 days, and "
                     f"this buyer's contracts with this request would take {epsilon_per_30_days:.4g} "
                     "(rule max_epsilon_per_30_days)")
    return found


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
                                          tuple(dict(a) for a in entry["approvers"]), _rules(entry),
                                          entry.get("contact"), entry.get("dpo"),
                                          tuple((entry.get("timestamps_without_offset") or {}).items()))
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
