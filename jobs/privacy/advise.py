"""Bounds from the data: a DP histogram of contributions per person-day, and the bound it recommends.

A contribution bound trades bias (contributions above it are dropped) against noise (the noise scale grows
with it). PipelineDP's utility analysis chooses it from the distribution of contributions; so does this,
spending a small epsilon of the contract's own budget, recorded in the ledger like any release:

1. plan the contract's release for the advised days and read its cut, restricted to the public domain (the
   rows a release would bound);
2. count each person-day's contributions in the bounder's unit: distinct keys ((cell, bin) pairs, or
   (origin, destination, bin)) for distinct people and event counts, trips for trips;
3. histogram the person-days by that count over public buckets (1 to 16 one by one, then wider ranges up to
   ``HISTOGRAM_TOP``, the last holding every larger count: few noisy buckets where the tail is thin), with
   geometric noise: a person is in at most one bucket per source and day, so the L1 sensitivity is days x
   sources; noisy counts below the noise's 95% half-width are read as 0 (post-processing: an empty bucket
   must not look like a tail of heavy contributors);
4. for every candidate bound, estimate from the noisy histogram the share of contributions it drops and the
   root mean squared error of a value of the mean key (bias from the dropped share, plus the noise of a
   release at the contract's epsilon); recommend the bound with the least, unless the histogram's own noise
   makes that bound's dropped share uncertain by more than ``MAX_DROPPED_SD`` (too few person-days): then
   the advice says so and recommends keeping the current bound.

The noisy histogram is stored under ``lake/advice/<contract>/<advice id>.json`` and reused (no second spend
for the same contract version, metric and days); deliveries state the dropped share of their bound as this
DP estimate, never as an exact figure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.common import paths
from jobs.common.locks import Held, exclusive
from jobs.common.storage import write_atomic
from jobs.privacy.bounding import PERSON_DAY
from jobs.privacy.measures.base import Bounds
from jobs.privacy.plan import plan_for

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from jobs.contracts import Contract
    from jobs.privacy.plan import ReleasePlan

HISTOGRAM_TOP = 96  # a day has 96 quarter-hours, and no bound above that is useful
# Histogram buckets (first, last contribution count): single counts where bounds are usually set, then ranges.
BUCKETS = (*((c, c) for c in range(1, 17)), (17, 20), (21, 24), (25, 32), (33, 40), (41, 48), (49, 64),
           (65, 80), (81, HISTOGRAM_TOP))
ADVISE_EPSILON = 0.1  # of the contract's own budget, once per advice
DELIVERY_DAYS = 1  # every contract delivers daily (frequency 1 d): bounds are scored for one day's release
MAX_DROPPED_SD = 0.05  # an advice whose dropped-share estimate is noisier than this recommends no change


def bound_property(plan: ReleasePlan) -> str | None:
    """The bound property an advice chooses for the plan's bounder, or None (event-level: nothing to bound)."""
    names = list(plan.bounder.properties)
    for name in ("max_trips_per_day", "max_cells_per_day", "max_bins_per_day"):
        if name in names:
            return name
    return None


def advice_id(contract: Contract, metric: str, start: dt.date, end: dt.date) -> str:
    """Deterministic id of one advice: the same contract version, metric and days name the same advice."""
    text = f"{contract.id}|{contract.version}|{metric}|{start}|{end}"
    return "adv-" + hashlib.sha256(text.encode()).hexdigest()[:20]


def advice_path(contract_id: str, advice: str) -> Path:
    """Where an advice's noisy histogram and recommendation are stored."""
    return paths.advice_dir(contract_id) / f"{advice}.json"


