"""Buyer products and outbox deliveries, built from stored releases only.

A delivery is one contract version over one window of local dates. Its id is deterministic from the
contract id, version and window, so a rerun rewrites the same delivery (and reuses the stored release,
spending nothing), while a new contract version makes a new delivery beside the old one.

Outbox layout (docs/architecture.md, fixed interfaces)::

    lake/outbox/<buyer>/<contract_id>/<delivery_id>/
        data.parquet  data.csv  data_excel.csv  data.geojson  data.geoparquet  (as the contract asks)
        manifest.json  datapackage.json  README.md        (jobs/publish/package.py)

A delivery is written in ``lake/outbox/.staging/``, outside every buyer's folder, verified against its
manifest, audited, and only then appears in the buyer's folder by one atomic rename (a redelivery swaps the
old folder for the new one atomically). Nothing is spent before the tables and folders it writes are
checked (``jobs/common/storage.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from jobs.common import faults, lake, paths, settings, tables
from jobs.common.columns import arrow_schema, product_columns
from jobs.common.h3cells import int_to_cell
from jobs.common.locks import exclusive
from jobs.common.storage import local_staging, preflight, replace_folder, restrict
from jobs.common.timebins import local_iso
from jobs.contracts import zone_cells
from jobs.errors import StorageFault
from jobs.privacy import (
    ReleasePlan,
    ZoneSum,
    apply_k_threshold,
    derive_from_release,
    dropped_share_estimate,
    find_use,
    get_measure,
    interval_columns,
    interval_text,
    ledger_entries,
    ledger_head,
    make_release,
    post_process_release,
    precheck_spend,
    read_release,
    record_use,
    release_threshold,
    zones_from_release,
)
from jobs.publish.audit import audit_attempt, publish_audit, write_audit
from jobs.publish.delivery import Delivery, compile_delivery
from jobs.publish.formats import Product
from jobs.publish.formats import write_files as write_format_files
from jobs.publish.notify import notify_delivery
from jobs.publish.package import contents, data_rows, sha256_of, write_package
from jobs.publish.placement import check_placement
from jobs.publish.shared_releases import derived_cut, use_of

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jobs.contracts import Contract

log = logging.getLogger(__name__)

def build_product(release: pa.Table | pd.DataFrame, k: int, delivery: str, segments: tuple[str, ...] = (),
                  places: tuple[str, ...] = ("h3_cell",), ci95: int | None = None,
                  plan: ReleasePlan | None = None, zone_ids: tuple[str, ...] | None = None,
                  noise_of: ReleasePlan | None = None, terms: int = 1) -> pd.DataFrame:
    """Turn a stored release into the buyer's long table: hex cells, local bins, k-threshold applied.

    Parameters
    ----------
    release : pyarrow.Table or pandas.DataFrame
        Rows read back from ``gold/releases`` (noisy values only), or summed from them (``derive_from_release``,
        ``zones.sum_into_zones``). A ``ci95_half_width`` column, when present, gives each row its own interval
        (zone sums of different sizes) and takes the place of ``ci95``.
    k : int
        The threshold in the release's units (``ReleasePlan.k_threshold``), applied to the noisy values.
    delivery : str
        Delivery id written on every row.
    segments : tuple of str
        Segment columns of the product (``segment``, ``country``, ``mode``).
    places : tuple of str
        The measure's place columns (``h3_cell``, or ``origin_h3`` and ``destination_h3``).
    ci95 : int, optional
        Half-width of the 95% interval of each value (the noise's, or the summed noise's for a derived
        product): the true bounded count lies in ``value +/- ci95`` for 95% of keys. Null where suppressed.
    plan : ReleasePlan, optional
        The stored release's plan: ``estimate`` and ``estimate_ci95_half_width`` are then filled
        (``post_process_release``); without it, or where it does not apply, they are null.
    zone_ids : tuple of str, optional
        The contract's zone ids in zone-index order: the place columns then hold zone indices and are
        delivered as ``zone`` (``origin_zone``, ``destination_zone``) with the zone ids.
    noise_of : ReleasePlan, optional
        The plan whose noise the values carry: ``ci95_low`` and ``ci95_high`` (the release-conditional
        interval, ``jobs/privacy/intervals.py``) are then filled for released rows, else null.
    terms : int
        Release values summed into each value (a derived cut); zone sums carry ``noise_terms`` per row.

    Returns
    -------
    pandas.DataFrame
        ``delivery_id`` and the ``product_columns``, sorted by bin and place; ``attrs["post_processing"]`` says
        how the ``estimate`` column was made, or why it is null (None without ``plan``).
    """
    frame = release.to_pandas() if isinstance(release, pa.Table) else release
    note = None
    if plan is not None:  # estimates from the noisy values of the whole domain, before any is suppressed
        frame, note = post_process_release(frame, plan)
    product = apply_k_threshold(frame, k)
    widths = (product["ci95_half_width"].tolist() if "ci95_half_width" in product
              else [ci95] * len(product))
    product["ci95_half_width"] = pd.array(
        [None if hidden or width is None else width
         for hidden, width in zip(product["suppressed"], widths, strict=True)],
        dtype="Int64")
    if noise_of is not None:  # conditional on release: true near k, where value +/- ci95_half_width is not
        product["ci95_low"], product["ci95_high"] = interval_columns(product, noise_of, k, terms)
    for column in ("ci95_low", "ci95_high"):
        if column not in product:
            product[column] = pd.array([None] * len(product), dtype="Int64")
    for column in ("estimate", "estimate_ci95_half_width"):
        product[column] = (product[column].astype("Int64").mask(product["suppressed"]) if column in product
                           else pd.array([None] * len(product), dtype="Int64"))
    od = len(places) == 2
    columns = product_columns(od, segments, zones=zone_ids is not None)
    name = (lambda i: zone_ids[int(i)]) if zone_ids is not None else int_to_cell
    for column, source in zip(columns[: 2 if od else 1], ("h3_cell", "destination_h3")[: 2 if od else 1],
                              strict=True):
        product[column] = [name(c) for c in product[source]]
    product = product.sort_values(["bin_start", *columns[: 2 if od else 1], *segments]).reset_index(drop=True)
    product["bin_start"] = [local_iso(ts.to_pydatetime()) for ts in product["bin_start"]]
    product.insert(0, "delivery_id", delivery)
    product = product[["delivery_id", *columns]]
    product.attrs["post_processing"] = note
    return product


def add_population_estimate(product: pd.DataFrame, market_share: dict[str, Any],
                            units_per_person: pd.Series | None = None) -> pd.DataFrame:
    """Add the population estimate columns: each released figure divided by the supplier's market share.

    The figure divided is the post-processed ``estimate`` where the release has one, else the noisy
    ``value`` (derived products, releases too small to fit, partition selection). Dividing the noisy value
    would carry the winner's curse into the estimate: a key is released because its noisy value reached k,
    so at a small population almost every released value is mostly noise lifted above k (measured with
    ``cde evaluate``: 1,500 people, median exact count 3, raw-value population estimates in the hundreds).
    The posterior mean removes that bias. ``population_estimate = basis / share`` with the 95% interval
    ``(basis - half) / high`` to ``(basis + half) / low``, where ``half`` is the basis's own 95% half-width
    and ``low``, ``high`` the stated range of the share (the share itself when no range is given).
    Pure post-processing of released figures: null wherever ``value`` is suppressed, so no estimate says
    anything about a value below k; null too where the interval is wider than the estimate itself (it would
    look informative and is not: every interval reaching 0 is one).

    Parameters
    ----------
    product : pandas.DataFrame
        A built product (``value``, ``ci95_half_width``, ``estimate``, ``estimate_ci95_half_width``,
        ``suppressed``).
    market_share : dict
        The contract's ``market_share`` term: ``share`` in (0, 1], ``source``, optional ``range`` [low, high].
    units_per_person : pandas.Series, optional
        Per row, the value units one person is (100 for values in hundredths of a person); 1 when not given.

    Returns
    -------
    pandas.DataFrame
        A copy with ``population_estimate``, ``population_ci95_low`` and ``population_ci95_high``.
    """
    share = float(market_share["share"])
    low, high = (float(x) for x in market_share.get("range") or (share, share))
    has_estimate = product["estimate"].notna() if "estimate" in product else pd.Series(False, index=product.index)
    basis = product["value"].astype("Float64")
    half = product["ci95_half_width"].astype("Float64")
    if has_estimate.any():
        basis = basis.mask(has_estimate, product["estimate"].astype("Float64"))
        half = half.mask(has_estimate, product["estimate_ci95_half_width"].astype("Float64"))
    basis = basis.mask(product["suppressed"])
    half = half.fillna(0)
    if units_per_person is not None:  # the estimate counts people, whatever unit the values are in
        basis, half = basis / units_per_person, half / units_per_person
    out = product.copy()
    estimate = (basis / share).round()
    ci_low = ((basis - half).clip(lower=0) / high).round()
    ci_high = ((basis + half) / low).round()
    # an interval wider than the estimate itself (every one reaching 0 is) says nothing a buyer can use:
    # the estimate is withheld there, and the README says how many and why
    withheld = ((ci_high - ci_low) > estimate).fillna(False)
    out["population_estimate"] = estimate.mask(withheld).astype("Int64")
    out["population_ci95_low"] = ci_low.mask(withheld).astype("Int64")
    out["population_ci95_high"] = ci_high.mask(withheld).astype("Int64")
    return out


def write_files(product: pd.DataFrame, folder: Path, formats: tuple[str, ...], zones=None) -> list[dict[str, Any]]:
    """Write the product files into ``folder`` and return their manifest entries (name, sha256, bytes, rows);
    ``zones`` are the contract's, for a zone product's coordinates and geometries."""
    columns = [c for c in product.columns if c != "delivery_id"]
    table = pa.Table.from_pandas(product[columns], schema=arrow_schema(columns), preserve_index=False)
    written = write_format_files(Product(table, product, zones), folder, formats)
    return [{"name": name, "sha256": sha256_of(folder / name), "bytes": (folder / name).stat().st_size,
             "rows": rows} for name, rows in written]


def privacy_terms(contract: Contract, plans: list[ReleasePlan], cuts: dict | None = None,
                  post_processing: dict[str, str] | None = None) -> dict[str, Any]:
    """The privacy terms of a delivery: totals, and every figure of each metric's release.

    Top level (docs/architecture.md, fixed interfaces): k, the delivery's epsilon and delta (summed over its releases),
    the mechanisms, the bounds applied, and the noise scale and 95% interval of the noisiest metric; under ``metrics``
    each release with its own bound, sensitivity, noise scale, interval and k in its units. ``cuts`` (metric to
    ``sharing.DerivedCut``) describes a derived product: its interval and phantom figures are those of the summed
    values. ``post_processing`` (metric to note) says how each metric's ``estimate`` column was made from the noisy
    values (``jobs/privacy/postprocess.py``), or why it is null.
    """
    metrics = []
    for plan in plans:
        figures = plan.describe()
        summed = cuts[plan.metric].most_summed if cuts and plan.metric in cuts else 1  # derived or zone sums
        figures.update(k_threshold=plan.k_threshold(contract.k), k_rule=plan.measure.k_text(contract.k, plan.bounder),
                       k_statement=plan.k_statement(contract.k, summed), most_per_value=plan.most_per_value(summed),
                       released_interval=interval_text(release_threshold(plan, plan.k_threshold(contract.k)),
                                                       plan.measure.value_unit))
        # the bound's dropped share, only ever as the DP estimate of this contract's own advice (cde contracts
        # advise): another contract's advice was paid from that contract's budget, so it is not stated here
        figures["dropped_share"] = dropped_share_estimate(plan, contract.id)
        domain = plan.domain_size()
        if cuts and plan.metric in cuts:
            figures.update(cuts[plan.metric].figures(plan, contract.k))
        elif domain:  # zero-filled: how often noise alone lifts an empty key over k
            chance = plan.phantom_probability(contract.k)
            figures.update(domain_keys=domain, phantom_probability=chance, expected_phantom_rows=chance * domain)
        if post_processing and plan.metric in post_processing:
            figures["post_processing"] = post_processing[plan.metric]
        metrics.append(figures)
    noisiest = max(metrics, key=lambda m: m["noise_scale"])
    bounds: dict[str, int] = {}
    for figures in metrics:
        bounds.update(figures["bounds"])
    return {
        "k": contract.k,
        "k_unit": "people",
        # the threshold each metric's values must reach, in the unit it applies in (people, trips, events, ...)
        "thresholds": {m["metric"]: m["k_statement"] for m in metrics},
        "epsilon": sum(m["epsilon"] for m in metrics), "delta": sum(m["delta"] for m in metrics),
        "mechanism": ", ".join(sorted({m["mechanism"] for m in metrics})),
        "unit": ", ".join(sorted({m["unit"] for m in metrics})),
        "bounds": bounds,
        "noise_scale": noisiest["noise_scale"], "ci95_half_width": noisiest["ci95_half_width"],
        "noise_of": noisiest["metric"],
        "guarantee": "no released value is below k after noise (k people in each metric's units, see metrics); "
                     "suppressed values are null",
        "metrics": metrics,
    }


def publish(spark: SparkSession, contract: Contract, window_start: dt.date,
            window_end: dt.date | None = None) -> dict[str, Any]:
    """Release (or reuse), build and deliver a contract's product for local dates ``[start, end)``.

    Parameters
    ----------
    spark : SparkSession
        The process's session.
    contract : Contract
        A validated contract.
    window_start : datetime.date
        First local date of the window.
    window_end : datetime.date, optional
        Day after the last local date; one day by default.

    Returns
    -------
    dict
        ``delivery_id``, ``outbox`` folder, ``manifest``, ``audit`` paths and summary figures.
    """
    delivery = compile_delivery(contract, window_start, window_end)
    # One writer per delivery folder; a concurrent publish of the same window waits, then reuses the release.
    with exclusive(f"delivery-{delivery.delivery_id}"):
        return _deliver(spark, delivery)


def outbox_folder(contract: Contract, delivery: str) -> Path:
    """The buyer's folder of one delivery: ``lake/outbox/<buyer>/<contract_id>/<delivery_id>``."""
    return paths.outbox(contract.buyer, contract.id, delivery)


