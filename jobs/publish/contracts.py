"""Contracts: ODCS v3 YAML with the CDE terms under ``customProperties`` (DESIGN.md section 7).

A contract is validated before any run: a JSON Schema for the ODCS envelope, a JSON Schema for the terms,
then semantic checks (area inside the region, resolution no finer than the global limit, k at or above the
global minimum, epsilon and delta within the caps, cron valid and at most daily, the owner of every source
listed as a supplier in the supplier registry), and what the measures say (every metric has a release, allows the segments and reads the
sources asked for, has its delta; a sparse product stands alone). Every error names the file and the field
path. Contribution bounds become one ``Bounds`` object: every bound property a measure reads, else its
default.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from jobs.common import settings
from jobs.errors import ContractError
from jobs.privacy.measures.base import Bounds

SCHEMA_DIR = settings.REPO_ROOT / "contracts" / "schema"


@dataclasses.dataclass(frozen=True)
class Contract:
    """A validated contract: the ODCS envelope plus the CDE terms, typed."""

    id: str
    version: str
    status: str
    name: str
    path: str
    buyer: str
    purpose: str
    legal_basis: str
    suppliers: tuple[str, ...]
    sources: tuple[str, ...]
    area: dict
    h3_resolution: int
    time_bin: str
    metrics: tuple[str, ...]
    segments: tuple[str, ...]
    countries: tuple[str, ...]
    od_domain: str
    k: int
    epsilon: float
    delta: float
    mechanism: str
    budget_epsilon_per_period: float
    bounds: Bounds
    schedule: str
    formats: tuple[str, ...]
    channel: str
    retention_days: int
    document: dict = dataclasses.field(repr=False, compare=False)
    sha256: str = ""  # of the contract file's bytes: an approval holds for exactly this file
    area_population: int | None = None  # people living in the area, where public (the area's GeoJSON says)
    derived_from: str = ""  # id of the contract whose releases serve this one (jobs/publish/sharing.py)
    license: str = ""  # SPDX id (or LicenseRef-...) of the delivered data's licence; empty: the contract's own
    market_share: dict | None = None  # supplier's stated share of the area's people: population_estimate
    zones: tuple | None = None  # the buyer's zones, ((id, GeoJSON geometry), ...): the unit of delivery

    @property
    def bin_minutes(self) -> int:
        """Width of the contract's time bins in minutes."""
        return {"15min": 15, "1h": 60, "1d": 1440}[self.time_bin]


@cache
def _schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / name).read_text())


def _path_of(error: Any, prefix: str = "") -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in error.absolute_path]
    text = ".".join(parts).replace(".[", "[")
    return (prefix + ("." if prefix and text else "") + text) or prefix or "(top level)"


def _schema_errors(document: Any, schema_name: str, where: str, prefix: str = "") -> list[str]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(_schema(schema_name))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{where}: {_path_of(e, prefix)}: {e.message}" for e in errors]


def _load_area(value: Any, base: Path, where: str) -> tuple[dict | None, int | None, list[str]]:
    """Resolve ``area``: inline GeoJSON (geometry, Feature or FeatureCollection) or a file path.

    Returns the geometry, the area's publicly known population (a Feature's ``properties.population``, or
    None when the area does not state it) and the errors.
    """
    field = "customProperties.area"
    if isinstance(value, str):
        path = (base / value).resolve()
        if not path.exists():
            return None, None, [f"{where}: {field}: file {value} not found"]
        try:
            value = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            return None, None, [f"{where}: {field}: {value} is not JSON ({exc})"]
    population = None
    if value.get("type") == "FeatureCollection":
        features = value.get("features") or []
        if len(features) != 1:
            return None, None, [f"{where}: {field}: a FeatureCollection must hold exactly one feature"]
        value = features[0]
    if value.get("type") == "Feature":
        population = (value.get("properties") or {}).get("population")
        if population is not None and (isinstance(population, bool) or not isinstance(population, int)
                                       or population < 1):
            return None, None, [f"{where}: {field}: properties.population: {population!r} is not a whole number "
                                "of people above 0"]
        value = value.get("geometry") or {}
    if value.get("type") not in ("Polygon", "MultiPolygon"):
        return None, None, [f"{where}: {field}: must be a GeoJSON Polygon or MultiPolygon, "
                            f"not {value.get('type')!r}"]
    return value, population, []