def contribution_counts(spark: SparkSession, plan: ReleasePlan, prop: str) -> dict[int, int]:
    """Exact person-days per contribution count (1 .. HISTOGRAM_TOP, the top bucket holding every larger
    count), over the plan's cut inside its public domain. Never leaves this module without noise."""
    from pyspark.sql import functions as F

    from jobs.privacy.release import domain_cut  # loads deltalake, numpy, pandas, pyarrow: only when called

    cut, _, _, _ = domain_cut(spark, plan)
    keys = plan.measure.keys(plan.segments)
    # what one contribution is: a trip, a (cell, bin) pair, or a bin (present population: all its cells are one)
    unit = {"max_trips_per_day": ["start_ts", *keys], "max_bins_per_day": ["bin_start"]}.get(prop, keys)
    per_day = cut.select(*PERSON_DAY, *unit).distinct().groupBy(*PERSON_DAY).count()
    bucket = F.least(F.col("count"), F.lit(HISTOGRAM_TOP)).alias("bucket")
    rows = per_day.groupBy(bucket).count().collect()
    return {int(r["bucket"]): int(r["count"]) for r in rows}


def bucketed(counts: dict[int, int]) -> list[int]:
    """Person-days per ``BUCKETS`` range, from person-days per contribution count."""
    return [sum(n for c, n in counts.items() if low <= c <= high) for low, high in BUCKETS]