def _preflight(contract: Contract, delivery: str) -> None:
    """Refuse before any spend when a folder or table the delivery writes cannot take it."""
    preflight([(tables.product(contract.id).path(), f"gold/{contract.id}")],
              [(outbox_folder(contract, delivery), "outbox"),
               (paths.audit_dir(contract.id), "audit")])


def _deliver(spark: SparkSession, compiled: Delivery) -> dict[str, Any]:
    _preflight(compiled.contract, compiled.delivery_id)
    placement = check_placement(compiled.contract, compiled.window_start)  # a refusal comes before any spend
    releases: list[tuple[ReleasePlan, dict]] = []  # filled as each release is made or reused
    try:
        return _make_delivery(spark, compiled, releases, placement)
    except Exception as exc:
        if releases:  # a failure after a spend says so, and what a rerun will cost
            exc.add_note(after_spend_note(releases))
        raise


def after_spend_note(releases: list[tuple[ReleasePlan, dict]]) -> str:
    """The line added to a failure that came after releases were made or reused: which are stored, what this
    run spent on them, and that a rerun reuses them."""
    spent = [plan for plan, rel in releases if not rel["reused"]]
    stored = ", ".join(plan.release_id for plan, _ in releases)
    paid = (f"this run spent epsilon {sum(p.epsilon for p in spent):g} on {', '.join(p.release_id for p in spent)}"
            if spent else "this run spent nothing (stored releases reused)")
    return (f"This failure came after the privacy spend: {paid}; release(s) {stored} are stored and the spend "
            f"stands. A rerun of this delivery reuses them and spends nothing more.")