@cache
def fire_times(cron: str, limit: int = 400) -> tuple:
    """Fire times of ``cron`` in a sample year (2026, naive local time), at most ``limit`` of them (cached:
    validation, planning and DAG parsing ask for the same crons many times)."""
    import datetime as dt

    from croniter import croniter

    fires = croniter(cron, dt.datetime(2026, 1, 1))
    times = [fires.get_next(dt.datetime) for _ in range(limit)]
    return tuple(t for t in times if t < dt.datetime(2027, 1, 1))


def _fires_more_than_daily(cron: str) -> bool:
    """True when two consecutive fire times of ``cron`` are less than a day apart."""
    import datetime as dt

    times = fire_times(cron)
    return any(b - a < dt.timedelta(days=1) for a, b in zip(times, times[1:], strict=False))


def _measure_errors(terms: dict, delta: float, where: str) -> list[str]:
    """What the contract's measures say: known metric, its segments, its sources, delta, one sparse product."""
    from jobs.ingest.feeds import FEEDS
    from jobs.privacy.measures import PARTITION_SELECTION, measures

    field, errors = "customProperties", []
    known = measures()
    for metric in terms["metrics"]:
        measure = known.get(metric)
        if measure is None:
            errors.append(f"{where}: {field}.metrics: {metric!r} has no release yet (releasable: "
                          f"{', '.join(sorted(known))})")
            continue
        wrong = [s for s in terms.get("segments") or () if s not in measure.segments]
        if wrong:
            errors.append(f"{where}: {field}.segments: {metric} cannot be split by {', '.join(wrong)} (possible: "
                          f"{', '.join(measure.segments) or 'none'})")
        unread = [s for s in terms["sources"] if s in FEEDS and not measure.reads_sources(FEEDS[s])]
        if unread:
            errors.append(f"{where}: {field}.sources: {metric} cannot use {', '.join(unread)} (it reads "
                          f"{measure.reads})")
        zero_filled = terms.get("od_domain") == "zero_fill"
        if zero_filled and measure.domain != PARTITION_SELECTION:
            errors.append(f"{where}: {field}.od_domain: {metric} is zero-filled already; od_domain is for sparse "
                          "(origin, destination) products")
        if measure.needs_delta and not delta and not zero_filled:
            errors.append(f"{where}: {field}.delta: {metric} uses DP partition selection, which needs a delta above 0")
        if measure.domain == PARTITION_SELECTION and len(terms["metrics"]) > 1:
            errors.append(f"{where}: {field}.metrics: {metric} is a product of its own ({', '.join(measure.places)}), "
                          "not combined with other metrics")
    unknown = [s for s in terms["sources"] if s not in FEEDS]
    if unknown:
        errors.append(f"{where}: {field}.sources: no feed {', '.join(unknown)} (known: {', '.join(FEEDS)})")
    segments = terms.get("segments") or ()
    if "country" in segments and not terms.get("countries"):
        # Zero-filling every ISO country releases mostly noise above k for countries nobody came from.
        errors.append(f"{where}: {field}.countries: a product by country needs the buyer's public list of "
                      "countries (every other home country is released as 'other'), e.g. [DE, SE, NO, GB, US]")
    if terms.get("countries") and "country" not in segments:
        errors.append(f"{where}: {field}.countries: set, but the product is not split by country")
    if terms.get("countries"):
        from jobs.privacy.measures.segments import segment_values

        iso = set(segment_values("country"))
        wrong = [c for c in terms["countries"] if c not in iso]
        if wrong:
            errors.append(f"{where}: {field}.countries: {', '.join(wrong)} not ISO 3166-1 alpha-2 code(s)")
    return errors


# A zero-filled pair domain holds cells^2 x bins keys a day: above this it is too big to draw noise for.
MAX_ZERO_FILL_KEYS = 250_000


def contract_bounds(terms: dict) -> Bounds:
    """The contribution bounds of a contract's terms: every bound property a measure reads, else its default."""
    from jobs.privacy.measures import bound_defaults

    values = {name: terms.get(name, default) for name, default in bound_defaults().items()}
    return Bounds.of({name: value for name, value in values.items() if value is not None})


