"""``cde``: one command per pipeline stage. Thin: parse arguments, call the job, print a summary line."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from jobs.airflow.standalone import main as serve
from jobs.common import settings
from jobs.common.spark import get_spark
from jobs.contracts import contract_files, new_contract_document
from jobs.demo import run_demo
from jobs.errors import BudgetExceeded, ContractError, Refusal, error_line
from jobs.ingest import FEEDS
from jobs.portal.accounts import add_user, check_new_user, init_admin
from jobs.portal.db import PortalRefused
from jobs.privacy import advise_contract, budget_plan, format_advice, plan_lines
from jobs.publish import sla
from jobs.publish.backfills import approve_backfill
from jobs.publish.notify import delivery_notice
from jobs.publish.portfolio import find_contract, load_contract, load_contracts
from jobs.publish.recipients import add_recipient, read_recipients, revoke


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from exc


def _cmd_simulate(args: argparse.Namespace) -> int:
    from jobs.simulate.main import run  # only when the command runs: loads numpy, pandas, pyarrow

    out = run(args.people, args.days, args.start, args.seed, args.events_per_person, tuple(args.feeds or ()),
              force=args.force, network=args.network)
    totals = ", ".join(f"{sum(v.values())} {feed}" for feed, v in out["records"].items())
    print(f"simulate: {args.people} people, {args.days} day(s) from {args.start}: {totals} records; "
          f"reference data in {out['reference']}")
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from jobs.ingest.event_quality import summary_lines  # only when the command runs: loads pandas
    from jobs.ingest.runner import ingest  # only when the command runs: loads deltalake, numpy, pandas, pyarrow

    if args.feed not in FEEDS:
        print(f"ingest: unknown feed {args.feed!r}; known: {', '.join(sorted(FEEDS))}", file=sys.stderr)
        return 2
    record = ingest(get_spark(f"cde-ingest-{args.feed}"), FEEDS[args.feed], args.date,
                    max_invalid_share=args.max_invalid_share)  # a refusal is reported by main()
    print(f"ingest {args.feed} {args.date}: {record['records_in']} records in, {record['accepted']} accepted, "
          f"{record['quarantined']} quarantined {record['quarantined_by_reason']}; "
          f"bronze version {record['bronze_version']}")
    ignored = json.loads(record.get("extra_columns") or "[]")
    if ignored:
        print(f"  columns the feed's schema does not name (ignored): {', '.join(ignored)}")
    for line in summary_lines(json.loads(record["warnings"])) if record.get("warnings") else []:
        print(f"  quality warning, {line}")
    return 0


def _cmd_footprints(args: argparse.Namespace) -> int:
    from jobs.ingest.footprints import build_footprints  # only when the command runs: loads h3, numpy, pandas

    out = build_footprints(args.source, args.date)
    print(f"footprints {args.source} {args.date}: {out['cells']} cells, {out['rows']} (cell, tile) weights; "
          f"silver/cell_footprints version {out['version']}")
    for resolution, cells in sorted(out["median_cells"].items(), reverse=True):
        print(f"  resolution {resolution}: the median footprint has 90% of its weight in {cells:g} cells")
    print(f"  finest resolution the network supports (median footprint within 7 cells): {out['supported_resolution']}")
    return 0


def _cmd_optout(args: argparse.Namespace) -> int:
    from jobs.ingest.optout import apply_optouts  # only when the command runs: loads deltalake, numpy, pandas, pyarrow

    lines = Path(args.file).read_text(encoding="utf-8-sig").splitlines()
    identifiers = [line.split(",")[0].strip() for line in lines if line.strip()]
    if identifiers and not any(ch.isdigit() for ch in identifiers[0]):
        identifiers = identifiers[1:]  # a header line
    out = apply_optouts(args.source, identifiers, args.list_name or Path(args.file).name)
    print(f"optout {args.source}: {out['identifiers']} identifiers ({out['new']} new); rows deleted {out['deleted']}")
    return 0


def _cmd_retention(args: argparse.Namespace) -> int:
    from jobs.ingest.retention import apply_retention  # only when the command runs: loads deltalake, numpy, pyarrow

    days = {k: v for k, v in (("landing", args.landing_days), ("quarantine", args.quarantine_days),
                              ("bronze", args.bronze_days), ("silver", args.silver_days)) if v is not None}
    report = apply_retention(args.today or dt.date.today(), days, vacuum_hours=args.vacuum_hours)
    from jobs.publish.ending import purge_ended  # only when the command runs: loads deltalake, numpy, pyarrow

    for contract_id, info in purge_ended().items():
        report[f"ended contract {contract_id}"] = f"deleted {len(info['deliveries'])} deliveries and gold/{contract_id}"
    for name, info in report.items():
        print(f"retention {name}: {info}")
    if not report:
        print("retention: nothing to do")
    return 0


def _cmd_contracts_end(args: argparse.Namespace) -> int:
    from jobs.publish.ending import end_contract  # only when the command runs: loads deltalake, numpy, pyarrow

    contract = find_contract(args.contract_id)
    record = end_contract(contract, by=args.by, reason=args.reason)
    print(f"contract {contract.id} ended at {record['ended_at']} by {record['by']}: no further release; its "
          f"publish DAG is dropped at the next parse; sharing tokens revoked: {record.get('tokens_revoked', 0)}")
    print(f"  deliveries and gold/{contract.id} are deleted by `cde retention apply` after {record['delete_after']} "
          f"({record['retention_days']} days); audits and the ledger stay")
    return 0


def _cmd_share(args: argparse.Namespace) -> int:
    from jobs.sharing.server import serve  # only when the command runs: loads deltalake, numpy, pyarrow

    print(f"Delta Sharing server on http://{args.host}:{args.port}/delta-sharing (Ctrl-C stops it)")
    endpoint = urlsplit(settings.setting("CDE_SHARING_ENDPOINT"))
    if endpoint.port != args.port or (endpoint.hostname in ("127.0.0.1", "localhost") and args.host not in (
            "127.0.0.1", "localhost", "0.0.0.0")):  # noqa: S104 (comparing, not binding)
        print(f"warning: buyers' profiles point at CDE_SHARING_ENDPOINT={endpoint.geturl()}, which is not where this "
              f"server listens (port {args.port}); set CDE_SHARING_ENDPOINT to the address buyers reach and make "
              "their profiles again (cde sharing add-recipient), or their clients retry for minutes", file=sys.stderr)
    serve(args.host, args.port)
    return 0


def _password_from_stdin(args: argparse.Namespace) -> str:
    if not args.password_stdin:
        raise PortalRefused("password: give it on standard input with --password-stdin (never as an argument)")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise PortalRefused("password: standard input was empty")
    return password


def _cmd_portal_init_admin(args: argparse.Namespace) -> int:
    user = init_admin(args.username, _password_from_stdin(args))
    print(f"administrator {user.username} made; log in at the portal (cde portal serve)")
    return 0


def _cmd_portal_add_user(args: argparse.Namespace) -> int:
    check_new_user(args.role, args.buyer)  # before the password is asked for
    user = add_user(args.username, _password_from_stdin(args), args.role, args.buyer)
    print(f"{user.role} {user.username} made" + (f" for buyer {user.buyer_id}" if user.buyer_id else ""))
    return 0


def _cmd_portal_serve(args: argparse.Namespace) -> int:
    from jobs.portal.app import serve  # only when the command runs: loads FastAPI and the pages

    print(f"City Data Exchange portal on http://{args.host}:{args.port}/ (Ctrl-C stops it)")
    serve(args.host, args.port)
    return 0


def _cmd_sharing_add(args: argparse.Namespace) -> int:
    endpoint = args.endpoint or settings.setting("CDE_SHARING_ENDPOINT")
    profile = add_recipient(args.buyer, endpoint, days=args.days)
    print(f"the profile points at {endpoint} (--endpoint or CDE_SHARING_ENDPOINT): the address buyers reach")
    print(f"recipient for {args.buyer}: profile {profile} (mode 0600; hand it to the buyer over a secure channel; "
          f"any earlier token of this buyer is revoked)")
    return 0


def _cmd_sharing_revoke(args: argparse.Namespace) -> int:
    print(f"revoked {revoke(args.buyer)} token(s) of {args.buyer}")
    return 0


def _cmd_sharing_list(args: argparse.Namespace) -> int:
    for r in read_recipients():
        state = f"revoked {r['revoked_at']}" if r.get("revoked_at") else f"expires {r['expires_at']}"
        print(f"{r['recipient_id']}  {r['buyer']:<28} created {r['created_at']}  {state}")
    return 0


def _cmd_aggregate(args: argparse.Namespace) -> int:
    # only when the command runs: loads deltalake, numpy, pandas, pyarrow
    from jobs.aggregate.silver import build_silver

    out = build_silver(get_spark("cde-aggregate"), args.date, tuple(args.sources) if args.sources else None)
    for source, info in out.items():
        versions = ", ".join(f"{k.removesuffix('_version')} v{v}" for k, v in info.items() if k.endswith("_version"))
        print(f"aggregate {source} {args.date}: {info['presence_rows']} presence rows; silver {versions}")
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    from jobs.publish.deliver import publish  # only when the command runs: loads deltalake, numpy, pandas, pyarrow

    contract = find_contract(args.contract_id)  # refusals are reported by main()
    out = publish(get_spark("cde-publish"), contract, args.date, args.end)
    print(f"publish {contract.id} {out['delivery_id']}: {out['released']} cells released, "
          f"{out['suppressed']} suppressed, epsilon spent {out['epsilon_spent']:g}")
    print(f"  delivery: {out['outbox']}")
    print(f"  audit:    {out['audit']['html']}")
    return 0


def _cmd_contracts_new(args: argparse.Namespace) -> int:
    import yaml

    example = find_contract(args.source)
    path = Path(args.out) if args.out else settings.contracts_dir() / f"{args.contract_id}.yaml"
    if path.exists():
        print(f"new: {path} exists; choose another id or --out", file=sys.stderr)
        return 2
    document = new_contract_document(example, args.contract_id, args.buyer or example.buyer)
    path.write_text(f"# Made by cde contracts new from {example.id} {example.version}: change the purpose, buyer, "
                    "area and terms, then\n# cde contracts validate " + str(path) + "\n"
                    + yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    try:
        load_contract(path)
    except ContractError as exc:  # the folder differs (an area not beside it): say what to fix, keep the file
        print(f"wrote {path}; it does not validate there yet:", file=sys.stderr)
        for line in exc.errors:
            print(f"FAIL {line}", file=sys.stderr)
        return 1
    print(f"wrote {path} from {example.id}: it validates; change what the buyer needs, then cde contracts validate")
    return 0


def _cmd_contracts_validate(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths] or contract_files()
    failed, valid = 0, []
    for path in paths:
        try:
            contract = load_contract(path)
            valid.append(contract)
            print(f"ok   {path}: {contract.id} {contract.version}")
        except ContractError as exc:
            failed += 1
            for line in exc.errors:
                print(f"FAIL {line}")
    # Valid, but will the schedules fit the budgets? (warnings, not failures: the ledger enforces them)
    for line in budget_plan(valid)["warnings"] if valid else []:
        print(f"WARN {line}")
    return 1 if failed else 0


def _cmd_contracts_plan(args: argparse.Namespace) -> int:
    from jobs.publish.approvals import approved_portfolio  # only when the command runs: loads deltalake, numpy, pyarrow

    contracts = approved_portfolio() if args.approved else list(load_contracts()[0].values())
    lines = plan_lines(contracts)
    print("\n".join(lines))
    return 1 if any(line.startswith("REFUSED") or " OVER " in line for line in lines) else 0


def _cmd_contracts_advise(args: argparse.Namespace) -> int:
    try:
        contract = find_contract(args.contract_id)
        metrics = [args.metric] if args.metric else list(contract.metrics)
        spark = get_spark("cde-advise")
        for metric in metrics:
            result = advise_contract(spark, contract, metric, args.date, args.date + dt.timedelta(days=args.days))
            print("\n".join(format_advice(result)))
    except (ContractError, ValueError, BudgetExceeded, FileNotFoundError) as exc:
        print(f"advise: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_regions_add(args: argparse.Namespace) -> int:
    from jobs.common.regions import RegionError, write_region  # light: only the region files

    try:
        region = write_region(args.name, args.time_zone, args.bbox, args.boundary, args.title,
                              domestic_mcc=args.domestic_mcc, root=settings.regions_dir())
    except RegionError as exc:
        print(f"regions add refused: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {region.folder / 'region.yaml'}: {region.title}, {region.time_zone}, bbox {region.bbox}; put its "
          f"areas in {region.areas_dir} and set CDE_REGION={region.name}")
    return 0


def _cmd_regions_list(args: argparse.Namespace) -> int:
    from jobs.common.regions import load_region, region_names  # light: only the region files

    for name in region_names(settings.regions_dir()):
        region = load_region(name, settings.regions_dir())
        mark = "*" if name == settings.REGION.name else " "
        print(f"{mark} {name:16} {region.time_zone:24} bbox {','.join(f'{v:g}' for v in region.bbox)}  {region.title}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    # only when the command runs: loads numpy, pandas, pyarrow
    from jobs.evaluate import evaluate_delivery, find_delivery, format_evaluation, require_simulated_lake, to_json

    require_simulated_lake()  # before Spark starts: a real lake's exact figures are never computed
    find_delivery(args.delivery)
    result = evaluate_delivery(get_spark("cde-evaluate"), args.delivery)
    print(to_json(result) if args.json else "\n".join(format_evaluation(result)))
    return 0


_NOT_AN_IDENTITY = ("a typed name is not an identity; set CDE_APPROVER_TOKEN to a token issued to the supplier's "
                    "privacy officer on the portal's Approver tokens page")


def _cmd_contracts_backfill(args: argparse.Namespace) -> int:
    from jobs.portal.accounts import approver_identity  # only when the command runs: loads SQLAlchemy

    if args.approver:
        print(f"backfill: --approver {args.approver!r}: {_NOT_AN_IDENTITY}", file=sys.stderr)
        return 2
    approver = approver_identity(settings.setting("CDE_APPROVER_TOKEN"), args.supplier)
    record = approve_backfill(find_contract(args.contract_id), args.date, args.end, args.supplier, approver,
                              args.reason, "officer")
    print(f"backfill of {record['contract_id']} {record['version']} for {record['window_start']} to "
          f"{record['window_end']} approved by {record['approver']} ({record['supplier']}): cde publish "
          f"{record['contract_id']} --date {record['window_start']} --end {record['window_end']} may now deliver it")
    return 0


def _cmd_contracts_approve(args: argparse.Namespace) -> int:
    from jobs.portal.accounts import approver_identity  # only when the command runs: loads SQLAlchemy
    from jobs.publish.approvals import approve, missing_approvals  # only when it runs: loads deltalake, numpy

    if args.approver:
        print(f"approve: --approver {args.approver!r}: {_NOT_AN_IDENTITY}", file=sys.stderr)
        return 2
    try:
        contract = find_contract(args.contract_id)
        approver = approver_identity(settings.setting("CDE_APPROVER_TOKEN"), args.supplier)
        approve(contract, args.supplier, approver, "officer")
    except (ContractError, ValueError) as exc:
        print(f"approve: {exc}", file=sys.stderr)
        return 2
    missing = missing_approvals(contract)
    print(f"approved {contract.id} {contract.version} (sha256 {contract.sha256[:12]}) for {args.supplier} by "
          f"{approver}; " + (f"still waiting for {', '.join(missing)}" if missing else "every supplier has approved"))
    return 0


def _cmd_audit_deliveries(args: argparse.Namespace) -> int:
    import datetime as dt

    contracts = [find_contract(args.contract)] if args.contract else list(load_contracts()[0].values())
    clock = sla.lake_clock()
    now = dt.datetime.fromisoformat(args.now) if args.now else clock.now
    if now.tzinfo is None:
        raise ValueError(f"--now {args.now!r}: give an offset (e.g. 2026-03-05T12:00+01:00)")
    rows = sla.delivery_states(contracts, now if args.now else None, args.days)
    raised = sla.check_deadlines(contracts, now if args.now else None, args.days) if args.alert else []
    print(f"deliveries due in the {args.days} days before {now.isoformat(timespec='minutes')}, by latency SLA"
          + (f" ({clock.note}; --now sets another time)" if clock.note and not args.now else "") + ":")
    for row in rows:
        due = row["due_at"].isoformat(timespec="minutes") if row["due_at"] else "no SLA"
        made = (f"{row['delivery_id']} at {row['created_at'].isoformat(timespec='minutes')}" if row["delivery_id"]
                else "-")
        told = f"  buyer told: {delivery_notice(row['delivery_id'])}" if row["delivery_id"] else ""
        print(f"  {row['state']:<13} {row['contract_id']:<28} {row['window_start']}..{row['window_end']} "
              f"due {due:<22} {made}{told}")
    alerts = sla.read_alerts()
    print(f"SLA alerts recorded: {len(alerts)}" + (f" ({len(raised)} new)" if args.alert else ""))
    for alert in alerts[-20:]:
        print(f"  {alert['raised_at']} {alert['contract_id']} {alert['window_start']} ({alert['source']}; "
              f"e-mail {alert['email']})")
    return 1 if any(row["state"] == "missed" for row in rows) else 0


def _cmd_audit_ledger(args: argparse.Namespace) -> int:
    import pandas as pd

    # only when the command runs: loads deltalake, numpy, pandas, pyarrow
    from jobs.privacy import ledger_entries, ledger_summary, verify_draws, verify_ledger
    from jobs.publish.audit import ledger_anchors  # only when the command runs: loads deltalake, numpy, pandas, pyarrow

    entries = ledger_entries()
    anchors = ledger_anchors()
    problems = verify_ledger(anchors) if len(entries) or anchors else []
    problems += verify_draws() if len(entries) else []  # stored rows against the draw rows their spends recorded
    if problems:
        print(f"ledger: {len(entries)} rows; FAILED verification:")
        for line in problems:
            print(f"  FAIL {line}")
    else:
        print(f"ledger: {len(entries)} rows; keyed hash chain, append-only history, {len(anchors)} anchors "
              "(release log rows and manifests) and the stored draws verified")
    for row in entries.to_dict("records"):
        print(f"  #{row['seq']} {row['kind']:<8} {row['contract_id']} {row['release_id']} "
              f"{row['window_start']}..{row['window_end']} eps {row['epsilon']:g} delta {row['delta']:g}"
              + (f"  ({row['message']})" if row["message"] else ""))
    if len(entries):
        print(f"spent and left per contract, in the fullest {settings.ACCOUNTING_PERIOD_DAYS}-day window "
              "around its latest entry:")
    for contract_id, rows in entries.groupby("contract_id"):
        last = rows.iloc[-1]
        start, end = pd.Timestamp(last["window_start"]).date(), pd.Timestamp(last["window_end"]).date()
        budget = _contract_budget(contract_id)
        s = ledger_summary(contract_id, budget if budget is not None else float("nan"), start, end,
                           unit=last["unit"], lookback_days=int(last["lookback_days"] or 0))
        refusals = int((rows["kind"] == "refusal").sum())
        print(f"  {contract_id}: contract spent {s['contract_epsilon_spent']:g}"
              + (f" of {budget:g}, left {s['contract_epsilon_left']:g}" if budget is not None else "")
              + f"; global epsilon spent {s['global_epsilon_spent']:g} of {s['global_epsilon_cap']:g}, left "
              f"{s['global_epsilon_left']:g}; delta spent {s['global_delta_spent']:g} of {s['global_delta_cap']:g}"
              + (f"; {refusals} refusal(s)" if refusals else ""))
    return 1 if problems else 0


def _contract_budget(contract_id: str) -> float | None:
    try:
        return find_contract(contract_id).budget_epsilon_per_period
    except ContractError:
        return None


def _cmd_audit_dpia(args: argparse.Namespace) -> int:
    from jobs.publish.dpia import write_dpia  # only when the command runs: loads deltalake, numpy, pyarrow

    try:
        written = write_dpia(find_contract(args.contract_id))
    except ContractError as exc:
        print(f"dpia: {exc}", file=sys.stderr)
        return 2
    print(f"DPIA draft (GDPR Art. 35; complete its last section): {written['html']} (and .json)")
    return 0


def _cmd_audit_record(args: argparse.Namespace) -> int:
    from jobs.publish.record import write_record  # only when the command runs: loads deltalake, numpy, pyarrow

    try:
        paths = write_record(find_contract(args.contract_id))
    except ContractError as exc:
        print(f"record: {exc}", file=sys.stderr)
        return 2
    print(f"record of processing (GDPR Art. 30): {paths['html']} (and .json)")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(people=args.people, date=args.date, seed=args.seed)


def _cmd_backfill(args: argparse.Namespace) -> int:
    import subprocess

    from jobs.airflow.orchestration import local_day_bounds  # only when the command runs: loads airflow, jinja2

    start, end = local_day_bounds(args.from_date, args.to_date)
    command = [str(Path(sys.executable).parent / "airflow"), "backfill", "create", "--dag-id", args.dag_id,
               "--from-date", start, "--to-date", end, "--reprocess-behavior", args.reprocess,
               *(["--dry-run"] if args.dry_run else [])]
    print("$ " + " ".join(command[1:]), flush=True)
    return subprocess.call(command)


def _cmd_airflow(args: argparse.Namespace) -> int:
    return serve(port=args.port)


def build_parser() -> argparse.ArgumentParser:
    """The ``cde`` argument parser (every command has ``--help``)."""
    # only when the command runs: loads deltalake, numpy, pandas, pyarrow
    from jobs.ingest.optout import sources_with_identifiers
    from jobs.simulate.main import simulated_feeds  # only when the command runs: loads numpy, pandas, pyarrow

    parser = argparse.ArgumentParser(prog="cde", description="City Data Exchange pipeline")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("simulate", help="write seeded synthetic landing files and reference data")
    p.add_argument("--people", type=int, default=5000, help="simulated people")
    p.add_argument("--days", type=int, default=1, help="simulated local days from --start")
    p.add_argument("--start", type=_date, default=dt.date(2026, 3, 2), help="first simulated local date")
    p.add_argument("--seed", type=int, default=7, help="random seed (the same seed writes the same files)")
    p.add_argument("--events-per-person", type=float, default=40.0, help="mean telco events per person and day")
    p.add_argument("--feeds", nargs="+", default=None, choices=simulated_feeds(),
                   help="default: every simulated feed a registered supplier owns (mno on request)")
    p.add_argument("--force", action="store_true",
                   help="overwrite another simulation's (or a supplier's) reference data and answer key")
    p.add_argument("--network", choices=("sector", "signal"), default="sector",
                   help="how phones pick their serving cell: sector (the facing sector of the nearest site) or "
                        "signal (received signal with shadowing and handover hysteresis)")
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser("ingest", help="ingest one feed's landing folder for a local date",
                       description=f"Feeds: {', '.join(sorted(FEEDS))}.")
    p.add_argument("feed", help=f"the feed: one of {', '.join(sorted(FEEDS))}")
    p.add_argument("--date", type=_date, required=True, help="the local date (YYYY-MM-DD) of the landing folder")
    p.add_argument("--max-invalid-share", type=float, default=0.05,
                   help="refuse the file when more than this share of its rows is quarantined")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("footprints", help="compute the cell footprints of a feed's network topology for a day",
                       description="Writes silver/cell_footprints (weights over H3 resolution-10 tiles per cell) and "
                                   "prints how large the footprints are at each resolution and the finest "
                                   "resolution the network supports (median footprint within 7 cells).")
    p.add_argument("--source", choices=("telco", "mno"), required=True,
                   help="the feed whose topology is read: telco (towers.csv) or mno (the ESS snapshot of the day)")
    p.add_argument("--date", type=_date, required=True, help="the local date (YYYY-MM-DD) the cells are valid on")
    p.set_defaults(func=_cmd_footprints)

    p = sub.add_parser("optout", help="opt-out lists").add_subparsers(dest="sub", required=True)
    p = p.add_parser("apply", help="exclude identifiers at ingest and delete their rows from bronze, silver, "
                                   "quarantine")
    p.add_argument("file", help="text or CSV file, one raw identifier per line (hashed on read)")
    p.add_argument("--source", required=True, choices=sources_with_identifiers(),
                   help="the feed whose identifiers the list names")
    p.add_argument("--list-name", default=None, help="the list's name in ops/optouts (default: the file's name)")
    p.set_defaults(func=_cmd_optout)

    p = sub.add_parser("retention", help="retention").add_subparsers(dest="sub", required=True)
    p = p.add_parser("apply", help="delete data older than each layer keeps, vacuum, remove ingested landing files")
    p.add_argument("--today", type=_date, default=None, help="the local date retention counts from (default: today)")
    for layer, kept in settings.RETENTION_DAYS.items():
        p.add_argument(f"--{layer}-days", type=int, default=None,
                       help=f"days the {layer} layer keeps (default: the policy's {kept})")
    p.add_argument("--vacuum-hours", type=int, default=0,
                   help="hours of removed Delta files kept for readers still on an older version")
    p.set_defaults(func=_cmd_retention)

    p = sub.add_parser("aggregate", help="rebuild silver tables of a local date from bronze")
    p.add_argument("--date", type=_date, required=True, help="the local date (YYYY-MM-DD)")
    p.add_argument("--sources", nargs="+", default=None, help="default: every feed with a bronze table")
    p.set_defaults(func=_cmd_aggregate)

    p = sub.add_parser("publish", help="release and deliver a contract's product for a date window")
    p.add_argument("contract_id", help="the contract's id")
    p.add_argument("--date", type=_date, required=True, help="first local date of the window")
    p.add_argument("--end", type=_date, default=None, help="day after the last date (default: date + 1)")
    p.set_defaults(func=_cmd_publish)

    contracts = sub.add_parser("contracts", help="contract commands").add_subparsers(dest="sub", required=True)
    p = contracts.add_parser("new", help="write a valid starting contract from an example or an offered contract")
    p.add_argument("contract_id", help="the new contract's id (lower case, digits and hyphens)")
    p.add_argument("--from", dest="source", required=True, help="the example or offered contract to start from")
    p.add_argument("--buyer", default=None, help="the buyer's id in reference/buyers.yaml (default: the example's)")
    p.add_argument("--out", default=None, help="the file to write (default: <contract_id>.yaml in the contract store)")
    p.set_defaults(func=_cmd_contracts_new)
    p = contracts.add_parser("validate", help="validate contract files (default: all in contracts/)")
    p.add_argument("paths", nargs="*", help="contract files (default: every file of the contract store)")
    p.set_defaults(func=_cmd_contracts_validate)

    p = contracts.add_parser("plan", help="a year of every contract's schedule against its budget and the global caps")
    p.add_argument("--approved", action="store_true", help="only the contracts every supplier has approved")
    p.set_defaults(func=_cmd_contracts_plan)
    p = contracts.add_parser("advise", help="spend a small epsilon on a DP histogram of contributions per "
                             "person-day and recommend the contribution bound")
    p.add_argument("contract_id", help="the contract's id")
    p.add_argument("--date", type=_date, required=True, help="first local date of the recent data to read")
    p.add_argument("--days", type=int, default=7, help="days to read (default 7)")
    p.add_argument("--metric", default=None, help="one of the contract's metrics (default: each)")
    p.set_defaults(func=_cmd_contracts_advise)
    p = contracts.add_parser("approve", help="record a supplier's approval of a contract's current version, as the "
                             "privacy officer whose portal token CDE_APPROVER_TOKEN holds")
    p.add_argument("contract_id", help="the contract's id (its newest valid version is approved)")
    p.add_argument("--supplier", required=True, help="the supplier approving: one of the contract's suppliers")
    p.add_argument("--approver", default=None, help=argparse.SUPPRESS)  # refused with a reason: a name is no identity
    p.set_defaults(func=_cmd_contracts_approve)

    p = contracts.add_parser("backfill", help="allow one delivery window the contract's schedule does not make "
                             "(recorded with who, when and why; publish refuses such a window otherwise)")
    p.add_argument("contract_id", help="the contract's id")
    p.add_argument("--date", type=_date, required=True, help="first local date of the window")
    p.add_argument("--end", type=_date, required=True, help="the day after the window's last date")
    p.add_argument("--supplier", required=True, help="one of the contract's suppliers (its privacy officer's "
                   "token is CDE_APPROVER_TOKEN)")
    p.add_argument("--approver", default=None, help=argparse.SUPPRESS)  # refused with a reason: a name is no identity
    p.add_argument("--reason", required=True, help="why this window is delivered (recorded)")
    p.set_defaults(func=_cmd_contracts_backfill)

    p = contracts.add_parser("end", help="end a contract: no further release, sharing revoked, deliveries and "
                             "gold deleted after retention_days (audits and the ledger stay)")
    p.add_argument("contract_id", help="the contract's id")
    p.add_argument("--by", required=True, help="who ends it (recorded)")
    p.add_argument("--reason", required=True, help="why (recorded)")
    p.set_defaults(func=_cmd_contracts_end)

    p = sub.add_parser("share", help="run the Delta Sharing server for buyers' products (127.0.0.1) until Ctrl-C")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    p.add_argument("--port", type=int, default=8765, help="the port to listen on")
    p.set_defaults(func=_cmd_share)
    portal = sub.add_parser("portal", help="the exchange's web portal and its accounts").add_subparsers(
        dest="sub", required=True)
    p = portal.add_parser("serve", help="run the portal (127.0.0.1) until Ctrl-C")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000), help="the port (PORT sets it too)")
    p.set_defaults(func=_cmd_portal_serve)
    p = portal.add_parser("init-admin", help="make the first administrator (only while none exists)")
    p.add_argument("username", help="the administrator's user name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=_cmd_portal_init_admin)
    p = portal.add_parser("add-user", help="make a buyer (of a registered buyer) or an operator")
    p.add_argument("username", help="the new account's user name")
    p.add_argument("--role", required=True, help="buyer or operator (officers join by invitation)")
    p.add_argument("--buyer", help="the buyer organisation's id in reference/buyers.yaml (buyers only)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=_cmd_portal_add_user)
    sharing = sub.add_parser("sharing", help="Delta Sharing recipients").add_subparsers(dest="sub", required=True)
    p = sharing.add_parser("add-recipient", help="make a buyer's token and write the profile file it loads")
    p.add_argument("buyer", help="the buyer's id in reference/buyers.yaml")
    p.add_argument("--endpoint", default=None, help="the sharing server's address as the buyer reaches it, written "
                   "into the profile (default: CDE_SHARING_ENDPOINT)")
    p.add_argument("--days", type=int, default=90, help="days until the token expires (default 90)")
    p.set_defaults(func=_cmd_sharing_add)
    p = sharing.add_parser("revoke", help="revoke a buyer's tokens")
    p.add_argument("buyer", help="the buyer's id")
    p.set_defaults(func=_cmd_sharing_revoke)
    p = sharing.add_parser("list", help="list recipients (never tokens)")
    p.set_defaults(func=_cmd_sharing_list)

    regions = sub.add_parser("regions", help="regions: where the pipeline works (CDE_REGION picks one)").add_subparsers(
        dest="sub", required=True)
    p = regions.add_parser("add", help="write regions/<name>/region.yaml (and an empty areas/ folder)")
    p.add_argument("name", help="the region's name (lower-case letters, digits and -), the value of CDE_REGION")
    p.add_argument("--time-zone", required=True, help="IANA time zone of its local days and bins, e.g. Europe/Madrid")
    p.add_argument("--bbox", required=True, help="bounding box west,south,east,north in degrees (WGS 84), e.g. "
                   "--bbox=-3.95,40.25,-3.5,40.6")
    p.add_argument("--boundary", type=Path, default=None, help="a GeoJSON polygon inside the box (default: the box)")
    p.add_argument("--title", default=None, help="a name for people (default: the region's name)")
    p.add_argument("--domestic-mcc", nargs="+", default=[], help="the country's mobile country codes (3 digits, "
                   "e.g. 214 for Spain): other home networks are tourists; products by segment need them")
    p.set_defaults(func=_cmd_regions_add)
    p = regions.add_parser("list", help="the regions, their time zones and boxes; the one in use is marked")
    p.set_defaults(func=_cmd_regions_list)

    p = sub.add_parser("evaluate", help="bench: a delivery's values against the exact counts of the same cut")
    p.add_argument("delivery", help="delivery id or its outbox folder")
    p.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    p.set_defaults(func=_cmd_evaluate)

    audit = sub.add_parser("audit", help="privacy-officer views").add_subparsers(dest="sub", required=True)
    p = audit.add_parser("ledger", help="list the privacy budget ledger and verify its hash chain")
    p.set_defaults(func=_cmd_audit_ledger)
    p = audit.add_parser("deliveries", help="deliveries due by each contract's latency SLA: on time, late or "
                         "missed (exit 1 when any is missed)")
    p.add_argument("--contract", help="only this contract id")
    p.add_argument("--days", type=int, default=7, help="how far back to look (default 7)")
    p.add_argument("--now", help="check as of this time (ISO 8601 with offset; default: the lake's clock, the end "
                   "of a simulated lake's days or now)")
    p.add_argument("--alert", action="store_true", help="record and e-mail an alert for each new miss")
    p.set_defaults(func=_cmd_audit_deliveries)
    p = audit.add_parser("dpia", help="write a contract's data protection impact assessment draft (GDPR Art. 35, "
                         "WP248's structure), every figure computed")
    p.add_argument("contract_id", help="the contract's id")
    p.set_defaults(func=_cmd_audit_dpia)
    p = audit.add_parser("record", help="write a contract's GDPR Art. 30 record of processing")
    p.add_argument("contract_id", help="the contract's id")
    p.set_defaults(func=_cmd_audit_record)

    p = sub.add_parser("demo", help="simulate a day and run the pipeline through Airflow")
    p.add_argument("--people", type=int, default=25000, help="simulated people")
    p.add_argument("--date", type=_date, default=dt.date(2026, 3, 2), help="the simulated local date")
    p.add_argument("--seed", type=int, default=7, help="random seed")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("backfill", help="one Airflow run per local day from --from-date to --to-date (inclusive)")
    p.add_argument("dag_id", help="e.g. ingest_telco or publish_<contract>")
    p.add_argument("--from-date", type=_date, required=True, help="first local date (inclusive)")
    p.add_argument("--to-date", type=_date, required=True, help="last local date (inclusive)")
    p.add_argument("--dry-run", action="store_true", help="list the runs without creating them")
    p.add_argument("--reprocess", choices=["none", "failed", "completed"], default="none",
                   help="days that already have a run: skip them (none), redo failed ones, or redo all")
    p.set_defaults(func=_cmd_backfill)

    p = sub.add_parser("airflow", help="run Airflow (standalone) with the project's DAGs on 127.0.0.1 until Ctrl-C")
    p.add_argument("--port", type=int, default=8080, help="the Airflow UI's port")
    p.set_defaults(func=_cmd_airflow)
    _state_defaults(parser)
    return parser


def _state_defaults(parser: argparse.ArgumentParser) -> None:
    """Append ``(default: X)`` to every option's help that has a default and does not state it already."""
    for action in parser._actions:  # noqa: SLF001 (argparse keeps its actions here; no public walk exists)
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for child in action.choices.values():
                _state_defaults(child)
        elif (action.help and action.help != argparse.SUPPRESS and action.default not in (None, False, [])
              and action.default != argparse.SUPPRESS and "default" not in action.help):
            action.help += f" (default: {action.default})"


