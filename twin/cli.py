"""The ``telcotwin`` command: validate, run and describe scenarios.

Exit status: 0 when all went well, 2 for bad input (one line per problem on stderr, nothing
written), 1 for anything else.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from sim.scenario import Problem, ScenarioError, json_schema, load_scenario
from sim.units import format_duration, parse_duration, parse_utc
from twin.store import StoreError

__all__ = ["main"]

EXIT_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="telcotwin",
        description="Try a change on a simulated copy of a mobile network and its OSS/BSS.",
        epilog="Exit status: 0 done, 2 bad input (one line per problem), 1 other failure.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check a scenario file and its network")
    validate.add_argument("file", type=Path, help="scenario YAML file")
    validate.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value, e.g. subscribers.count=9000",
    )

    run = commands.add_parser("run", help="simulate a scenario and write a run directory")
    run.add_argument("file", type=Path, help="scenario YAML file")
    run.add_argument(
        "--out",
        type=Path,
        default=None,
        help="run directory to create (default: runs/<scenario name>-seed<seed>, numbered -2, "
        "-3 ... when taken)",
    )
    run.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value by its key path (repeatable), e.g. "
        "--set traffic.voice.busy_hour_calls=1.5 --set network.nodes[3].cells=6",
    )
    run.add_argument(
        "--store",
        dest="store_url",
        default=None,
        metavar="URL",
        help="SQLAlchemy URL for the twin's store (default: twin.sqlite in the run directory)",
    )
    run.add_argument("--force", action="store_true", help="replace the run directory if it exists")
    run.add_argument("--quiet", action="store_true", help="no progress bar or summary table")
    run.add_argument(
        "--export",
        default="",
        metavar="NAMES",
        help="CSV exports of the BSS written into the run directory, comma-separated: usage "
        "(usage.csv), invoices (invoices.csv, invoice_lines.csv)",
    )

    alarms = _inspect_parser(
        commands,
        "alarms",
        "a run's alarm list as the operator saw it: root causes and their children",
    )
    alarms.add_argument(
        "--at",
        default=None,
        metavar="TIME",
        help="the moment to show: time into the run (19h30m) or UTC (2027-03-01T19:30:00Z); "
        "default: the end of the run",
    )
    alarms.add_argument(
        "--all", action="store_true", help="cleared alarms and children too, not only roots"
    )
    impact = _inspect_parser(
        commands, "impact", "the towers, cells, subscribers and monthly fees behind a resource"
    )
    impact.add_argument(
        "resource",
        help="a node, link or cell id, as in summary.json, or alarm:ID for what an alarm (a root "
        "cause) stands on, as `telcotwin alarms` lists them",
    )
    _inspect_parser(
        commands, "n1", "the single links and nodes whose loss would isolate towers (N-1)"
    )
    _inspect_parser(commands, "sla", "a run's SLA breaches per tower, product and billing cycle")

    _inspect_parser(
        commands, "orders", "a run's product orders: their states, transitions and compensations"
    )
    report = commands.add_parser(
        "report", help="a capacity report (HTML page and per-cell CSV plan) of a scenario or run"
    )
    report.add_argument("source", type=Path, help="scenario YAML file (run first) or run directory")
    report.add_argument("--out", type=Path, required=True, help="report directory to create")
    report.add_argument(
        "--horizon-months", type=int, default=24, help="planning horizon, 1 to 240 (default 24)"
    )
    report.add_argument(
        "--store", dest="store_url", default=None, metavar="URL", help="the run's --store URL"
    )
    report.add_argument("--force", action="store_true", help="replace the report directory")

    compare = commands.add_parser(
        "compare", help="run a scenario and its what-if variants with one seed, side by side"
    )
    compare.add_argument("file", type=Path, help="scenario YAML file with variants:")
    compare.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for compare.json, compare.csv and the runs (default runs/<name>-compare)",
    )
    compare.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    compare.add_argument("--force", action="store_true", help="replace the comparison folder")
    kpis = _inspect_parser(
        commands,
        "kpis",
        "a cell's or link's KPIs over time, or every cell's and link's busy hour (E.500)",
    )
    which = kpis.add_mutually_exclusive_group()
    which.add_argument("--cell", default=None, metavar="ID", help="a cell id, e.g. t-n3/1")
    which.add_argument("--link", default=None, metavar="ID", help="a link id")
    kpis.add_argument(
        "--kpi",
        default=None,
        metavar="NAME",
        help="one KPI of docs/kpis.md (default: all of the resource's); without --cell or "
        "--link, its value in each busy hour",
    )

    from twin import sweep

    sweep.add_arguments(
        commands.add_parser(
            "sweep", help="replications over parameter sets on Dask, with confidence intervals"
        )
    )

    bills = _inspect_parser(commands, "bills", "a run's invoices (BSS), or one customer's")
    bills.add_argument("--customer", default=None, metavar="ID", help="an account id (ACC-1)")
    customer = _inspect_parser(
        commands,
        "customer",
        "a customer's whole picture: subscriptions, usage, bills, SLA breaches, alarms",
    )
    customer.add_argument("account", metavar="ID", help="an account id, e.g. ACC-1")

    from twin import sql_query

    sql_query.add_arguments(
        commands.add_parser(
            "sql", help="SQL over a run directory's tables and time series (DuckDB)"
        )
    )

    schema = commands.add_parser("schema", help="print the scenario format as JSON Schema")
    schema.add_argument("--out", type=Path, default=None, help="write to a file instead")
    return parser


def _inspect_parser(commands: Any, name: str, summary: str) -> argparse.ArgumentParser:
    """A command that inspects a finished run: its directory, --json and --store."""
    parser: argparse.ArgumentParser = commands.add_parser(name, help=summary)
    parser.add_argument("run_dir", type=Path, help="run directory written by `telcotwin run`")
    parser.add_argument("--json", action="store_true", help="JSON for scripts")
    parser.add_argument(
        "--store", dest="store_url", default=None, metavar="URL", help="the run's --store URL"
    )
    return parser


def _bad_input(error: ScenarioError) -> int:
    for problem in error.problems:
        print(problem, file=sys.stderr)
    return EXIT_BAD_INPUT


def _load(args: argparse.Namespace) -> Any:
    return load_scenario(args.file, overrides=args.overrides)


def _validate(args: argparse.Namespace) -> int:
    from sim.engine import Simulation
    from twin.feed import RecordingSink

    scenario = _load(args)
    sim = Simulation(scenario, RecordingSink(), base_dir=args.file.parent, file=args.file.name)
    topo = sim.topo
    variants = ""
    if scenario.variants:  # each what-if built as compare and sweep would, before saying valid
        from reports.compare import check_variant_networks
        from sim.scenario import apply_overrides, read_yaml
        from sim.variants import scenario_variants

        raw = apply_overrides(read_yaml(args.file), list(args.overrides or []), args.file.name)
        built = scenario_variants(raw, args.file.name)
        check_variant_networks(built, args.file)
        count = len(built) - 1
        variants = f", and {count} variant{'' if count == 1 else 's'}"
    print(
        f"{args.file}: valid: {topo.n_towers} towers, {topo.n_cells} cells, "
        f"{topo.n_links} links, {scenario.subscribers.count} subscribers, "
        f"{len(scenario.events)} events over {format_duration(scenario.duration)}{variants}"
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    from twin.run import run_scenario

    scenario = _load(args)
    seed = scenario.seed if args.seed is None else args.seed
    if args.seed is not None and not 0 <= args.seed < 2**63:
        print(f"{args.file.name}: --seed: must be from 0 to 2**63-1", file=sys.stderr)
        return EXIT_BAD_INPUT
    # The default directory is numbered -2, -3 ... when taken; a named --out never is: it is
    # refused or, with --force, replaced.
    out = args.out or Path("runs") / f"{scenario.name}-seed{seed}"
    numbered = args.out is None and not args.force
    show = not args.quiet and sys.stderr.isatty()
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(
            total=round(scenario.duration),
            desc=scenario.name,
            file=sys.stderr,
            leave=False,
            bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]",
        )
    total = format_duration(scenario.duration)

    def progress(now: float) -> None:
        if bar is not None:
            bar.set_description_str(
                f"{scenario.name}: {format_duration(now)} of {total}", refresh=False
            )
            bar.update(round(now) - bar.n)

    def notice(line: str) -> None:
        if bar is not None:
            bar.write(line, file=sys.stderr)  # above the bar, not through it
        else:
            print(line, file=sys.stderr)

    try:
        result = run_scenario(
            scenario,
            out,
            base_dir=args.file.parent,
            seed=args.seed,
            file=args.file.name,
            store_url=args.store_url,
            force=args.force,
            numbered=numbered,
            progress=progress,
            notice=notice,
            exports=[name.strip() for name in args.export.split(",") if name.strip()],
        )
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        print(format_summary(result.summary))
    files = ", ".join(
        name
        for name in (
            "summary.json",
            "twin.sqlite",
            "timeseries/",
            "scenario.json",
            "run.json",
            "truth.json",
            "usage.csv",
            "invoices.csv",
            "invoice_lines.csv",
        )
        if (result.out_dir / name).exists()
    )
    print(f"wrote {out.with_name(result.out_dir.name)}/ ({files})")
    return 0


def format_summary(summary: dict[str, Any], worst: int = 8) -> str:
    """Return the end-of-run table: totals, the most blocked cells, outages."""
    v, d = summary["voice"], summary["data"]
    lines = [
        f"{summary['scenario']}  seed {summary['seed']}  from {summary['start']}  for "
        f"{format_duration(summary['duration_s'])}  {summary['subscribers']} subscribers",
        "",
        f"  voice  offered {v['offered']:>12,}  carried {v['carried']:>12,}  "
        f"blocked {v['blocked']:>9,} ({v['blocking']:.2%})",
        f"         failed  {v['failed']:>12,}  dropped {v['dropped']:>12,}  "
        f"minutes {v['minutes']:>14,.0f}",
        f"  data   sessions {d['sessions']:>11,}  demand {d['demand_mb'] / 1e6:>10,.2f} TB  "
        f"served {d['served_mb'] / 1e6:>8,.2f} TB ({_share(d['served_mb'], d['demand_mb'])})",
    ]
    cells = summary["cells"]
    ranked = sorted(
        cells.items(),
        key=lambda kv: (
            -kv[1]["voice_blocked"] / max(1, kv[1]["voice_offered"] - kv[1]["voice_failed"]),
            kv[1]["availability"],
            -kv[1]["busy_hour_erlangs"] / kv[1]["voice_channels"],
            kv[0],
        ),
    )[:worst]
    width = max([24, *(len(cell_id) for cell_id, _ in ranked)])
    lines += [
        "",
        f"  {'cell':<{width}} {'channels':>8} {'busy hour':>9} {'E':>7} {'blocking':>9} "
        f"{'dropped':>8} {'util p95':>8} {'avail':>8}",
    ]
    for cell_id, c in ranked:
        blocking = c["voice_blocked"] / max(1, c["voice_offered"] - c["voice_failed"])
        lines.append(
            f"  {cell_id:<{width}} {c['voice_channels']:>8} {c['busy_hour_start']:>9} "
            f"{c['busy_hour_erlangs']:>7.2f} "
            f"{blocking:>9.2%} {c['voice_dropped']:>8} {c['utilization_p95']:>8.2f} "
            f"{c['availability']:>8.4f}"
        )
    if len(cells) > worst:
        lines.append(f"  ({len(cells) - worst} more cells in summary.json)")
    outages = summary["outages"]
    lines += ["", f"  outages: {len(outages)}"]
    for o in outages[:worst]:
        end = "open" if o["end_s"] is None else format_duration(o["end_s"])
        lines.append(
            f"    {o['resource']:<24} {o['kind']:<12} {o['cause']:<9} "
            f"{format_duration(o['start_s']):>10} -> {end}"
        )
    if len(outages) > worst:
        lines.append(f"    ({len(outages) - worst} more in summary.json)")
    alarms = summary.get("alarms")
    if alarms:
        keys = ("rca_accuracy", "suppression_precision", "suppression_recall")
        scores = [alarms[k] for k in keys]
        shown = ["-" if x is None else f"{x:.2f}" for x in scores]
        lines += [
            "",
            f"  alarms: {alarms['notifications']:,} notifications, "
            f"{len(alarms['root_causes']):,} root causes (telcotwin alarms RUN_DIR)",
            f"          against the truth: faults named {shown[0]}, alarms put under the right "
            f"root: precision {shown[1]}, recall {shown[2]}",
        ]
    thresholds = summary.get("thresholds")
    if thresholds and thresholds["raised"]:
        by_kpi = ", ".join(f"{k} {n:,}" for k, n in sorted(thresholds["raised_by_kpi"].items()))
        lines += ["", f"  threshold alarms: {thresholds['raised']:,} raised ({by_kpi})"]
    from twin.sla_report import summary_lines

    lines += summary_lines(summary)
    orders = summary.get("orders")
    if orders and any(orders.values()):
        states = ", ".join(f"{n:,} {state}" for state, n in orders.items() if n)
        lines += ["", f"  orders: {states} (telcotwin orders RUN_DIR)"]
    billing = summary.get("billing")
    if billing:
        at_risk = summary["revenue"]["at_risk"]
        lines += [
            "",
            f"  billing: {billing['invoices']:,} invoices, total {billing['total']} "
            f"{billing['currency']} (recurring {billing['recurring']}, usage {billing['usage']}, "
            f"credits {billing['credits']}, tax {billing['tax']}; telcotwin bills RUN_DIR)",
            f"           revenue at risk {at_risk['total']} (SLA credits and lost usage at "
            "overage rates)",
        ]
    return "\n".join(lines)


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.2%}" if whole else "-"


def _alarms(args: argparse.Namespace) -> int:
    from twin.readback import alarms_at, open_run

    run = open_run(args.run_dir, args.store_url)
    try:
        at_s = None if args.at is None else _moment(args.at, run.start, run.duration_s)
        alarms = alarms_at(run, at_s, everything=args.all)
    finally:
        run.close()
    if args.json:
        print(json.dumps(alarms, indent=2))
        return 0
    when = "the end of the run" if at_s is None else format_duration(at_s)
    kind = "alarms (all)" if args.all else "active alarms (root causes and lone alarms)"
    print(f"{args.run_dir}: {len(alarms)} {kind} at {when}")
    if alarms:
        width = max(12, *(len(a["alarmed_object"]) for a in alarms))
        print(
            f"  {'id':>5} {'severity':<9} {'object':<{width}} {'problem':<36} "
            f"{'raised':>10} {'cleared':>10} {'count':>5} {'children':>8}  ack"
        )
    for a in alarms:
        cleared = "" if a["cleared_time_s"] is None else format_duration(a["cleared_time_s"])
        root = "root " if a["is_root_cause"] else ""
        candidates = f" (one of {', '.join(a['root_candidates'])})" if a["root_candidates"] else ""
        print(
            f"  {a['alarm_id']:>5} {a['perceived_severity']:<9} {a['alarmed_object']:<{width}} "
            f"{a['specific_problem'][:36]:<36} {format_duration(a['raised_time_s']):>10} "
            f"{cleared:>10} {a['count']:>5} {a['children']:>8}  "
            f"{a['ack_state'][:5]} {root}{candidates}".rstrip()
        )
    return 0


def _orders(args: argparse.Namespace) -> int:
    from twin.bss.order_report import format_orders, stored_orders
    from twin.readback import open_run

    run = open_run(args.run_dir, args.store_url)
    try:
        orders = stored_orders(run)
    finally:
        run.close()
    print(json.dumps(orders, indent=2) if args.json else format_orders(orders, str(args.run_dir)))
    return 0


def _mirror_and_fees(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The run's inventory mirror, and each product's monthly fee from its catalog."""
    from decimal import Decimal

    from twin.oss.inventory import InventoryMirror
    from twin.readback import monthly_fees, open_run

    catalog_fees: dict[str, Decimal] = {}
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        catalog = json.loads((args.run_dir / "scenario.json").read_text())["catalog"]
        catalog_fees = {p["id"]: Decimal(p["monthly_fee"]) for p in catalog["products"]}
    run = open_run(args.run_dir, args.store_url)
    try:
        mirror = InventoryMirror.from_inventory(run.inventory())
        fees = monthly_fees(run, catalog_fees) if catalog_fees else {}
    finally:
        run.close()
    return mirror, fees