def _semantic_errors(terms: dict, area: dict | None, where: str) -> list[str]:
    from croniter import croniter
    from shapely.geometry import box, shape

    errors = []
    field = "customProperties"
    if terms["h3_resolution"] > settings.FINEST_H3_RESOLUTION:
        errors.append(f"{where}: {field}.h3_resolution: {terms['h3_resolution']} is finer than the global "
                      f"limit {settings.FINEST_H3_RESOLUTION}")
    if terms["k"] < settings.MIN_K:
        errors.append(f"{where}: {field}.k: {terms['k']} is below the global minimum {settings.MIN_K}")
    if terms["epsilon"] > settings.GLOBAL_EPSILON_CAP:
        errors.append(f"{where}: {field}.epsilon: {terms['epsilon']} exceeds the global cap "
                      f"{settings.GLOBAL_EPSILON_CAP}")
    if terms["budget_epsilon_per_period"] < terms["epsilon"]:
        errors.append(f"{where}: {field}.budget_epsilon_per_period: {terms['budget_epsilon_per_period']} is "
                      f"less than one delivery's epsilon {terms['epsilon']}")
    if terms["budget_epsilon_per_period"] > settings.GLOBAL_EPSILON_CAP:
        errors.append(f"{where}: {field}.budget_epsilon_per_period: {terms['budget_epsilon_per_period']} "
                      f"exceeds the global cap {settings.GLOBAL_EPSILON_CAP}")
    delta = terms.get("delta", 0.0)
    if delta > settings.GLOBAL_DELTA_CAP:
        errors.append(f"{where}: {field}.delta: {delta} exceeds the global cap {settings.GLOBAL_DELTA_CAP}")
    if terms.get("mechanism") == "gaussian_discrete" and not delta:
        errors.append(f"{where}: {field}.delta: gaussian_discrete needs a delta above 0")
    errors += _measure_errors(terms, delta, where)
    if not croniter.is_valid(terms["schedule"]):
        errors.append(f"{where}: {field}.schedule: {terms['schedule']!r} is not a valid cron expression")
    elif _fires_more_than_daily(terms["schedule"]):
        errors.append(f"{where}: {field}.schedule: {terms['schedule']!r} fires more than once a day; a delivery "
                      "covers whole local days")
    errors += _supplier_errors(terms, where)
    share = terms.get("market_share")
    if share and share.get("range") and not share["range"][0] <= share["share"] <= share["range"][1]:
        errors.append(f"{where}: {field}.market_share.range: {share['range']} must be [low, high] around "
                      f"the share {share['share']}")
    if share and "camera_count" in terms["metrics"]:
        errors.append(f"{where}: {field}.market_share: camera counts are not a supplier's subscribers; "
                      "a market share cannot expand them")
    if area is not None:
        try:
            geometry = shape(area)
        except Exception as exc:  # shapely raises several types for malformed coordinates
            return [*errors, f"{where}: {field}.area: not a valid polygon ({exc})"]
        if not geometry.is_valid or geometry.is_empty:
            errors.append(f"{where}: {field}.area: the polygon is empty or self-intersecting")
        elif not box(*settings.REGION_BBOX).contains(geometry):
            errors.append(f"{where}: {field}.area: lies (partly) outside the service region "
                          f"{settings.REGION_BBOX}")
    return errors


def _supplier_errors(terms: dict, where: str) -> list[str]:
    """The owner of every source, per the supplier registry, is a listed supplier (it must approve)."""
    from jobs.errors import ReferenceDataError
    from jobs.publish.suppliers import source_owner_errors

    try:
        registry = _registry(str(settings.supplier_registry_path()))
    except ReferenceDataError as exc:
        return [f"{where}: customProperties.suppliers: the supplier registry is unusable: {line}"
                for line in str(exc).splitlines()]
    return source_owner_errors(terms["sources"], terms["suppliers"], registry, where)


def _registry(path: str):
    """The supplier registry, read again only when its file changes."""
    from jobs.publish.suppliers import load_registry

    try:
        stamp = Path(path).stat().st_mtime_ns
    except OSError:
        stamp = None
    return _registry_at(path, stamp) if stamp is not None else load_registry(Path(path))


@cache
def _registry_at(path: str, stamp: int):
    from jobs.publish.suppliers import load_registry

    return load_registry(Path(path))


