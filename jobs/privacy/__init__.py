"""Privacy: contribution bounds, public domains, discrete noise, k-thresholds, the budget ledger and the
checks that say whether a contract's product can be released.

This module is the package's face: other packages import what they need from ``jobs.privacy`` and never
from its modules (the layer test, ``tests/test_layers.py``, holds that). Names load lazily through a module
``__getattr__``, so importing the face loads neither Spark nor diffprivlib nor pandas: a DAG file that
validates contracts stays light at parse time. The map of the modules behind it is docs/architecture.md.
"""

from __future__ import annotations

import importlib
from typing import Any

# exported name -> (module under jobs.privacy, name in that module). No exported name is a module's name: once a
# module is imported, Python sets the package attribute of that name to the module itself.
_EXPORTS: dict[str, tuple[str, str]] = {
    # contract checks (jobs/privacy/feasibility.py)
    "measure_errors": ("feasibility", "measure_errors"),
    "feasibility_errors": ("feasibility", "feasibility_errors"),
    "smallest_k": ("feasibility", "smallest_k"),
    "phantom_limit": ("feasibility", "phantom_limit"),
    "window_shapes": ("feasibility", "window_shapes"),
    "MAX_PHANTOM_PROBABILITY": ("feasibility", "MAX_PHANTOM_PROBABILITY"),
    "MAX_PHANTOM_ROWS": ("feasibility", "MAX_PHANTOM_ROWS"),
    # measures and plans
    "get_measure": ("measures", "get_measure"),
    "all_measures": ("measures", "measures"),
    "PARTITION_SELECTION": ("measures", "PARTITION_SELECTION"),
    "ZERO_FILL": ("measures", "ZERO_FILL"),
    "OTHER_COUNTRY": ("measures.segments", "OTHER_COUNTRY"),
    "ReleasePlan": ("plan", "ReleasePlan"),
    "plan_for": ("plan", "plan_for"),
    # public domains
    "domain_cells": ("domain", "domain_cells"),
    "domain_bins": ("domain", "domain_bins"),
    # releases
    "make_release": ("release", "make_release"),
    "read_release": ("release", "read_release"),
    # release-conditional intervals (jobs/privacy/intervals.py)
    "interval_columns": ("intervals", "interval_columns"),
    "interval_text": ("intervals", "interval_text"),
    "release_threshold": ("intervals", "release_threshold"),
    # composition (jobs/privacy/composition.py)
    "PrivacyCost": ("composition", "Cost"),
    "composed": ("composition", "composed"),
    "verified_draw": ("release", "verified_draw"),
    "verify_draws": ("release", "verify_draws"),
    "require_history": ("release", "require_history"),
    "domain_cut": ("release", "domain_cut"),
    "apply_k_threshold": ("threshold", "apply_k_threshold"),
    "post_process_release": ("postprocess", "post_process_release"),
    "derive_from_release": ("derive", "derive_from_release"),
    "sum_noise_scale": ("noise", "sum_noise_scale"),
    "sum_noise_tail": ("noise", "sum_noise_tail"),
    # zone sums (the zones' geometry is jobs.contracts)
    "ZoneSum": ("zones", "ZoneSum"),
    "zones_from_release": ("zones", "zones_from_release"),
    # advice
    "advise_contract": ("advise", "advise"),
    "format_advice": ("advise", "format_advice"),
    "dropped_share_estimate": ("advise", "dropped_share_estimate"),
    # planning a year of deliveries
    "budget_plan": ("planning", "budget_plan"),
    "plan_lines": ("planning", "plan_lines"),
    "contract_year": ("planning", "contract_year"),
    "global_year": ("planning", "global_year"),
    "global_cap_errors": ("planning", "global_cap_errors"),
    # the ledger (store) and its accounting rules
    "Spend": ("accounting", "Spend"),
    "CONTRACT_KINDS": ("accounting", "CONTRACT_KINDS"),
    "unit_classes": ("accounting", "unit_classes"),
    "in_class": ("accounting", "in_class"),
    "spent_in": ("accounting", "spent_in"),
    "find_use": ("accounting", "find_use"),
    "ledger_entries": ("ledger", "read_entries"),
    "ledger_summary": ("ledger", "summary"),
    "ledger_head": ("ledger", "head"),
    "verify_ledger": ("ledger", "verify_ledger"),
    "record_spend": ("ledger", "record_spend"),
    "record_use": ("ledger", "record_use"),
    "precheck_spend": ("ledger", "precheck"),
    # the lake's identifier scan
    "scan_lake": ("identifier_scan", "scan_lake"),
    "landing_identifiers": ("identifier_scan", "landing_identifiers"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"jobs.privacy exports no {name!r} (see jobs/privacy/__init__.py)")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
