"""Contracts: what a buyer agreed to, typed and checked, below privacy and everything that makes a product.

The face of the package (other packages import from here, not from its modules):

- ``model``: ``Contract`` and ``Bounds``;
- ``document``: parsing and the document's own checks (schemas, region, caps, cron, suppliers, zones);
- ``schedule``: fire times, the local days a delivery covers, the latency SLA;
- ``zones``: the buyer's zones as H3 cells;
- ``suppliers``: the supplier registry;
- ``endings``: which contracts have ended;
- ``files``: the contract files of a folder.

Privacy's feasibility checks (measures, k and phantoms, affordability) are ``jobs/privacy/feasibility.py``;
loading the portfolio of live contracts (with those checks, derivations and approvals) is
``jobs/publish/portfolio.py``. See docs/architecture.md.
"""

from __future__ import annotations

from jobs.contracts.document import (
    SCHEMA_DIR,
    bound_properties,
    contract_bounds,
    new_contract_document,
    parse_contract,
    schema,
)
from jobs.contracts.endings import agreement_over, ended_contracts, endings_path, is_ended
from jobs.contracts.files import contract_files, declares_derived, field_lines, read_contract_file, with_lines
from jobs.contracts.model import LEGAL_BASES, Bounds, Contract, legal_basis_words, version_key
from jobs.contracts.schedule import (
    delivery_days,
    delivery_windows,
    fire_times,
    fires_more_than_daily,
    latency,
    makes_window,
    plan_start,
)
from jobs.contracts.suppliers import (
    Supplier,
    SupplierRegistry,
    SupplierRules,
    load_registry,
    parse_registry,
    rule_breaches,
    source_owner_errors,
)
from jobs.contracts.zones import load_zones, parse_zones_text, zone_cells, zone_centres, zone_errors, zones_text
from jobs.errors import ContractError

__all__ = [
    "Bounds", "Contract", "ContractError", "SCHEMA_DIR", "Supplier", "SupplierRegistry", "SupplierRules",
    "LEGAL_BASES", "agreement_over", "bound_properties",
    "contract_bounds", "contract_files", "declares_derived", "delivery_days", "delivery_windows",
    "ended_contracts", "endings_path", "field_lines", "fire_times", "fires_more_than_daily", "is_ended", "latency",
    "legal_basis_words", "new_contract_document",
    "load_registry", "load_zones", "makes_window", "parse_contract", "parse_registry", "parse_zones_text",
    "plan_start",
    "read_contract_file", "rule_breaches", "schema", "source_owner_errors", "version_key", "with_lines",
    "zone_cells", "zone_centres", "zone_errors", "zones_text",
]