def _log_format(verbose: bool) -> tuple[int, str]:
    """Log level and format: INFO on a terminal (the stages, rows and elapsed time of long steps) or with
    ``-v``, warnings only when piped."""
    if verbose or sys.stderr.isatty():
        return logging.INFO, "%(asctime)s +%(relativeCreated).0fms %(levelname)s %(name)s: %(message)s"
    return logging.WARNING, "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _joined_negative_values(argv: list[str]) -> list[str]:
    """``--bbox -3.95,40.25,-3.5,40.6`` as ``--bbox=-3.95,...``: argparse reads a value starting with ``-`` that
    is not a plain number as an option, and a western longitude starts a box."""
    joined, rest = [], list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--bbox" and rest and rest[0].startswith("-"):
            arg = f"--bbox={rest.pop(0)}"
        joined.append(arg)
    return joined


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cde`` and ``python -m jobs``: 0 on success, 1 on a refusal or failure (2 for an
    invalid contract), with one clear line on stderr; a closed pipe (``| head``) ends quietly."""

    args = build_parser().parse_args(_joined_negative_values(sys.argv[1:] if argv is None else argv))
    level, fmt = _log_format(args.verbose)
    logging.basicConfig(level=level, format=fmt)
    logging.getLogger("py4j").setLevel(logging.WARNING)
    # Spark logs a failed task's Java stack at ERROR: it goes to -v (with Spark's warnings), the error to one
    # line. Only for this command: main() also runs inside other processes (tests, the demo), whose later
    # commands must not inherit it.
    spark_level = None if "CDE_SPARK_LOG_LEVEL" in os.environ else "WARN" if args.verbose else "OFF"
    if spark_level:
        os.environ["CDE_SPARK_LOG_LEVEL"] = spark_level
    try:
        return args.func(args)
    except ContractError as exc:
        print(f"{args.command}: contract invalid:\n{exc}", file=sys.stderr)
        return 2
    except Refusal as exc:  # the input, contract or budget says no: a clear message, no traceback
        print(f"{args.command} refused: {exc}{_notes(exc)}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (| head): stop writing, no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print(f"{args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a fault, not a refusal: name it; the traceback with -v
        if args.verbose:
            raise
        print(f"{args.command} failed: {type(exc).__name__}: {error_line(exc)} (rerun with -v for the traceback)"
              f"{_notes(exc)}", file=sys.stderr)
        return 1
    finally:
        if spark_level:
            os.environ.pop("CDE_SPARK_LOG_LEVEL", None)


def _notes(exc: BaseException) -> str:
    # notes added on the way up (a failure after a spend says what was spent and stored)
    return "".join(f"\n{note}" for note in getattr(exc, "__notes__", ()))


def entry() -> None:
    """The ``cde`` console script: ``main``, then stop Spark and leave without running native libraries'
    exit handlers (which can abort an exiting interpreter after a Delta read)."""
    code = main()
    try:
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            active.stop()
    except Exception:  # noqa: BLE001 - leaving anyway
        pass
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = code or 141
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
