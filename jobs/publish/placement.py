"""Where a delivery's people are placed, and whether the network can place them that finely (issue 35).

Every delivery states how each of its sources places a record in H3 (``FeedSpec.placement``). For a source
with cells (telco, mno) whose footprints were computed (``cde footprints``, ``ops/footprint_sizes``), it also
states how large the median footprint is at the product's resolution; when it spreads over more than
``MAX_MEDIAN_CELLS`` cells, the product's cells are much smaller than what the network can tell apart, so its
values follow the placement rule more than where people were. The contract's ``placement_check`` says what
then happens: ``warn`` (the README and the audit say so, naming the resolution the network supports) or
``refuse`` (the delivery is refused before any privacy spend).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from jobs.common import tables
from jobs.contracts import Contract
from jobs.errors import ReleaseRefused
from jobs.ingest import FEEDS
from jobs.ingest.footprints import MAX_MEDIAN_CELLS
from jobs.privacy import get_measure

#: How far each placement puts people from where they were: the median relative error per cell and hour of the
#: people present at the hour's start (and, for the centroid, of the distinct people seen in the hour, as
#: ``unique_people`` counts them), over the inner city's cells and hours holding at least 500 true people,
#: against the simulator's positions (bench/present_population.py --unique on the simulated signal network,
#: 500,000 people; bench/RESULTS.md), by product resolution and method. Real networks are not measured.
MEASURED_ERROR = {9: {"centroid": 0.397, "footprint": 0.115, "centroid_distinct": 0.551},
                  8: {"centroid": 0.112, "footprint": 0.142}}
MEASURED_BY = ("bench/present_population.py: 500,000 simulated people on the simulated signal network, "
               "inner-city cells and hours of at least 500 people, against where the simulator put them")
_METHOD_WORDS = {"centroid": "people at each hour's start placed at the serving cell's wedge centroid",
                 "footprint": "people at each hour's start spread over the serving cell's footprint"}


def measured_error(contract: Contract) -> str | None:
    """The measured placement error at the contract's resolution, in words (None: no source has cells)."""
    if not any(FEEDS[source].instants is not None for source in contract.sources):
        return None
    methods = sorted({"footprint" if get_measure(m).placement else "centroid" for m in contract.metrics})
    figures = MEASURED_ERROR.get(contract.h3_resolution)
    if figures is None:
        return (f"the placement error is not measured at resolution {contract.h3_resolution} (measured at "
                f"{' and '.join(str(r) for r in sorted(MEASURED_ERROR))}; {MEASURED_BY})")
    said = []
    for method in methods:
        text = f"{_METHOD_WORDS[method]}: median error {figures[method]:.0%} per cell and hour"
        if f"{method}_distinct" in figures:
            text += (f" (distinct people seen in the hour, as unique_people counts them: "
                     f"{figures[method + '_distinct']:.0%})")
        said.append(text)
    return f"measured at resolution {contract.h3_resolution}, {'; '.join(said)} ({MEASURED_BY})"


def placement_statement(contract: Contract, window_start: dt.date) -> dict[str, Any]:
    """What a delivery says about placement: method per source, footprint sizes, and a warning (or None).

    Returns
    -------
    dict
        ``method`` ({source: words}), ``footprints`` ({source: sizes at the contract's resolution}),
        ``warning`` (text or None), ``check`` (the contract's ``placement_check``) and ``measured`` (the
        measured placement error at the contract's resolution, in words, or None).
    """
    spread = [(metric, get_measure(metric).placement) for metric in contract.metrics]
    method = {source: "; ".join([FEEDS[source].placement] * any(not text for _, text in spread)
                                + [f"{metric}: {text}" for metric, text in spread if text])
              for source in contract.sources}
    footprints = {source: size for source in contract.sources
                  if (size := tables.footprint_size(source, window_start, contract.h3_resolution))}
    coarse = {source: size for source, size in footprints.items() if size["median_cells"] > MAX_MEDIAN_CELLS}
    warning = None
    if coarse:
        warning = " ".join(
            f"At H3 resolution {contract.h3_resolution} the {source} network's cell footprints, as the pipeline "
            f"estimates them from its topology of {size['valid_date']}, spread 90% of their weight over a median "
            f"{size['median_cells']:g} cells, more than {MAX_MEDIAN_CELLS:g}: by that estimate the network "
            f"supports about resolution {size['supported_resolution']}."
            for source, size in sorted(coarse.items())) + (
            " Each person is spread over a footprint larger than a cell: single cells are smoothed estimates "
            "(the measured error above), sums over several cells are truer." if all(text for _, text in spread) else
            " Values per cell at this resolution follow the placement rule above more than where people were; "
            "sums over several cells are truer than single cells.")
    return {"method": method, "footprints": footprints, "warning": warning, "check": contract.placement_check,
            "measured": measured_error(contract)}


def check_placement(contract: Contract, window_start: dt.date) -> dict[str, Any]:
    """The placement statement, refused when the contract says ``refuse`` and the network is too coarse.

    Raises
    ------
    ReleaseRefused
        ``placement_check: refuse`` and a source's footprints much larger than the product's cells (before any
        privacy spend: the message names the resolution the network supports).
    """
    statement = placement_statement(contract, window_start)
    if statement["warning"] and contract.placement_check == "refuse":
        raise ReleaseRefused(f"{contract.id}: placement_check is refuse and the network cannot place people at "
                             f"this resolution. {statement['warning']} Nothing was spent; coarsen h3_resolution "
                             "or set placement_check: warn.")
    return statement


def placement_lines(statement: dict[str, Any]) -> list[str]:
    """The README's "Where people are placed" paragraph lines."""
    lines = [f"- {source}: {text}" for source, text in statement["method"].items()]
    for source, size in sorted(statement["footprints"].items()):
        lines.append(f"- {source} network (topology of {size['valid_date']}, footprints as the pipeline estimates "
                     f"them): the median footprint holds 90% of its weight in {size['median_cells']:g} cells of "
                     f"resolution {size['resolution']}; the network supports about resolution "
                     f"{size['supported_resolution']}")
    if statement.get("measured"):  # manifests made before the measured error was stated have none
        lines.append(f"- Placement error: {statement['measured']}")
    if statement["warning"]:
        lines += ["", f"WARNING: {statement['warning']}"]
    return lines