def parse_contract(document: Any, where: str, base: Path, sha256: str = "") -> Contract:
    """Validate a parsed contract document and return it typed.

    Parameters
    ----------
    document : Any
        The YAML document.
    where : str
        File name used in error messages.
    base : Path
        Folder against which a relative ``area`` file is resolved.
    sha256 : str
        Hash of the file the document was read from (approvals hold for that exact file).

    Raises
    ------
    ContractError
        With one line per problem, each naming the field.
    """
    if not isinstance(document, dict):
        raise ContractError([f"{where}: (top level): a contract is a YAML mapping"])
    errors = _schema_errors(document, "contract.schema.json", where)
    if errors:
        raise ContractError(errors)
    terms: dict[str, Any] = {}
    for index, item in enumerate(document["customProperties"]):
        if item["property"] in terms:
            errors.append(f"{where}: customProperties[{index}]: property {item['property']!r} appears twice")
        terms[item["property"]] = item["value"]
    errors += _schema_errors(terms, "terms.schema.json", where, prefix="customProperties")
    if errors:
        raise ContractError(errors)
    area, population, area_errors = _load_area(terms["area"], base, where)
    errors += area_errors
    errors += _semantic_errors(terms, area, where)
    zones = None
    if "zones" in terms:
        from jobs.privacy.zones import load_zones

        zones, zone_load_errors = load_zones(terms["zones"], base, where)
        errors += zone_load_errors
    from jobs.publish.sla import latency  # here: sla imports this module

    try:
        latency(document)
    except ValueError as exc:
        errors.append(f"{where}: {exc}")
    if errors:
        raise ContractError(errors)
    contract = Contract(
        id=document["id"], version=document["version"], status=document["status"], name=document["name"],
        path=where, buyer=terms["buyer"], purpose=terms["purpose"], legal_basis=terms["legal_basis"],
        suppliers=tuple(terms["suppliers"]), sources=tuple(terms["sources"]), area=area,
        h3_resolution=terms["h3_resolution"], time_bin=terms["time_bin"], metrics=tuple(terms["metrics"]),
        segments=tuple(terms.get("segments") or ()), countries=tuple(terms.get("countries") or ()),
        od_domain=terms.get("od_domain", "partition_selection"),
        k=terms["k"], epsilon=float(terms["epsilon"]),
        delta=float(terms.get("delta", 0.0)), mechanism=terms.get("mechanism", "geometric"),
        budget_epsilon_per_period=float(terms["budget_epsilon_per_period"]),
        bounds=contract_bounds(terms), schedule=terms["schedule"],
        formats=tuple(terms["formats"]), channel=terms["channel"], retention_days=terms["retention_days"],
        document=document, sha256=sha256, area_population=population, derived_from=terms.get("derived_from", ""),
        license=terms.get("license", ""), market_share=terms.get("market_share"), zones=zones,
    )
    errors = _unapprovable_errors(contract, where)
    if errors:
        raise ContractError(errors)
    return contract


# Phantoms: keys with no contribution that noise alone lifts to k. Refused above this chance per key, or
# above this many expected phantom rows in one delivery (domain size x that chance).
MAX_PHANTOM_PROBABILITY = 0.01
MAX_PHANTOM_ROWS = 10.0


def _delivery_days(cron: str) -> int:
    """Local days one delivery covers: the gap between the schedule's first two fire times."""
    times = fire_times(cron, limit=3)
    return max(1, round((times[1] - times[0]).total_seconds() / 86_400)) if len(times) > 1 else 1


def _phantom_limit(domain: int) -> float:
    """The largest phantom chance per key allowed for a domain of this many keys."""
    return min(MAX_PHANTOM_PROBABILITY, MAX_PHANTOM_ROWS / domain)


def smallest_k(plan, domain: int) -> int:
    """The smallest k (people) whose phantom chance fits ``_phantom_limit(domain)`` at this plan's noise."""
    limit, high = _phantom_limit(domain), 1
    while plan.phantom_probability(high) > limit:
        high *= 2
    low = high // 2
    while high - low > 1:  # the chance falls as k grows: bisect
        middle = (low + high) // 2
        low, high = (low, middle) if plan.phantom_probability(middle) <= limit else (middle, high)
    return high


