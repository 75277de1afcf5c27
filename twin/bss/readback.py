"""The BSS of a finished run read back from its store: the CSV exports, bills, a customer.

Only the store is read (``twin.sqlite`` or the run's ``--store``), never the simulator's truth.

The exports (``telcotwin run --export usage,invoices``), written into the run directory so that
anyone can reconcile every bill from raw usage in a spreadsheet:

- ``usage.csv``: record_id, subscription, product, kind, start, quantity, unit, rated_amount;
  one row per usage record and kind (``voice`` in whole minutes, ``data`` in whole MB, each
  rounded up per record; kinds with no usage left out), in the order rated. ``rated_amount`` is
  exact (the part beyond the allowance times the overage rate), not yet rounded.
- ``invoices.csv``: invoice_id, account, period_start, period_end, currency, total.
- ``invoice_lines.csv``: invoice_id, subscription, kind, description, quantity, unit_price,
  amount. A recurring line's amount is ``unit_price x quantity / days of the cycle`` (the
  description names them), an overage line's ``unit_price x quantity``, each rounded half-up.
"""

from __future__ import annotations

import csv
from collections import namedtuple
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, select

from sim.scenario import Problem, Scenario, ScenarioError
from twin.bss.catalog import decimal_from_nano, minor_digits
from twin.bss.records import describe_overage, describe_recurring, format_minor
from twin.bulk import SERIES_DIR
from twin.oss.inventory import InventoryMirror, impact
from twin.readback import StoredRun
from twin.store import (
    alarm_history,
    billing_cycles,
    billing_rates,
    cells,
    credits,
    invoice_adjustments,
    invoice_charges,
    invoices,
    open_engine,
    runs,
)
from twin.timeseries import ledger_in_files, read_columns, read_ledger, read_subscribers

__all__ = [
    "EXPORTS",
    "EXPORT_FILES",
    "bills",
    "check_exports",
    "customer",
    "export_run",
    "invoice_lines",
    "write_exports",
]

EXPORTS = {
    "usage": ("usage.csv",),
    "invoices": ("invoices.csv", "invoice_lines.csv"),
}
EXPORT_FILES = frozenset(name for files in EXPORTS.values() for name in files)


