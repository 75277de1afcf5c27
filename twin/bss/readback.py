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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from twin.bss.catalog import decimal_from_nano
from twin.readback import StoredRun
from twin.store import (
    alarm_history,
    cells,
    credits,
    invoice_lines,
    invoices,
    rated_usage,
    subscriptions,
)

__all__ = ["EXPORTS", "EXPORT_FILES", "bills", "customer", "write_exports"]

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


def write_exports(
    engine: Engine, run_id: str, start: datetime, directory: Path, names: list[str]
) -> None:
    """Write the CSV files of the exports ``names`` (keys of :data:`EXPORTS`)."""
    with engine.connect() as connection:
        if "usage" in names:
            products = dict(
                connection.execute(
                    select(subscriptions.c.subscriber, subscriptions.c.product).where(
                        subscriptions.c.run_id == run_id
                    )
                ).all()
            )
            query = (
                select(rated_usage)
                .where(rated_usage.c.run_id == run_id)
                .order_by(rated_usage.c.start_s, rated_usage.c.subscriber)
            )
            with (directory / "usage.csv").open("w", newline="", encoding="utf-8") as file:
                out = csv.writer(file)
                out.writerow(
                    [
                        "record_id",
                        "subscription",
                        "product",
                        "kind",
                        "start",
                        "quantity",
                        "unit",
                        "rated_amount",
                    ]
                )
                for row in connection.execute(query):
                    subscription = f"SUB-{row.subscription + 1}"
                    when = _utc(start, row.start_s)
                    product = products.get(row.subscriber, "")
                    for kind, quantity, unit, nano in (
                        ("voice", row.voice_minutes, "min", row.voice_nano),
                        ("data", row.data_mb, "MB", row.data_nano),
                    ):
                        if quantity:
                            out.writerow(
                                [
                                    f"{subscription}/{when}/{kind}",
                                    subscription,
                                    product,
                                    kind,
                                    when,
                                    quantity,
                                    unit,
                                    decimal_from_nano(nano),
                                ]
                            )
        if "invoices" in names:
            with (directory / "invoices.csv").open("w", newline="", encoding="utf-8") as file:
                out = csv.writer(file)
                out.writerow(
                    ["invoice_id", "account", "period_start", "period_end", "currency", "total"]
                )
                for row in connection.execute(
                    select(invoices)
                    .where(invoices.c.run_id == run_id)
                    .order_by(invoices.c.cycle, invoices.c.invoice_id)
                ):
                    out.writerow(
                        [
                            row.invoice_id,
                            row.account_id,
                            _utc(start, row.period_start_s),
                            _utc(start, row.period_end_s),
                            row.currency,
                            row.total,
                        ]
                    )
            with (directory / "invoice_lines.csv").open("w", newline="", encoding="utf-8") as file:
                out = csv.writer(file)
                out.writerow(
                    [
                        "invoice_id",
                        "subscription",
                        "kind",
                        "description",
                        "quantity",
                        "unit_price",
                        "amount",
                    ]
                )
                for row in connection.execute(
                    select(invoice_lines)
                    .where(invoice_lines.c.run_id == run_id)
                    .order_by(invoice_lines.c.invoice_id, invoice_lines.c.line)
                ):
                    out.writerow(
                        [
                            row.invoice_id,
                            row.subscription,
                            row.kind,
                            row.description,
                            row.quantity,
                            row.unit_price,
                            row.amount,
                        ]
                    )