def _make_delivery(spark: SparkSession, compiled: Delivery, releases: list[tuple[ReleasePlan, dict]],
                   placement: dict[str, Any]) -> dict[str, Any]:
    contract, delivery = compiled.contract, compiled.delivery_id
    window_start, window_end = compiled.window_start, compiled.window_end
    if contract.derived_from:
        products, cuts = _shared_products(spark, compiled, releases)
    else:
        products, cuts = [], {}
        zone_ids = tuple(zone_id for zone_id, _ in contract.zones) if contract.zones else None
        for metric, plan in zip(contract.metrics, compiled.plans, strict=True):
            release = make_release(spark, plan)
            if contract.zones and not plan.zones:  # additive: the cells' noisy values summed into zones
                product, cuts[metric] = _zone_sum_product(contract, plan, delivery)
            else:
                product = build_product(read_release(plan.release_id), plan.k_threshold(contract.k), delivery,
                                        plan.segments, places=plan.measure.places,
                                        ci95=plan.noise()["ci95_half_width"], plan=plan, zone_ids=zone_ids,
                                        noise_of=plan)
            releases.append((plan, {**release, "post_processing": product.attrs["post_processing"]}))
            products.append(product)
    product = pd.concat(products, ignore_index=True)
    if contract.market_share:
        units = product["metric"].map(lambda metric: get_measure(metric).units_per_person)
        product = add_population_estimate(product, contract.market_share, units)

    gold_path = tables.product(contract.id).path()
    gold_table = pa.Table.from_pandas(product, schema=arrow_schema(product.columns), preserve_index=False)
    faults.reached("deliver.product")
    if lake.exists(gold_path):
        # merge: a product table written before a column was added (ci95_half_width) takes it on
        gold_version = lake.overwrite_arrow(gold_path, gold_table, predicate=f"delivery_id = '{delivery}'",
                                            partition_by=["delivery_id"], schema_mode="merge")
    else:
        gold_version = lake.append_arrow(gold_path, gold_table, partition_by=["delivery_id"])

    outbox = outbox_folder(contract, delivery)
    # Staged outside the buyer's folder (a local folder, also for a lake on an object store), so a buyer never
    # sees a half-written delivery.
    if not settings.lake_is_remote():
        for stale in (paths.outbox_staging()).glob(f"{delivery}-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed attempt; we hold the delivery's lock
    staging = local_staging(delivery)
    try:
        faults.reached("deliver.files")
        files = write_files(product, staging, contract.formats, contract.zones)
        manifest = {
            "contract_id": contract.id,
            "contract_version": contract.version,
            "buyer": contract.buyer,
            "delivery_id": delivery,
            "window_start": dt.datetime.combine(window_start, dt.time(), tzinfo=settings.LOCAL_TZ).isoformat(),
            "window_end": dt.datetime.combine(window_end, dt.time(), tzinfo=settings.LOCAL_TZ).isoformat(),
            "release_ids": [plan.release_id for plan, _ in releases],
            # the ledger head when this delivery was made: deleting later ledger rows cannot hide behind it
            "ledger_head": ledger_head(),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            # this attempt's audit, kept under lake/audit/<contract_id>/ (the delivery's own name after the swap)
            "audit": audit_attempt(delivery),
            "files": files,
            **({"derived_from": contract.derived_from} if contract.derived_from else {}),
            "privacy": privacy_terms(contract, [plan for plan, _ in releases], cuts,
                                     {plan.metric: rel["post_processing"] for plan, rel in releases
                                      if rel.get("post_processing")}),
            "columns": [c for c in product.columns if c != "delivery_id"],
            # what it holds, per metric: rows, released rows, the smallest and largest value (the README's start)
            "contents": contents(product),
            # how each source places people, and whether the network can place them at this resolution
            "placement": placement,
            **({"market_share": contract.market_share} if contract.market_share else {}),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
        write_package(contract, manifest, staging)
        problems = verify_manifest(staging)
        if problems:
            raise StorageFault(f"delivery {delivery} does not verify after writing: {'; '.join(problems)}")
        # The audit exists before the delivery appears: a buyer never holds one a privacy officer cannot read.
        faults.reached("deliver.audit")
        write_audit(compiled, manifest, product, releases, gold_version)
        faults.reached("deliver.swap")
        restrict(staging)
        replace_folder(staging, outbox)
        audit_paths = publish_audit(contract.id, manifest)  # the swapped-in files' own audit, by their name
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    released = int((~product["suppressed"]).sum())
    suppressed = int(product["suppressed"].sum())
    spent = sum(plan.epsilon for plan, rel in releases if not rel["reused"])
    log.info("publish %s %s: %d cells released, %d suppressed, epsilon spent %g%s; outbox %s",
             contract.id, delivery, released, suppressed, spent,
             " (stored release reused)" if spent == 0 else "", outbox)
    notices = notify_delivery(contract, manifest, outbox)  # after the swap: records outcomes, never raises
    return {"delivery_id": delivery, "outbox": str(outbox), "manifest": manifest, "audit": audit_paths,
            "released": released, "suppressed": suppressed, "epsilon_spent": spent,
            "gold_version": gold_version, "notifications": notices}


def _zone_sum_product(contract: Contract, plan: ReleasePlan, delivery: str) -> tuple[pd.DataFrame, Any]:
    """An additive metric's product over the contract's zones: its release's cell values summed per zone,
    each row with the interval of its own sum, k applied to the sums (``jobs/privacy/zones.py``)."""
    zones = tuple((zone_id, tuple(cells)) for zone_id, cells in zone_cells(contract.zones, contract.h3_resolution))
    zone_sum = ZoneSum(zones, len(plan.measure.places))
    product = build_product(zones_from_release(plan.release_id, zone_sum, zone_sum.ci95_by_terms(plan)),
                            plan.k_threshold(contract.k), delivery, plan.segments,
                            places=plan.measure.places, zone_ids=tuple(z for z, _ in zones), noise_of=plan)
    product.attrs["post_processing"] = ("no estimate (the noisy values alone are delivered): zone values are "
                                        "sums of the release's cell values, and value is unbiased for each zone")
    return product, zone_sum


def _shared_products(spark: SparkSession, compiled: Delivery, releases: list[tuple[ReleasePlan, dict]]
                     ) -> tuple[list[pd.DataFrame], dict]:
    """A derived contract's products from its parent's releases (``jobs/publish/shared_releases.py``),
    appending each release used to ``releases``.

    Per metric: check the contract's own budget can take the use (refused before anything is made), make or
    reuse the parent's release (one writer, charged to the global caps once), record the use, then sum the
    stored values into this contract's cut and apply its k.
    """
    contract, parent, delivery = compiled.contract, compiled.parent, compiled.delivery_id
    products, cuts = [], {}
    for metric, plan in zip(contract.metrics, compiled.plans, strict=True):
        use = use_of(plan, contract)
        if precheck_spend(use, kind="use"):
            record_use(use)  # records the refusal and raises BudgetExceeded: no release is made for it
        used_before = find_use(ledger_entries(), contract.id, plan.release_id) is not None
        release = make_release(spark, plan)
        used = record_use(use)
        cut = derived_cut(contract, parent, metric)
        releases.append((plan, {**release, "use_entry_id": used["entry_id"], "use_reused": used_before,
                                "made_for": parent.id}))
        products.append(build_product(derive_from_release(plan.release_id, contract_epsilon=contract.epsilon,
                                                          h3_resolution=contract.h3_resolution, cells=cut.cells,
                                                          bin_minutes=contract.bin_minutes),
                                      plan.k_threshold(contract.k), delivery, plan.segments,
                                      places=plan.measure.places,
                                      ci95=cut.figures(plan, contract.k)["ci95_half_width"],
                                      # the parent's cut (values not summed): estimated like the parent's
                                      plan=plan if cut.terms == 1 else None, noise_of=plan, terms=cut.terms))
        releases[-1][1]["post_processing"] = products[-1].attrs["post_processing"]
        cuts[metric] = cut
    return products, cuts


def verify_manifest(folder: Path) -> list[str]:
    """Check a delivery folder against its manifest; return the problems (empty when it verifies)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    problems = []
    for entry in manifest["files"]:
        path = folder / entry["name"]
        if not path.exists():
            problems.append(f"{entry['name']}: missing")
            continue
        if sha256_of(path) != entry["sha256"]:
            problems.append(f"{entry['name']}: sha256 differs")
        rows = data_rows(path)
        if rows != entry["rows"]:
            problems.append(f"{entry['name']}: {rows} rows, manifest says {entry['rows']}")
    return problems