def _impact(args: argparse.Namespace) -> int:
    from decimal import Decimal

    from twin.oss.inventory import impact

    mirror, fees = _mirror_and_fees(args)
    if args.resource.startswith("alarm:"):
        args.resource = _alarmed_object(args, args.resource.removeprefix("alarm:"))
    if mirror.kind(args.resource) is None:
        raise ScenarioError(
            [Problem(str(args.run_dir), "", f"no node, link or cell '{args.resource}' in the run")]
        )
    found = impact(mirror, args.resource, fees or None)
    fee = None
    if found.monthly_fees is not None:
        # written to the catalog's decimals even when nothing is at stake (0.00, not 0)
        zero = next((fee * 0 for fee in fees.values()), Decimal(0))  # 15.00 * 0 = 0.00
        fee = str(found.monthly_fees + zero)
    if args.json:
        print(
            json.dumps(
                {
                    "resource": args.resource,
                    "towers": list(found.towers),
                    "cells": list(found.cells),
                    "subscribers": found.subscribers,
                    "subscribers_by_product": dict(found.subscribers_by_product),
                    "monthly_fees": fee,
                },
                indent=2,
            )
        )
        return 0
    print(
        f"{args.resource}: {len(found.towers)} towers, {len(found.cells)} cells and "
        f"{found.subscribers:,} subscribers behind it"
        + ("" if fee is None else f"; {fee} a month in fees at stake")
    )
    for product, count in sorted(found.subscribers_by_product.items()):
        print(f"  {product or '(no product)'}: {count:,} subscribers")
    if found.towers:
        print(f"  towers: {', '.join(found.towers)}")
    return 0