def _invoices_where(run: StoredRun, *conditions: Any) -> list[dict[str, Any]]:
    """Invoices with their lines, oldest first."""
    start = _start(run.start)
    out: list[dict[str, Any]] = []
    with run.engine.connect() as connection:
        rows = connection.execute(
            select(invoices)
            .where(invoices.c.run_id == run.run_id, *conditions)
            .order_by(invoices.c.cycle, invoices.c.invoice_id)
        ).all()
        for row in rows:
            lines = connection.execute(
                select(invoice_lines)
                .where(
                    invoice_lines.c.run_id == run.run_id,
                    invoice_lines.c.invoice_id == row.invoice_id,
                )
                .order_by(invoice_lines.c.line)
            ).all()
            out.append(
                {
                    "invoice_id": row.invoice_id,
                    "account": row.account_id,
                    "period_start": _utc(start, row.period_start_s),
                    "period_end": _utc(start, row.period_end_s),
                    "currency": row.currency,
                    "total": row.total,
                    "lines": [
                        {
                            "subscription": line.subscription,
                            "kind": line.kind,
                            "description": line.description,
                            "quantity": line.quantity,
                            "unit_price": line.unit_price,
                            "amount": line.amount,
                        }
                        for line in lines
                    ],
                }
            )
    return out


def bills(run: StoredRun, account: str | None = None) -> list[dict[str, Any]]:
    """The run's invoices (TMF678 customer bills), or one account's."""
    conditions = [] if account is None else [invoices.c.account_id == account]
    return _invoices_where(run, *conditions)


def accounts_known(run: StoredRun) -> set[str]:
    with run.engine.connect() as connection:
        query = select(subscriptions.c.account_id).where(subscriptions.c.run_id == run.run_id)
        return set(connection.execute(query).scalars())


def customer(run: StoredRun, account: str) -> dict[str, Any] | None:
    """A customer's whole picture: its subscriptions and products, their usage, its bills, SLA
    breaches credited and the alarms raised on its subscriptions' cells and towers. None when
    the run has no such account. (Orders join here once ordering stores them.)"""
    start = _start(run.start)
    with run.engine.connect() as connection:
        subs = connection.execute(
            select(subscriptions)
            .where(subscriptions.c.run_id == run.run_id, subscriptions.c.account_id == account)
            .order_by(subscriptions.c.subscriber)
        ).all()
        if not subs:
            return None
        towers = dict(
            connection.execute(
                select(cells.c.cell_id, cells.c.tower).where(cells.c.run_id == run.run_id)
            ).all()
        )
        pictures = []
        places: set[str] = set()
        for sub in subs:
            ordinal = int(sub.subscription_id[4:]) - 1
            usage = connection.execute(
                select(rated_usage)
                .where(rated_usage.c.run_id == run.run_id, rated_usage.c.subscription == ordinal)
                .order_by(rated_usage.c.start_s)
            ).all()
            tower = towers.get(sub.cell_id, "")
            places.update(p for p in (sub.cell_id, tower) if p)
            pictures.append(
                {
                    "subscription": sub.subscription_id,
                    "product": sub.product,
                    "subscriber": sub.subscriber,
                    "cell": sub.cell_id,
                    "tower": tower,
                    "since": _utc(start, sub.start_s),
                    "usage": [
                        {
                            "start": _utc(start, u.start_s),
                            "end": _utc(start, u.end_s),
                            "voice_minutes": u.voice_minutes,
                            "data_mb": u.data_mb,
                            "rated_amount": str(
                                decimal_from_nano(int(u.voice_nano) + int(u.data_nano))
                            ),
                            "status": u.status,
                        }
                        for u in usage
                    ],
                }
            )
        breaches = connection.execute(
            select(credits)
            .where(credits.c.run_id == run.run_id, credits.c.account_id == account)
            .order_by(credits.c.time_s)
        ).all()
        alarm_rows = connection.execute(
            select(alarm_history)
            .where(alarm_history.c.run_id == run.run_id, alarm_history.c.alarmed_object.in_(places))
            .order_by(alarm_history.c.seq)
        ).all()
    alarms: dict[int, dict[str, Any]] = {}
    for a in alarm_rows:  # each alarm as it was after its last change
        alarms[a.alarm_id] = {
            "alarm_id": a.alarm_id,
            "alarmed_object": a.alarmed_object,
            "perceived_severity": a.perceived_severity,
            "specific_problem": a.specific_problem,
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
                "credit": b.amount,
                "invoice_id": b.invoice_id,
            }
            for b in breaches
        ],
        "alarms": [alarms[i] for i in sorted(alarms)],
        "orders": [],  # the seam for ordering (issue 8, item 3): its orders for this account
    }
