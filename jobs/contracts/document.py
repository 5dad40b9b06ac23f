"""Parsing a contract document: ODCS v3 YAML with the CDE terms under ``customProperties``.

The checks here need nothing but the document, the region's settings and the supplier registry: a JSON
Schema for the ODCS envelope, a JSON Schema for the terms, then semantic checks (area inside the region,
resolution no finer than the global limit, k at or above the global minimum, epsilon and delta within the
caps, cron valid and at most daily, the owner of every source listed as a supplier in the registry, zones
well formed, a valid latency SLA). What the measures and the noise say (a metric has a release, the phantom
and budget checks) is privacy's (``jobs/privacy/feasibility.py``); callers pass those term checks in, so one
validation reports every error of a file together. Every error names the file and the field path.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jobs.common import settings
from jobs.contracts.files import read_named_json
from jobs.contracts.model import Bounds, Contract
from jobs.contracts.schedule import fires_more_than_daily, latency
from jobs.errors import ContractError, ReferenceDataError

SCHEMA_DIR = settings.REPO_ROOT / "contracts" / "schema"

#: a check of the terms by a layer above (``(terms, delta, where) -> errors``), e.g. the measures'
TermCheck = Callable[[dict, float, str], list[str]]


@cache
def schema(name: str) -> dict:
    """A JSON Schema of ``contracts/schema/`` (``contract.schema.json`` or ``terms.schema.json``)."""
    return json.loads((SCHEMA_DIR / name).read_text())


def _path_of(error: Any, prefix: str = "") -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in error.absolute_path]
    text = ".".join(parts).replace(".[", "[")
    return (prefix + ("." if prefix and text else "") + text) or prefix or "(top level)"


def _schema_errors(document: Any, schema_name: str, where: str, prefix: str = "") -> list[str]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema(schema_name))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    lines = []
    for error in errors:
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            lines += _unknown_names(error, prefix, where)  # one line per unknown name, with the closest known
        else:
            lines.append(f"{where}: {_path_of(error, prefix)}{_term_named(document, error)}: {error.message}")
    return lines


def _term_named(document: Any, error: Any) -> str:
    """`` (the 'epsilon' term)`` for an envelope error inside a ``customProperties`` item: authors know their
    terms by name, not by position."""
    path = list(error.absolute_path)
    if len(path) < 2 or path[0] != "customProperties" or not isinstance(document, dict):
        return ""
    items = document.get("customProperties")
    item = items[path[1]] if isinstance(items, list) and isinstance(path[1], int) and path[1] < len(items) else None
    name = item.get("property") if isinstance(item, dict) else None
    return f" (the {name!r} term)" if isinstance(name, str) else ""


def _unknown_names(error: Any, prefix: str, where: str) -> list[str]:
    """An unknown property named on its own line with the closest valid name (a typo is the usual cause)."""
    import difflib

    known = sorted(error.schema.get("properties", {}))
    path = _path_of(error, prefix)
    lines = []
    for name in sorted(set(error.instance) - set(known)):
        close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
        lines.append(f"{where}: {path}.{name}: not a known property{hint}".replace("(top level).", ""))
    return lines


def bound_properties() -> dict[str, int | None]:
    """The terms schema's contribution bounds (``x-cde-bound``) with their defaults (None: required)."""
    properties = schema("terms.schema.json")["properties"]
    return {name: spec.get("default") for name, spec in properties.items() if spec.get("x-cde-bound")}


def contract_bounds(terms: dict) -> Bounds:
    """The contribution bounds of a contract's terms: every bound property, else its default."""
    values = {name: terms.get(name, default) for name, default in bound_properties().items()}
    return Bounds.of({name: value for name, value in values.items() if value is not None})


def load_area(value: Any, base: Path, where: str) -> tuple[dict | None, int | None, list[str]]:
    """Resolve ``area``: inline GeoJSON (geometry, Feature or FeatureCollection) or a file path.

    Returns the geometry, the area's publicly known population (a Feature's ``properties.population``, or
    None when the area does not state it) and the errors.
    """
    field = "customProperties.area"
    if isinstance(value, str):
        try:
            value = read_named_json(value, base)  # inside the contracts folder only, a bounded regular file
        except ValueError as exc:
            return None, None, [f"{where}: {field}: {exc}"]
    if not isinstance(value, dict):
        return None, None, [f"{where}: {field}: must be a GeoJSON object or a file holding one, not "
                            f"{type(value).__name__}"]
    population = None
    if value.get("type") == "FeatureCollection":
        features = value.get("features") or []
        if len(features) != 1:
            return None, None, [f"{where}: {field}: a FeatureCollection must hold exactly one feature"]
        value = features[0] if isinstance(features[0], dict) else {}
    if value.get("type") == "Feature":
        population = (value.get("properties") or {}).get("population")
        if population is not None and (isinstance(population, bool) or not isinstance(population, int)
                                       or population < 1):
            return None, None, [f"{where}: {field}: properties.population: {population!r} is not a whole number "
                                "of people above 0"]
        value = value.get("geometry") or {}
        value = value if isinstance(value, dict) else {}
    if value.get("type") not in ("Polygon", "MultiPolygon"):
        return None, None, [f"{where}: {field}: must be a GeoJSON Polygon or MultiPolygon, "
                            f"not {value.get('type')!r}"]
    return value, population, []