def _utc(start: datetime, seconds: float) -> str:
    return (start + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _start(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_USAGE_COLUMNS = [
    "record_id",
    "subscription",
    "product",
    "kind",
    "start",
    "quantity",
    "unit",
    "rated_amount",
]
_INVOICE_COLUMNS = ["invoice_id", "account", "period_start", "period_end", "currency", "total"]
_LINE_COLUMNS = [
    "invoice_id",
    "subscription",
    "kind",
    "description",
    "quantity",
    "unit_price",
    "amount",
]


def check_exports(scenario: Scenario, exports: list[str], file: str) -> None:
    """Bad input, before a run starts: an export name unknown, or the BSS not running."""
    problems = [
        Problem(file, "--export", f"unknown export '{name}'; choose from {', '.join(EXPORTS)}")
        for name in exports
        if name not in EXPORTS
    ]
    if exports and not problems and (scenario.catalog is None or not scenario.twin.business):
        why = "has no catalog" if scenario.catalog is None else "turns the BSS off (twin.business)"
        problems.append(Problem(file, "--export", f"the scenario {why}: nothing to export"))
    if problems:
        raise ScenarioError(problems)


def export_run(url: str, run_id: str, start: datetime, directory: Path, names: list[str]) -> None:
    """Write the exports ``names`` of run ``run_id`` from the store at ``url`` into
    ``directory`` (a run's partial directory, so they are part of its atomic write)."""
    series_dir = directory / SERIES_DIR
    in_files = series_dir.is_dir()  # the run directory's Parquet files, else the database's
    engine = open_engine(url, series=not in_files)
    try:
        run = StoredRun(directory, engine, run_id, start.isoformat(), 0.0, series_dir)
        write_exports(run if in_files else replace(run, series_dir=None), start, directory, names)
    finally:
        engine.dispose()


def write_exports(run: StoredRun, start: datetime, directory: Path, names: list[str]) -> None:
    """Write the CSV files of the exports ``names`` (keys of :data:`EXPORTS`)."""
    run_id = run.run_id
    with run.engine.connect() as connection:
        if "usage" in names:
            with (directory / "usage.csv").open("w", newline="", encoding="utf-8") as file:
                out = csv.writer(file)
                out.writerow(_USAGE_COLUMNS)
                for record in _usage_records(connection, run, start):
                    out.writerow(record)
        if "invoices" in names:
            with (directory / "invoices.csv").open("w", newline="", encoding="utf-8") as file:
                out = csv.writer(file)
                out.writerow(_INVOICE_COLUMNS)
                for invoice in _invoice_rows(connection, run_id, start):
                    out.writerow([invoice[c] for c in _INVOICE_COLUMNS])
            with (directory / "invoice_lines.csv").open("w", newline="", encoding="utf-8") as file:
                out = csv.writer(file)
                out.writerow(_LINE_COLUMNS)
                for invoice_id, line in invoice_lines(connection, run):
                    out.writerow([invoice_id, *(line[c] for c in _LINE_COLUMNS[1:])])


def _usage_records(connection: Connection, run: StoredRun, start: datetime) -> Iterator[list[Any]]:
    """usage.csv's rows: each rated usage record, voice and data apart, in the order rated
    (by period, then subscriber: the order the query API gives)."""
    held = read_subscribers(run)
    products = {
        subscription: product
        for subscription, product in zip(
            held["subscription"].tolist(), held["product"].tolist(), strict=True
        )
        if subscription is not None
    }
    names = ["start_s", "subscription", "billed_minutes", "voice_nano", "billed_mb", "data_nano"]
    rated = read_columns(run, "usage", names, where={"status": "rated"})
    for start_s, subscription, minutes, voice_nano, megabytes, data_nano in zip(
        *(rated[n].tolist() for n in names), strict=True
    ):
        when = _utc(start, start_s)
        for kind, quantity, unit, nano in (
            ("voice", minutes, "min", voice_nano),
            ("data", megabytes, "MB", data_nano),
        ):
            if quantity:
                yield [
                    f"{subscription}/{when}/{kind}",
                    subscription,
                    products.get(subscription, ""),
                    kind,
                    when,
                    quantity,
                    unit,
                    decimal_from_nano(nano),
                ]


_CUSTOMER_USAGE = [
    "start_s",
    "end_s",
    "billed_minutes",
    "billed_mb",
    "voice_nano",
    "data_nano",
    "cycle",
    "status",
]


def _invoice_rows(
    connection: Connection, run_id: str, start: datetime, *conditions: Any
) -> Iterator[dict[str, Any]]:
    cycles = _cycles(connection, run_id)
    query = (
        select(invoices)
        .where(invoices.c.run_id == run_id, *conditions)
        .order_by(invoices.c.cycle, invoices.c.invoice_id)
    )
    for row in connection.execute(query):
        cycle = cycles[row.cycle]
        yield {
            "invoice_id": row.invoice_id,
            "account": row.account_id,
            "period_start": _utc(start, cycle.period_start_s),
            "period_end": _utc(start, cycle.period_end_s),
            "currency": cycle.currency,
            "total": format_minor(row.total_minor, cycle.minor_digits),
            "digits": cycle.minor_digits,
        }


def _cycles(connection: Connection, run_id: str) -> dict[int, Any]:
    """The run's billing cycles by number: their periods, currency and its minor unit."""
    query = select(billing_cycles).where(billing_cycles.c.run_id == run_id)
    return {row.cycle: row for row in connection.execute(query)}


def _charges(connection: Connection, run: StoredRun, invoice: str | None) -> Iterator[Any]:
    """The run's ``invoice_charges`` rows (or one invoice's) by invoice id, then charge: from
    the run directory's Parquet file, or the database's table."""
    if ledger_in_files(run):
        columns = read_ledger(run, "invoice_charges", invoice)
        ids = columns["invoice_id"]
        # written by charge within a cycle, and an id is one cycle's: a stable sort by id
        # (code point order, SQLite's) gives the SQL query's order
        by_id = np.argsort(ids.astype(str), kind="stable") if len(ids) else np.arange(0)
        names = list(columns)
        values = [columns[n][by_id].tolist() for n in names]
        row = namedtuple("row", names)  # type: ignore[misc]
        return map(row._make, zip(*values, strict=True))
    query = select(invoice_charges).where(invoice_charges.c.run_id == run.run_id)
    if invoice is not None:
        query = query.where(invoice_charges.c.invoice_id == invoice)
    return iter(
        connection.execute(query.order_by(invoice_charges.c.invoice_id, invoice_charges.c.charge))
    )


def invoice_lines(
    connection: Connection, run: StoredRun, invoice: str | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(invoice id, line) for every line of the run's invoices (or one invoice's), by invoice
    id: each subscription's charges (recurring, then voice and data beyond the allowances when
    not zero), then the invoice's adjustments."""
    run_id = run.run_id
    cycles = _cycles(connection, run_id)
    adjustments: dict[str, list[Any]] = {}
    query = select(invoice_adjustments).where(invoice_adjustments.c.run_id == run_id)
    if invoice is not None:
        query = query.where(invoice_adjustments.c.invoice_id == invoice)
    for row in connection.execute(query.order_by(invoice_adjustments.c.line)):
        adjustments.setdefault(row.invoice_id, []).append(row)
    rates = {
        (row.cycle, row.product): row
        for row in connection.execute(select(billing_rates).where(billing_rates.c.run_id == run_id))
    }
    query = select(invoices.c.invoice_id, invoices.c.cycle).where(invoices.c.run_id == run_id)
    if invoice is not None:
        query = query.where(invoices.c.invoice_id == invoice)
    cycle_of: dict[str, int] = dict(connection.execute(query).all())
    digits = {i: cycles[c].minor_digits for i, c in cycle_of.items()}
    current: str | None = None

    def flush(invoice_id: str | None) -> Iterator[tuple[str, dict[str, Any]]]:
        if invoice_id is None:
            return
        for row in adjustments.pop(invoice_id, []):
            yield (
                invoice_id,
                {
                    "subscription": row.subscription,
                    "kind": row.kind,
                    "description": row.description,
                    "quantity": row.quantity,
                    "unit_price": row.unit_price,
                    "amount": format_minor(row.amount_minor, digits[invoice_id]),
                },
            )

    for row in _charges(connection, run, invoice):
        if row.invoice_id != current:
            yield from flush(current)
            current = row.invoice_id
        places = digits[row.invoice_id]
        rate = rates[cycle_of[row.invoice_id], row.product]
        yield (
            row.invoice_id,
            {
                "subscription": row.subscription,
                "kind": "recurring",
                "description": describe_recurring(rate.product_name, row.days, rate.cycle_days),
                "quantity": row.days,
                "unit_price": row.monthly_fee,
                "amount": format_minor(row.recurring_minor, places),
            },
        )
        for kind, quantity, price, amount in (
            ("voice", row.minutes_over, rate.minute_price, row.voice_minor),
            ("data", row.mb_over, rate.mb_price, row.data_minor),
        ):
            if quantity:
                yield (
                    row.invoice_id,
                    {
                        "subscription": row.subscription,
                        "kind": f"{kind}_overage",
                        "description": describe_overage(rate.product_name, kind),
                        "quantity": quantity,
                        "unit_price": price,
                        "amount": format_minor(amount, places),
                    },
                )
    yield from flush(current)
    for invoice_id in sorted(adjustments):  # invoices with no charges (none so far)
        yield from flush(invoice_id)


def _invoices_where(run: StoredRun, *conditions: Any) -> list[dict[str, Any]]:
    """Invoices with their lines, oldest first."""
    start = _start(run.start)
    with run.engine.connect() as connection:
        found = list(_invoice_rows(connection, run.run_id, start, *conditions))
        wanted = {invoice["invoice_id"] for invoice in found}
        lines: dict[str, list[dict[str, Any]]] = {}
        # one invoice (a customer's): its lines alone; more: one pass over every line, since
        # each reading of the charges goes through the whole file (Parquet) or table
        one = next(iter(wanted)) if len(wanted) == 1 else None
        if wanted:
            for invoice_id, line in invoice_lines(connection, run, one):
                if invoice_id in wanted:
                    lines.setdefault(invoice_id, []).append(line)
        for invoice in found:
            invoice.pop("digits")
            invoice["lines"] = lines.get(invoice["invoice_id"], [])
    return found


def bills(run: StoredRun, account: str | None = None) -> list[dict[str, Any]]:
    """The run's invoices (TMF678 customer bills), or one account's."""
    conditions = [] if account is None else [invoices.c.account_id == account]
    return _invoices_where(run, *conditions)


def accounts_known(run: StoredRun) -> set[str]:
    return {a for a in read_subscribers(run)["account"].tolist() if a is not None}


def customer(run: StoredRun, account: str) -> dict[str, Any] | None:
    """A customer's whole picture: its subscriptions and products, their usage, its bills, SLA
    breaches credited and the alarms raised on its subscriptions' cells and towers. None when
    the run has no such account. (Orders join here once ordering stores them.)"""
    start = _start(run.start)
    with run.engine.connect() as connection:
        held = read_subscribers(run)
        mine = np.flatnonzero(held["account"] == account)  # by subscriber, as held
        picked = {name: values[mine].tolist() for name, values in held.items()}
        subs = [
            SimpleNamespace(**{name: picked[name][k] for name in picked}) for k in range(len(mine))
        ]
        if not subs:
            return None
        currency = connection.execute(
            select(runs.c.currency).where(runs.c.run_id == run.run_id)
        ).scalar()
        digits = minor_digits(currency or "")
        cycles_billed = (
            connection.execute(
                select(func.max(invoices.c.cycle)).where(invoices.c.run_id == run.run_id)
            ).scalar()
            or 0
        ) + 1
        towers = dict(
            connection.execute(
                select(cells.c.cell_id, cells.c.tower).where(cells.c.run_id == run.run_id)
            ).all()
        )
        pictures = []
        places: set[str] = set()
        for sub in subs:
            found = read_columns(run, "usage", _CUSTOMER_USAGE, {"subscription": sub.subscription})
            records = [
                SimpleNamespace(**dict(zip(_CUSTOMER_USAGE, values, strict=True)))
                for values in zip(*(found[n].tolist() for n in _CUSTOMER_USAGE), strict=True)
            ]
            tower = towers.get(sub.cell_id, "")
            places.update(p for p in (sub.cell_id, tower) if p)
            pictures.append(
                {
                    "subscription": sub.subscription,
                    "product": sub.product,
                    "subscriber": sub.subscriber,
                    "cell": sub.cell_id,
                    "tower": tower,
                    "since": _utc(start, sub.since_s),
                    "usage": [
                        {
                            "start": _utc(start, u.start_s),
                            "end": _utc(start, u.end_s),
                            "voice_minutes": u.billed_minutes,
                            "data_mb": u.billed_mb,
                            "rated_amount": str(
                                decimal_from_nano(int(u.voice_nano) + int(u.data_nano))
                            ),
                            "status": "billed" if u.cycle < cycles_billed else u.status,
                        }
                        for u in records
                    ],
                }
            )
        breaches = connection.execute(
            select(credits)
            .where(credits.c.run_id == run.run_id, credits.c.account_id == account)
            .order_by(credits.c.time_s)
        ).all()
        alarmed = set(
            connection.execute(
                select(alarm_history.c.alarmed_object)
                .where(alarm_history.c.run_id == run.run_id)
                .distinct()
            ).scalars()
        )
        touching = _touching(run, alarmed, places)
        alarm_rows = connection.execute(
            select(alarm_history)
            .where(
                alarm_history.c.run_id == run.run_id,
                alarm_history.c.alarmed_object.in_(touching),
            )
            .order_by(alarm_history.c.seq)
        ).all()
    alarms: dict[int, dict[str, Any]] = {}
    for a in alarm_rows:  # each alarm as it was after its last change
        alarms[a.alarm_id] = {
            "alarm_id": a.alarm_id,
            "alarmed_object": a.alarmed_object,
            "perceived_severity": a.perceived_severity,
            "specific_problem": a.specific_problem,
            "why": "on its cell or tower"
            if a.alarmed_object in places
            else "its cells were out with it (impact)",
            "raised": _utc(start, a.raised_time_s),
            "cleared": None if a.cleared_time_s is None else _utc(start, a.cleared_time_s),
        }
    return {
        "account": account,
        "subscriptions": pictures,
        "bills": _invoices_where(run, invoices.c.account_id == account),
        "sla_breaches": [
            {
                "subscription": b.subscription,
                "product": b.product,
                "cycle_start": _utc(start, b.cycle_start_s),
                "cycle_end": _utc(start, b.cycle_end_s),
                "availability": b.availability,
                "target": b.target,
                "credit": format_minor(b.amount_minor, digits),
                "invoice_id": b.invoice_id,
            }
            for b in breaches
        ],
        "alarms": [alarms[i] for i in sorted(alarms)],
        "orders": _orders_of(run, account),
    }


def _orders_of(run: StoredRun, account: str) -> list[dict[str, Any]]:
    """The account's product orders (an order's subscriptions make an account of their own),
    each with its state, reason and transitions; none for a run stored before orders were."""
    from twin.bss.order_report import stored_orders

    try:
        orders = stored_orders(run)
    except ScenarioError:
        return []
    return [
        {
            "order_id": o["order_id"],
            "state": o["state"],
            "reason": o["reason"],
            "product": o["product"],
            "quantity": o["quantity"],
            "tower": o["tower"],
            "transitions": [
                {"time": _utc(_start(run.start), t["time_s"]), "state": t["state"]}
                for t in o["transitions"]
            ],
        }
        for o in orders
        if o.get("account") == account
    ]


def _touching(run: StoredRun, alarmed: set[str], places: set[str]) -> set[str]:
    """The alarmed resources that touched a customer's cells: the cells and towers themselves,
    and any node or link whose loss takes one of those cells out (its impact, as
    ``telcotwin impact`` computes it from the run's inventory)."""
    touching = alarmed & places
    others = sorted(alarmed - places)
    if not others:
        return touching
    mirror = InventoryMirror.from_inventory(run.inventory())
    for resource in others:
        try:
            cells = set(impact(mirror, resource).cells)
        except KeyError:  # not in the inventory (the management system itself)
            continue
        if cells & places:
            touching.add(resource)
    return touching