def _alarmed_object(args: argparse.Namespace, alarm: str) -> str:
    """The resource an alarm of the run stands on (a root cause's inferred resource)."""
    from twin.readback import alarms_at, open_run

    run = open_run(args.run_dir, args.store_url)
    try:
        found = [a for a in alarms_at(run, everything=True) if str(a["alarm_id"]) == alarm]
    finally:
        run.close()
    if not found:
        raise ScenarioError([Problem(str(args.run_dir), "", f"no alarm {alarm} in the run")])
    return str(found[0]["alarmed_object"])


def _n1(args: argparse.Namespace) -> int:
    from twin.oss.inventory import n_minus_1

    mirror, _ = _mirror_and_fees(args)
    points = n_minus_1(mirror)
    if args.json:
        rows = [
            {
                "resource": p.resource,
                "kind": p.kind,
                "towers": list(p.towers),
                "subscribers": p.subscribers,
            }
            for p in points
        ]
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{args.run_dir}: {len(points)} single points of failure (N-1), most subscribers first")
    if points:
        width = max(12, *(len(p.resource) for p in points))
        print(f"  {'resource':<{width}} {'kind':<12} {'towers':>7} {'subscribers':>12}")
    for p in points:
        print(f"  {p.resource:<{width}} {p.kind:<12} {len(p.towers):>7} {p.subscribers:>12,}")
    return 0