def _unapprovable_errors(contract: Contract, where: str) -> list[str]:
    """Settings a privacy officer should never approve: one delivery exhausting the budget, a year of the
    schedule that the budget cannot pay in some period, phantoms (an empty key released with a chance above
    ``MAX_PHANTOM_PROBABILITY``, or more than ``MAX_PHANTOM_ROWS`` expected in a delivery), a delivery's
    delta at or above 1 / (people living in the area) where the area states its population."""
    import datetime as dt

    from jobs.privacy.plan import plan_for
    from jobs.privacy.planning import contract_year

    field, errors = "customProperties", []
    per_delivery = contract.epsilon * len(contract.metrics)
    if per_delivery >= contract.budget_epsilon_per_period - 1e-12:
        errors.append(f"{where}: {field}.budget_epsilon_per_period: {contract.budget_epsilon_per_period:g} is spent "
                      f"whole by one delivery ({len(contract.metrics)} metric(s) x epsilon {contract.epsilon:g}); "
                      "a rerun that must draw noise again, or the next delivery, would be refused")
    else:
        year = contract_year(contract)
        if year["first_over"]:
            start, spent = year["first_over"]
            end = start + dt.timedelta(days=settings.ACCOUNTING_PERIOD_DAYS)
            errors.append(f"{where}: {field}.budget_epsilon_per_period: a year of the schedule "
                          f"{contract.schedule!r} puts epsilon {spent:.4g} into the window {start.isoformat()} to "
                          f"{end.isoformat()} (look-back included), above the budget "
                          f"{contract.budget_epsilon_per_period:g}: a budget of at least {year['max_epsilon_per_window']:.4g}, "
                          "a lower epsilon or a sparser schedule would pass")
    day = dt.date(2026, 3, 2)
    plans = [plan_for(contract, metric, day, day + dt.timedelta(days=_delivery_days(contract.schedule)))
             for metric in contract.metrics]
    delivery_delta = sum(plan.delta for plan in plans)
    if contract.area_population and delivery_delta >= 1.0 / contract.area_population:
        # delta is the chance that the guarantee fails outright; at 1/n it fails for about one person here.
        errors.append(f"{where}: {field}.delta: one delivery's delta {delivery_delta:.3g} is not below "
                      f"1 / {contract.area_population:,} people in the area ({1.0 / contract.area_population:.3g}): "
                      "about one resident could be exposed outright")
    if contract.zones:
        errors += _zone_errors(contract, plans, where)
    for plan in plans if not contract.derived_from else ():  # derived: checked on the parent's release
        if contract.zones and plan.measure.additive:  # delivered as zone sums: checked above
            continue
        domain = plan.domain_size()
        if domain is None:  # partition selection: keys come from the data, phantoms are bounded by delta
            continue
        if plan.domain_choice and domain > MAX_ZERO_FILL_KEYS * plan.days:
            errors.append(f"{where}: {field}.od_domain: zero-filling {domain:,} (origin, destination, bin) keys in a "
                          f"delivery is above {MAX_ZERO_FILL_KEYS:,} a day: coarsen h3_resolution or time_bin, or "
                          "use partition_selection")
            continue
        chance = plan.phantom_probability(contract.k)
        if chance > _phantom_limit(domain):
            errors.append(f"{where}: {field}.k: {plan.metric} at noise scale {plan.noise()['scale']:.3g} releases an "
                          f"empty key with chance {chance:.2%} ({chance * domain:,.1f} phantom rows expected in a "
                          f"delivery of {domain:,} keys; allowed {MAX_PHANTOM_PROBABILITY:.0%} and "
                          f"{MAX_PHANTOM_ROWS:g} rows): k {smallest_k(plan, domain)} would pass at this epsilon "
                          "(or raise epsilon, lower the bounds, or coarsen the cut)")
    return errors


def _zone_errors(contract: Contract, plans: list, where: str) -> list[str]:
    """Why a contract's zones cannot be delivered (``jobs/privacy/zones.py``): zones that are empty, overlap
    or leave the area; a derived contract or a partition-selection domain (a zone sum needs every cell's
    value); and zone sums whose summed noise reaches k by itself too often."""
    from jobs.privacy.domain import domain_cells
    from jobs.privacy.measures import PARTITION_SELECTION
    from jobs.privacy.zones import ZoneSum, zone_cells, zone_errors

    field = "customProperties.zones"
    errors = zone_errors(contract.zones, domain_cells(contract.area, contract.h3_resolution),
                         contract.h3_resolution, where)
    if contract.derived_from:
        errors.append(f"{where}: {field}: a derived contract cannot have zones yet: zones are served from the "
                      "contract's own releases")
    if errors:
        return errors
    cells = [(zone_id, tuple(c)) for zone_id, c in zone_cells(contract.zones, contract.h3_resolution)]
    for plan in plans:
        if not plan.measure.additive:
            continue  # a zone-level release: the per-release phantom check applies to its zone keys
        if plan.domain == PARTITION_SELECTION:
            errors.append(f"{where}: {field}: {plan.metric} over partition selection leaves unselected pairs "
                          "out, so a zone sum would undercount: use od_domain zero_fill with zones")
            continue
        zone_sum = ZoneSum(tuple(cells), len(plan.measure.places))
        figures = zone_sum.figures(plan, contract.k)
        chance, keys = figures["phantom_probability"], figures["domain_keys"]
        if not _zone_k_passes(zone_sum, plan, contract.k):
            errors.append(f"{where}: customProperties.k: {plan.metric} summed into zones (up to "
                          f"{figures['summed_release_values']['max']} cell values per zone key) reaches k "
                          f"{contract.k} by noise alone with chance up to {chance:.2%} "
                          f"({figures['expected_phantom_rows']:,.1f} phantom rows expected in a delivery of "
                          f"{keys:,} zone keys; allowed {MAX_PHANTOM_PROBABILITY:.0%} and {MAX_PHANTOM_ROWS:g} "
                          f"rows): k {_smallest_zone_k(zone_sum, plan, contract.k)} would pass, or use smaller "
                          "zones or a coarser h3_resolution")
    return errors