def _semantic_errors(terms: dict, area: dict | None, where: str, term_checks: Sequence[TermCheck]) -> list[str]:
    from croniter import croniter
    from shapely.geometry import box, shape

    errors = []
    field = "customProperties"
    if terms["h3_resolution"] > settings.FINEST_H3_RESOLUTION:
        errors.append(f"{where}: {field}.h3_resolution: {terms['h3_resolution']} is finer than the global "
                      f"limit {settings.FINEST_H3_RESOLUTION}")
    if terms["k"] < settings.MIN_K:
        errors.append(f"{where}: {field}.k: {terms['k']} is below the global minimum {settings.MIN_K}")
    if terms.get("segments") and not settings.REGION.domestic_mcc:
        errors.append(f"{where}: {field}.segments: the region {settings.REGION.name} states no domestic_mcc "
                      "(regions/<name>/region.yaml), so tourists and their countries cannot be told apart")
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
    for check in term_checks:
        errors += check(terms, delta, where)
    if not croniter.is_valid(terms["schedule"]):
        errors.append(f"{where}: {field}.schedule: {terms['schedule']!r} is not a valid cron expression")
    elif fires_more_than_daily(terms["schedule"]):
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
        elif not (shape(settings.REGION.boundary) if settings.REGION.boundary else box(*settings.REGION_BBOX)).buffer(
                1e-9).contains(geometry):
            errors.append(f"{where}: {field}.area: lies (partly) outside the service region {settings.REGION.title} "
                          f"({'its boundary' if settings.REGION.boundary else 'bbox'} {settings.REGION_BBOX})")
    return errors


def _supplier_errors(terms: dict, where: str) -> list[str]:
    """The owner of every source, per the supplier registry, is a listed supplier (it must approve)."""
    # jobs.contracts.suppliers imports this module
    from jobs.contracts.suppliers import cached_registry, source_owner_errors

    try:
        registry = cached_registry(str(settings.supplier_registry_path()))
    except ReferenceDataError as exc:
        return [f"{where}: customProperties.suppliers: the supplier registry is unusable: {line}"
                for line in str(exc).splitlines()]
    return source_owner_errors(terms["sources"], terms["suppliers"], registry, where)


def parse_contract(document: Any, where: str, base: Path, sha256: str = "",
                   term_checks: Sequence[TermCheck] = ()) -> Contract:
    """Validate a parsed contract document (the checks of this module) and return it typed.

    Parameters
    ----------
    document : Any
        The YAML document.
    where : str
        File name used in error messages.
    base : Path
        Folder against which a relative ``area`` or ``zones`` file is resolved.
    sha256 : str
        Hash of the file the document was read from (approvals hold for that exact file).
    term_checks : sequence of callable
        Further checks of the terms, each ``(terms, delta, where) -> errors``, reported with this module's.

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
    area, population, area_errors = load_area(terms["area"], base, where)
    errors += area_errors
    errors += _semantic_errors(terms, area, where, term_checks)
    zones = None
    if "zones" in terms:
        from jobs.contracts.zones import load_zones  # jobs.contracts.zones imports this module

        zones, zone_load_errors = load_zones(terms["zones"], base, where)
        errors += zone_load_errors
    try:
        latency(document)
    except ValueError as exc:
        errors.append(f"{where}: {exc}")
    agreement_end = None
    if "agreement_end" in terms:
        try:
            agreement_end = dt.date.fromisoformat(terms["agreement_end"])
        except ValueError:
            errors.append(f"{where}: customProperties.agreement_end: {terms['agreement_end']!r} is not a date")
    if errors:
        raise ContractError(errors)
    return Contract(
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
        agreement_end=agreement_end, placement_check=terms.get("placement_check", "warn"),
    )


def new_contract_document(example: Contract, contract_id: str, buyer: str) -> dict:
    """A new contract's document from an example (or an offer's contract): new id, version 1.0.0, active, the
    product table renamed, the buyer set, ``derived_from`` and the example's buyer contact dropped (a new
    product is made from its own releases and names its own contact)."""
    import copy

    document = copy.deepcopy(example.document)
    document.update(id=contract_id, version="1.0.0", status="active")
    document["name"] = f"{example.name} for {buyer}"
    for table in document.get("schema") or []:
        if str(table.get("physicalName", "")).startswith("gold/"):
            table["physicalName"] = f"gold/{contract_id}"
    document["roles"] = [r for r in document.get("roles") or [] if r.get("role") != "buyer_contact"]
    terms = [i for i in document.get("customProperties") or [] if i.get("property") != "derived_from"]
    for item in terms:
        if item.get("property") == "buyer":
            item["value"] = buyer
    document["customProperties"] = terms
    return document