def _middle(bucket: tuple[int, int]) -> float:
    return (bucket[0] + bucket[1]) / 2


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One candidate bound and what the noisy histogram says it costs."""

    bound: int
    dropped_share: float  # of contributions, estimated from the noisy histogram
    noise_sd: float  # of one released value at the contract's epsilon
    rmse: float  # of a value of the mean key: sqrt((dropped x mean value)^2 + noise_sd^2)


def dropped_share(histogram: list[int], bound: int) -> float:
    """Share of contributions a bound drops, from person-days per bucket (a bucket's days at its middle)."""
    total = sum(_middle(b) * n for b, n in zip(BUCKETS, histogram, strict=True))
    over = sum(max(_middle(b) - bound, 0) * n for b, n in zip(BUCKETS, histogram, strict=True))
    return over / total if total else 0.0


def dropped_share_sd(histogram: list[int], bound: int, bucket_sd: float) -> float:
    """Standard deviation of ``dropped_share`` from the histogram's noise (each bucket's count off by noise
    of sd ``bucket_sd``; first-order propagation through the ratio): how far the estimate can be trusted."""
    total = sum(_middle(b) * n for b, n in zip(BUCKETS, histogram, strict=True))
    if not total:
        return 1.0
    share = dropped_share(histogram, bound)
    spread = sum((max(_middle(b) - bound, 0) - share * _middle(b)) ** 2 for b in BUCKETS)
    return math.sqrt(spread) * bucket_sd / total


def candidates(histogram: list[int], plan: ReleasePlan, prop: str, histogram_days: int) -> list[Candidate]:
    """Score every bound 1 .. HISTOGRAM_TOP against a (denoised) histogram; pure post-processing.

    Parameters
    ----------
    histogram : list of int
        Person-days per ``BUCKETS`` range (noisy, negatives and counts below the noise read as 0).
    plan : ReleasePlan
        The release the bound is for (its epsilon, days, sources and domain).
    prop : str
        The bound property scored (``bound_property``).
    histogram_days : int
        Days the histogram covers (its contributions are scaled to one delivery's days).
    """
    from jobs.privacy.noise import sum_noise_scale  # loads numpy: only when called

    total = sum(_middle(b) * n for b, n in zip(BUCKETS, histogram, strict=True))
    keys = plan.domain_size() or len(BUCKETS)
    mean_value = total * plan.days / max(histogram_days, 1) / keys  # contributions per key and delivery
    out = []
    for bound in range(1, HISTOGRAM_TOP + 1):
        dropped = dropped_share(histogram, bound)
        trial = dataclasses.replace(plan, bounds=Bounds.of({**plan.bounds.as_dict(), prop: bound}))
        delta = trial.delta if trial.mechanism == "gaussian_discrete" else None
        sd = sum_noise_scale(trial.epsilon, trial.noise_sensitivity, 1, trial.mechanism, delta)["sd"]
        out.append(Candidate(bound, dropped, sd, math.sqrt((dropped * mean_value) ** 2 + sd ** 2)))
    return out


def advise(spark: SparkSession, contract: Contract, metric: str, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Advise the contribution bound of a contract's metric from local dates ``[start, end)``.

    Spends ``ADVISE_EPSILON`` against the contract's budget (and the global caps), checked and recorded in
    the ledger before the histogram's noise is drawn; a stored advice for the same id is reused.

    Returns
    -------
    dict
        ``advice_id``, ``property``, ``current`` bound, ``recommended`` bound, the noisy ``histogram``,
        ``candidates`` (bound, dropped share, noise sd, RMSE), ``epsilon``, ``sensitivity`` and the ledger
        ``entry_id``.

    Raises
    ------
    ValueError
        The metric has no bound to advise (event-level).
    BudgetExceeded
        The advice does not fit the contract's budget or a global cap; nothing was drawn.
    """
    plan = plan_for(contract, metric, start, end)
    prop = bound_property(plan)
    if prop is None:
        raise ValueError(f"{metric} is event-level: it has no contribution bound to advise")
    ident = advice_id(contract, metric, start, end)
    # One advice run at a time per advice id: a concurrent run waits, then reuses the stored advice.
    with exclusive(f"advice-{ident}") as held:
        return _advise_locked(spark, contract, metric, start, end, plan, prop, ident, held)


def _advise_locked(spark: SparkSession, contract: Contract, metric: str, start: dt.date, end: dt.date, plan,
                   prop: str, ident: str, held: Held) -> dict[str, Any]:
    import numpy as np

    from jobs.privacy import ledger  # loads deltalake, numpy, pandas, pyarrow: only when called
    from jobs.privacy.noise import add_discrete_noise, noise_scale, noise_sd  # loads numpy: only when called

    path = advice_path(contract.id, ident)
    if path.exists():
        return {**json.loads(path.read_text()), "reused": True}
    from jobs.aggregate.silver import missing_inputs  # loads deltalake, numpy, pandas, pyarrow: only when called

    missing = missing_inputs([start + dt.timedelta(days=i) for i in range((end - start).days)], plan.sources)
    if missing:  # an empty day would read as people contributing nothing; nothing is spent
        raise ValueError(f"advise {contract.id} {start} to {end}: {len(missing)} source-day(s) not ready (first: "
                         f"{missing[0]}); advise over days that are ingested and aggregated")
    # One privacy unit is in at most one bucket per source and day.
    sensitivity = plan.days * len(plan.sources)
    counts = contribution_counts(spark, plan, prop)  # lazy input checks fail here, before the spend
    spend = dataclasses.replace(plan.spend(), release_id=ident, epsilon=ADVISE_EPSILON, delta=0.0,
                                rho=ADVISE_EPSILON ** 2 / 2, mechanism="geometric", sensitivity=sensitivity,
                                lookback_days=plan.lookback_days)
    held.check()
    for earlier in ledger.spends_not_lost(ledger.read_entries(), ident).to_dict("records"):  # no file: drew nothing
        ledger.record_lost(earlier, "no advice file was stored (a crash after the spend)")
    entry = ledger.record_spend(spend)
    noisy = add_discrete_noise(np.array(bucketed(counts), dtype=np.int64), ADVISE_EPSILON, sensitivity)
    floor = noise_scale(ADVISE_EPSILON, sensitivity)["ci95_half_width"]
    histogram = [int(v) if v > floor else 0 for v in noisy]  # below the noise: read as empty
    # Scored for what is delivered: one release per day (the schedule's window), whatever days advised.
    delivery = plan_for(contract, metric, start, start + dt.timedelta(days=DELIVERY_DAYS))
    scored = candidates(histogram, delivery, prop, plan.days)
    best = min(scored, key=lambda c: c.rmse)
    current = int(plan.bounds[prop])
    # Too few person-days for the noise: the tail of the histogram is noise, and so would the advice be.
    uncertainty = dropped_share_sd(histogram, best.bound, noise_sd(ADVISE_EPSILON, sensitivity))
    reliable = uncertainty <= MAX_DROPPED_SD
    warning = None if reliable else (
        f"the histogram holds {sum(histogram):,} person-days above the noise: its dropped-share estimate is "
        f"+/- {uncertainty:.0%} (1 sd), more than {MAX_DROPPED_SD:.0%}; keep the current bound and advise again "
        "over more days")
    result = {
        "advice_id": ident, "contract_id": contract.id, "contract_version": contract.version, "metric": metric,
        "window_start": start.isoformat(), "window_end": end.isoformat(), "property": prop, "current": current,
        "recommended": best.bound if reliable else current, "best_fit": best.bound, "reliable": reliable,
        "dropped_share_sd": uncertainty, "warning": warning, "epsilon": ADVISE_EPSILON, "sensitivity": sensitivity,
        "sensitivity_note": f"a person is in at most one bucket per source and day: {plan.days} day(s) x "
                            f"{len(plan.sources)} source(s)",
        "buckets": [list(b) for b in BUCKETS], "histogram": histogram, "noisy_histogram": [int(v) for v in noisy],
        "histogram_floor": floor, "candidates": [dataclasses.asdict(c) for c in scored],
        "entry_id": entry["entry_id"], "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    held.check()
    text = json.dumps(result, indent=1)
    write_atomic(path, text)  # whole or not at all: a reader never sees half an advice
    ledger.record_draw(entry, len(histogram), hashlib.sha256(text.encode()).hexdigest())
    return {**result, "reused": False}


def latest_advice(contract_id: str, metric: str) -> dict[str, Any] | None:
    """The newest stored advice of a contract's metric (any version), or None."""
    folder = paths.advice_dir(contract_id)
    found = []
    for path in folder.glob("adv-*.json") if folder.exists() else ():
        record = json.loads(path.read_text())
        if record.get("metric") == metric:
            found.append(record)
    return max(found, key=lambda r: (r["window_end"], r["created_at"])) if found else None


def dropped_share_estimate(plan: ReleasePlan, contract_id: str) -> dict[str, Any] | None:
    """The dropped share of the plan's bound, estimated from the newest advice's noisy histogram (post-
    processing: no spend), or None when the contract has no advice for the metric."""
    record = latest_advice(contract_id, plan.metric)
    prop = bound_property(plan)
    if record is None or prop is None or record["property"] != prop:
        return None
    dropped = dropped_share(record["histogram"], int(plan.bounds[prop]))
    return {"dropped_share_estimate": dropped, "advice_id": record["advice_id"], "advice_days":
            f"{record['window_start']} to {record['window_end']}", "advice_epsilon": record["epsilon"]}


def format_advice(result: dict[str, Any]) -> list[str]:
    """``cde contracts advise``: the recommendation, then a table of candidate bounds around it."""
    rows = {c["bound"]: c for c in result["candidates"]}
    shown = sorted({1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, result["current"], result["recommended"]}
                   & set(rows))
    lines = [f"{result['contract_id']} {result['metric']}: {result['property']} {result['current']} now; "
             f"recommended {result['recommended']} (least expected error of a mean key at the contract's epsilon)",
             f"  DP histogram of contributions per person-day, {result['window_start']} to {result['window_end']} "
             f"(exclusive): epsilon {result['epsilon']:g} spent from the contract's budget (ledger entry "
             f"{result['entry_id']}), L1 sensitivity {result['sensitivity']} ({result['sensitivity_note']})"
             + ("; stored advice reused, nothing spent" if result.get("reused") else ""),
             f"  {'bound':>6} {'dropped (est.)':>15} {'noise sd':>9} {'RMSE':>8}"]
    if result.get("warning"):
        lines.insert(1, f"  not reliable: {result['warning']} (best fit would be {result['best_fit']})")
    for bound in shown:
        c = rows[bound]
        mark = " <- recommended" if bound == result["recommended"] else (" <- now" if bound == result["current"]
                                                                        else "")
        lines.append(f"  {bound:>6} {c['dropped_share']:>15.1%} {c['noise_sd']:>9.1f} {c['rmse']:>8.1f}{mark}")
    return lines
