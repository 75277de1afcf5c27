"""The BSS commands on a finished run: ``telcotwin bills`` and ``telcotwin customer``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sim.scenario import Problem, ScenarioError
from twin.bss.readback import accounts_known, bills, customer
from twin.readback import open_run

__all__ = ["show_bills", "show_customer"]


def _unknown_account(run_dir: Path, account: str, known: set[str]) -> ScenarioError:
    example = min(known, key=lambda a: (len(a), a)) if known else "none"
    return ScenarioError(
        [Problem(str(run_dir), "ID", f"no account '{account}' in this run (e.g. {example})")]
    )


def show_bills(run_dir: Path, store_url: str | None, account: str | None, *, as_json: bool) -> int:
    """Print the run's invoices (one account's with ``account``)."""
    run = open_run(run_dir, store_url)
    try:
        if account is not None:
            known = accounts_known(run)
            if account not in known:
                raise _unknown_account(run_dir, account, known)
        found = bills(run, account)
    finally:
        run.close()
    if as_json:
        print(json.dumps(found, indent=2))
        return 0
    whose = "" if account is None else f" of {account}"
    print(f"{run_dir}: {len(found)} invoices{whose}")
    if account is None:  # the list; one account's bills are shown whole
        print(f"  {'invoice':<16} {'account':<10} {'period':<42} {'total':>12}")
        for invoice in found:
            period = f"{invoice['period_start']} .. {invoice['period_end']}"
            print(
                f"  {invoice['invoice_id']:<16} {invoice['account']:<10} {period:<42} "
                f"{invoice['total']:>12} {invoice['currency']}"
            )
        return 0
    for invoice in found:
        _print_invoice(invoice)
    return 0


def _print_invoice(invoice: dict[str, Any]) -> None:
    print(
        f"  {invoice['invoice_id']}  {invoice['period_start']} .. {invoice['period_end']}  "
        f"total {invoice['total']} {invoice['currency']}"
    )
    for line in invoice["lines"]:
        print(
            f"    {line['subscription']:<10} {line['description'][:52]:<52} "
            f"{line['quantity']:>7} x {line['unit_price']:>8} {line['amount']:>10}"
        )


def show_customer(run_dir: Path, store_url: str | None, account: str, *, as_json: bool) -> int:
    """Print a customer's whole picture."""
    run = open_run(run_dir, store_url)
    try:
        picture = customer(run, account)
        known = accounts_known(run) if picture is None else set()
    finally:
        run.close()
    if picture is None:
        raise _unknown_account(run_dir, account, known)
    if as_json:
        print(json.dumps(picture, indent=2))
        return 0
    print(f"{run_dir}: customer {account}")
    print(f"  subscriptions: {len(picture['subscriptions'])}")
    for sub in picture["subscriptions"]:
        minutes = sum(u["voice_minutes"] for u in sub["usage"])
        megabytes = sum(u["data_mb"] for u in sub["usage"])
        print(
            f"    {sub['subscription']:<10} {sub['product']:<12} cell {sub['cell']:<12} "
            f"since {sub['since']}  used {minutes} min, {megabytes} MB"
        )
    print(f"  bills: {len(picture['bills'])}")
    for invoice in picture["bills"]:
        _print_invoice(invoice)
    print(f"  SLA breaches: {len(picture['sla_breaches'])}")
    for breach in picture["sla_breaches"]:
        print(
            f"    {breach['subscription']:<10} {breach['cycle_start']} .. {breach['cycle_end']} "
            f"availability {breach['availability']:.4%} < {breach['target']:.2%}, "
            f"credit {breach['credit']} on {breach['invoice_id']}"
        )
    print(f"  orders: {len(picture['orders'])}")
    for order in picture["orders"]:
        placed = order["transitions"][0]["time"] if order["transitions"] else ""
        print(
            f"    {order['order_id']:<10} {order['state']:<10} {order['quantity']} x "
            f"{order['product']} on {order['tower']}, placed {placed}"
            + (f": {order['reason']}" if order["reason"] else "")
        )
    print(f"  alarms that touched its cells: {len(picture['alarms'])}")
    for alarm in picture["alarms"]:
        cleared = alarm["cleared"] or "active"
        print(
            f"    {alarm['alarm_id']:>5} {alarm['perceived_severity']:<9} "
            f"{alarm['alarmed_object']:<12} {alarm['specific_problem'][:40]:<40} "
            f"{alarm['raised']} .. {cleared}"
        )
    return 0