def _zone_k_passes(zone_sum, plan, k: int) -> bool:
    figures = zone_sum.figures(plan, k)
    return (figures["phantom_probability"] <= _phantom_limit(figures["domain_keys"])
            and figures["expected_phantom_rows"] <= MAX_PHANTOM_ROWS)


def _smallest_zone_k(zone_sum, plan, k: int) -> int:
    """The smallest k at which the zone sums pass the phantom limits (bisection; chances fall as k grows)."""
    low, high = k, max(k, 1) * 2
    while not _zone_k_passes(zone_sum, plan, high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if _zone_k_passes(zone_sum, plan, middle) else (middle, high)
    return high


def load_contract(path: Path) -> Contract:
    """Read and validate one contract YAML file."""
    import hashlib

    path = Path(path)
    try:
        raw = path.read_bytes()
        document = yaml.safe_load(raw.decode("utf-8"))
    except yaml.YAMLError as exc:
        raise ContractError([f"{path.name}: (file): not valid YAML ({exc})"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError([f"{path.name}: (file): cannot be read as UTF-8 text ({exc})"]) from exc
    contract = parse_contract(document, path.name, path.parent, sha256=hashlib.sha256(raw).hexdigest())
    if contract.derived_from:  # served by another contract's releases: check it against that contract
        from jobs.publish.sharing import derivation_errors

        parent = _parent_in(path.parent, contract.derived_from) if contract.derived_from != contract.id else None
        errors = derivation_errors(contract, parent, path.name)
        if errors:
            raise ContractError(errors)
    return contract


def _version_key(contract: Contract) -> tuple[int, ...]:
    return tuple(int(x) for x in contract.version.split("."))


def load_contracts(folder: Path | None = None) -> tuple[dict[str, Contract], dict[str, list[str]]]:
    """Validate every contract file of the folder.

    Returns
    -------
    tuple
        The newest valid version of each contract id, and the errors of each invalid file (by file name).
        An invalid file never hides the valid ones: a broken new version leaves the last valid (and
        approved) version in force, and the invalid file is reported.
    """
    valid: dict[str, Contract] = {}
    invalid: dict[str, list[str]] = {}
    for path in contract_files(folder):
        try:
            contract = load_contract(path)
        except ContractError as exc:
            invalid[path.name] = exc.errors
            continue
        if contract.id not in valid or _version_key(contract) > _version_key(valid[contract.id]):
            valid[contract.id] = contract
    return valid, invalid


def _parent_in(folder: Path, parent_id: str) -> Contract | None:
    """The newest valid version of a (not derived) contract in ``folder``, or None."""
    found = None
    for path in contract_files(folder):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            continue
        if not isinstance(document, dict) or document.get("id") != parent_id:
            continue
        terms = document.get("customProperties") or []
        if any(isinstance(t, dict) and t.get("property") == "derived_from" for t in terms):
            return None  # derived itself: no chains (and no loops between two derived contracts)
        try:
            contract = load_contract(path)
        except ContractError:
            continue
        if found is None or _version_key(contract) > _version_key(found):
            found = contract
    return found


def contract_files(folder: Path | None = None) -> list[Path]:
    """Return the contract YAML files of the contracts folder."""
    folder = folder or settings.contracts_dir()
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def find_contract(contract_id: str, folder: Path | None = None) -> Contract:
    """Return the newest valid version of the contract with this id (invalid files are skipped)."""
    valid, invalid = load_contracts(folder)
    if contract_id in valid:
        return valid[contract_id]
    errors = [line for lines in invalid.values() for line in lines]
    raise ContractError([f"no valid contract {contract_id!r} in {folder or settings.contracts_dir()}",
                         *(f"  {e}" for e in errors)])