def _sla(args: argparse.Namespace) -> int:
    from twin.readback import open_run
    from twin.sla_report import format_sla, sla_by_tower

    run = open_run(args.run_dir, args.store_url)
    try:
        rows = sla_by_tower(run)
    finally:
        run.close()
    summary = json.loads((args.run_dir / "summary.json").read_text(encoding="utf-8"))
    if summary.get("sla") is None:  # not measured is not "no breach"
        print(
            "null"
            if args.json
            else f"{args.run_dir}: SLAs were not measured in this run (no catalog product with "
            "an sla, or twin.service_assurance: false)"
        )
        return 0
    print(json.dumps(rows, indent=2) if args.json else format_sla(str(args.run_dir), rows))
    return 0


def _moment(text: str, start: str, duration_s: float) -> float:
    """Seconds into the run of ``--at``: a duration, or a UTC time within the run."""
    try:
        if text[:1].isdigit() and "-" in text:
            at_s = (parse_utc(text) - parse_utc(start)).total_seconds()
        else:
            at_s = parse_duration(text)
    except ValueError as error:
        raise ScenarioError([Problem("--at", "", str(error))]) from None
    if not 0 <= at_s <= duration_s:
        end = format_duration(duration_s)
        raise ScenarioError([Problem("--at", "", f"{text} is outside the run (0s to {end})")])
    return at_s


def _report(args: argparse.Namespace) -> int:
    from reports.command import make_report

    make_report(
        args.source,
        args.out,
        horizon_months=args.horizon_months,
        store_url=args.store_url,
        force=args.force,
    )
    print(f"wrote {args.out}/ (capacity_report.html, capacity_plan.csv)")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from reports.compare import compare, format_table

    if args.seed is not None and not 0 <= args.seed < 2**63:
        print(f"{args.file.name}: --seed: must be from 0 to 2**63-1", file=sys.stderr)
        return EXIT_BAD_INPUT
    out, runs = compare(args.file, args.out, seed=args.seed, force=args.force)
    print(format_table(runs))
    print(f"wrote {out}/ (compare.json, compare.csv, a run directory per variant)")
    return 0


def _kpis(args: argparse.Namespace) -> int:
    from twin.kpi_report import busy_hour_list, format_busy_hours, format_series, kpi_series
    from twin.readback import open_run

    run = open_run(args.run_dir, args.store_url)
    try:
        if args.cell is None and args.link is None:
            found = busy_hour_list(run, args.kpi)
            text = format_busy_hours(found, args.kpi)
        else:
            found = kpi_series(run, cell=args.cell, link=args.link, kpi=args.kpi)
            text = format_series(found, format_duration)
    finally:
        run.close()
    print(json.dumps(found, indent=2) if args.json else text)
    return 0


def _schema(args: argparse.Namespace) -> int:
    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from twin.sweep import command

    return command(args)


def _bills(args: argparse.Namespace) -> int:
    from twin.bss.views import show_bills

    return show_bills(args.run_dir, args.store_url, args.customer, as_json=args.json)


def _customer(args: argparse.Namespace) -> int:
    from twin.bss.views import show_customer

    return show_customer(args.run_dir, args.store_url, args.account, as_json=args.json)


def _sql(args: argparse.Namespace) -> int:
    from twin.sql_query import command

    return command(args)


def _terminated(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # so a killed run cleans up as Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if on_main_thread else None
    try:
        return _dispatch(args)
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _dispatch(args: argparse.Namespace) -> int:
    handlers = {
        "validate": _validate,
        "run": _run,
        "schema": _schema,
        "alarms": _alarms,
        "impact": _impact,
        "n1": _n1,
        "orders": _orders,
        "report": _report,
        "compare": _compare,
        "sla": _sla,
        "kpis": _kpis,
        "sweep": _sweep,
        "bills": _bills,
        "customer": _customer,
        "sql": _sql,
    }
    try:
        return handlers[args.command](args)
    except ScenarioError as error:
        return _bad_input(error)
    except KeyboardInterrupt:
        print("interrupted: nothing written", file=sys.stderr)
        return 130
    except StoreError as error:
        print(f"telcotwin: store: {error}; nothing written", file=sys.stderr)
        return 1
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        print(f"telcotwin: {where}{error.strerror or error}; nothing written", file=sys.stderr)
        return 1


def entry() -> None:
    """The ``telcotwin`` command: :func:`main`, then out without the interpreter's teardown.

    When a command has returned, everything it writes is written and closed (a run's directory
    is in place, its store committed and its thread joined). Tearing the interpreter down after
    that frees every object and unloads numba's compiler: about 1 s after a national day, 0.6 s
    of it LLVM's (docs/national-month.md), all of it time the user waits for nothing. So the
    streams are flushed and the process ends with the command's status. An exception (a crash,
    argparse's exit) takes the ordinary way out, with its traceback or message.
    """
    status = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a reader gone (| head): nothing more to say
            stream.flush()
    os._exit(status)


if __name__ == "__main__":
    entry()
