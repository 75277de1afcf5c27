"""The BSS on the reference scenario (scenarios/metro.yaml, 2 days): every bill to the cent.

The reconciliation recomputes every invoice independently, from ``usage.csv``, the catalog
and the rules of docs/bss.md, with plain Decimal arithmetic (none of twin.bss is used):
allowances prorated 2/31 and rounded up, overage at the catalog's rates, fees by the
effective-dating rule, every line rounded half-up to the cent.
"""

from __future__ import annotations

import csv
import json
import math
import re
import sqlite3
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from sim.scenario import parse_scenario
from twin.cli import main

CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def metro_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bss") / "metro"
    status = main(
        ["run", "scenarios/metro.yaml", "--out", str(out), "--quiet", "--export", "usage,invoices"]
    )
    assert status == 0
    return out


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _seconds(duration: str) -> float:
    """'8h', '40h30m' as seconds (scenario.json writes durations so)."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return float(sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([dhms])", duration)))


def _cents(value: Decimal | Fraction) -> Decimal:
    exact = (
        Decimal(value.numerator) / Decimal(value.denominator)
        if isinstance(value, Fraction)
        else value
    )
    return exact.quantize(CENT, rounding=ROUND_HALF_UP)


def test_every_invoice_of_the_reference_scenario_is_right_to_the_cent(metro_run):
    scenario = json.loads((metro_run / "scenario.json").read_text())
    products = {p["id"]: p for p in scenario["catalog"]["products"]}
    usage = _csv(metro_run / "usage.csv")
    lines = _csv(metro_run / "invoice_lines.csv")
    invoices = _csv(metro_run / "invoices.csv")
    days, cycle_days = 2, 31  # 2027-03-01 for 2 days: one partial March cycle

    # rating: per subscription and kind, records in order, allowance first
    used: dict[tuple[str, str], int] = defaultdict(int)
    overage: dict[tuple[str, str], int] = defaultdict(int)
    product_of: dict[str, str] = {}
    for record in usage:
        sub, kind, product = record["subscription"], record["kind"], record["product"]
        product_of[sub] = product
        plan = products[product]
        monthly = (
            plan["includes"]["voice_minutes"]
            if kind == "voice"
            else Decimal(str(plan["includes"]["data_gb"])) * 1000
        )
        allowance = math.ceil(Fraction(monthly) * days / cycle_days)
        before = used[sub, kind]
        used[sub, kind] = after = before + int(record["quantity"])
        over = max(after - allowance, 0) - max(before - allowance, 0)
        overage[sub, kind] += over
        rate = (
            Decimal(plan["overage"]["voice_minute"])
            if kind == "voice"
            else Decimal(plan["overage"]["data_gb"]) / 1000
        )
        assert Decimal(record["rated_amount"]) == over * rate, record["record_id"]

    # the fee: existing subscriptions pay the fee in force at the cycle's start (the change
    # to mobile-s at 8h reaches them from their next cycle)
    expected: dict[tuple[str, str], Decimal] = {}
    for (sub, kind), over in overage.items():
        if over:
            plan = products[product_of[sub]]
            rate = (
                Decimal(plan["overage"]["voice_minute"])
                if kind == "voice"
                else Decimal(plan["overage"]["data_gb"]) / 1000
            )
            expected[sub, f"{kind}_overage"] = _cents(over * rate)
    seen: dict[tuple[str, str], Decimal] = {}
    recurring: dict[str, Decimal] = {}
    for line in lines:
        if line["kind"] == "recurring":
            recurring[line["subscription"]] = Decimal(line["amount"])
            fee = Decimal(line["unit_price"])
            assert int(line["quantity"]) == days
            assert Decimal(line["amount"]) == _cents(Fraction(fee) * days / cycle_days)
        else:
            seen[line["subscription"], line["kind"]] = Decimal(line["amount"])
    # every subscription billed once, at the fee the rule gives: the catalog's, changed by the
    # price changes at or before the later of the cycle's start (0) and its own start
    # the subscribers through the query API (a run directory holds them as Parquet)
    held = _subscribers(metro_run)
    subscribed = held[held["subscription"].notna()][["subscription", "product", "since_s"]]
    database = sqlite3.connect(metro_run / "twin.sqlite")
    changes = [
        (e["at"], e["product"], Decimal(e["monthly_fee"]))
        for e in scenario["events"]
        if e["action"] == "price_change"
    ]
    # service assurance's breaches (2,279 on metro: tests/test_sla.py): each credits
    # credit_percent of the subscription's recurring charge for the cycle (docs/bss.md)
    subscription_of = dict(zip(held["subscriber"], held["subscription"], strict=True))
    breached = [
        (subscription_of[subscriber], product)
        for subscriber, product in database.execute("select subscriber, product from sla_breaches")
    ]
    fees = {}
    for sub, product, start_s in subscribed.itertuples(index=False):
        fee = Decimal(products[product]["monthly_fee"])
        for at, changed, new_fee in changes:
            if changed == product and _seconds(at) <= max(start_s, 0.0):
                fee = new_fee
        fees[sub] = _cents(Fraction(fee) * days / cycle_days)
    database.close()
    assert fees == recurring
    assert len(recurring) >= 6000  # the start inventory's subscribers, and any order's
    assert len(breached) == 2279
    for sub, product in breached:
        percent = Decimal(str(products[product]["sla"]["credit_percent"]))
        expected[sub, "sla_credit"] = -_cents(recurring[sub] * percent / 100)
    assert seen == expected  # every overage and credit line, and no other (no tax here)
    summary = json.loads((metro_run / "summary.json").read_text())

    # each invoice's total is the sum of its lines
    by_invoice: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        by_invoice[line["invoice_id"]] += Decimal(line["amount"])
    assert {i["invoice_id"]: Decimal(i["total"]) for i in invoices} == by_invoice
    billing = summary["billing"]
    assert billing["invoices"] == len(invoices)
    assert Decimal(billing["total"]) == sum(by_invoice.values())
    assert Decimal(billing["recurring"]) == sum(recurring.values())
    usage_lines = [v for (_, kind), v in seen.items() if kind != "sla_credit"]
    credit_lines = [v for (_, kind), v in seen.items() if kind == "sla_credit"]
    assert Decimal(billing["usage"]) == sum(usage_lines)
    assert Decimal(billing["credits"]) == -sum(credit_lines)
    # all invoices together: recurring + usage - credits + tax (docs/bss.md)
    assert Decimal(billing["total"]) == (
        Decimal(billing["recurring"])
        + Decimal(billing["usage"])
        - Decimal(billing["credits"])
        + Decimal(billing["tax"])
    )


def test_the_price_change_at_8h_leaves_existing_subscriptions_at_the_old_fee(metro_run):
    lines = _csv(metro_run / "invoice_lines.csv")
    fees = {
        (line["description"].split(" monthly")[0], line["unit_price"])
        for line in lines
        if line["kind"] == "recurring"
    }
    # mobile-s went from 15.00 to 17.00 at 8h; the run's subscriptions all began at 0h
    assert fees == {("Mobile S", "15.00"), ("Mobile L", "35.00")}


def test_bills_and_customer_commands_show_the_stored_bss(metro_run, capsys):
    assert main(["bills", str(metro_run), "--customer", "ACC-2", "--json"]) == 0
    (invoice,) = json.loads(capsys.readouterr().out)
    assert invoice["invoice_id"] == "INV-1-ACC-2"
    assert Decimal(invoice["total"]) == sum(Decimal(x["amount"]) for x in invoice["lines"])
    assert main(["customer", str(metro_run), "ACC-2", "--json"]) == 0
    picture = json.loads(capsys.readouterr().out)
    assert [b["invoice_id"] for b in picture["bills"]] == ["INV-1-ACC-2"]
    (sub,) = picture["subscriptions"]
    assert len(sub["usage"]) == 2 and all(u["status"] == "billed" for u in sub["usage"])
    assert {a["alarmed_object"] for a in picture["alarms"]} <= {sub["cell"], sub["tower"]}
    assert main(["customer", str(metro_run), "ACC-0"]) == 2
    assert "no account 'ACC-0' in this run" in capsys.readouterr().err


def test_a_customer_on_the_isolated_tower_sees_the_link_cut_that_took_it_out(metro_run, capsys):
    # the reference scenario cuts l-n3 at 40h, isolating t-n3 (its one cell t-n3/1)
    held = _subscribers(metro_run)
    account = held[held["cell_id"] == "t-n3/1"]["account"].iloc[0]
    assert main(["customer", str(metro_run), account, "--json"]) == 0
    picture = json.loads(capsys.readouterr().out)
    touched = {(a["alarmed_object"], a["why"]) for a in picture["alarms"]}
    assert ("l-n3", "its cells were out with it (impact)") in touched
    assert ("t-n3", "on its cell or tower") in touched
    assert not any(a["alarmed_object"] == "l-agg-n-core" for a in picture["alarms"])  # rerouted


def test_the_bss_gives_the_same_bills_from_the_feed_alone(example_raw):
    """The BSS reads only the feed and the OSS's records: with the simulator's truth dropped
    before anything can read it, the whole twin (orders, SLA credits and all) bills the same."""
    from sim.truth import DropTruth
    from twin.run import _wire, simulate

    scenario = parse_scenario(example_raw, "metro.yaml")
    wiring = _wire(scenario, ".", None, "metro.yaml", None)
    wiring.simulation.truth = DropTruth()  # nothing of the truth reaches anyone
    wiring.simulation.run()
    assert wiring.business is not None
    blind = wiring.business.summary()
    full: dict[str, Any] = simulate(scenario)
    assert blind == {"billing": full["billing"], "revenue": full["revenue"]}
    assert Decimal(blind["billing"]["credits"]) > 0  # SLA credits are in it (2,279 breaches)


def test_a_run_with_exports_is_a_run_directory_that_force_replaces(metro_run, tmp_path):
    from twin.run import RUN_FILES, is_run_directory

    assert {"usage.csv", "invoices.csv", "invoice_lines.csv"} <= RUN_FILES
    assert is_run_directory(metro_run)
    out = tmp_path / "again"
    args = ["run", "scenarios/metro.yaml", "--out", str(out), "--quiet"]
    assert main([*args, "--export", "invoices"]) == 0
    assert main([*args, "--force"]) == 0  # replaced by a run without exports
    assert not (out / "invoices.csv").exists() and (out / "summary.json").exists()


def test_the_reference_orders_are_billed_or_leave_nothing_in_the_bss(metro_run, capsys):
    # metro.yaml's order at 10h (150 x mobile-l on t-s1) completes: its account holds the 150
    # subscriptions, billed from 10h, and its picture shows the order; the order at 40h30m
    # (20 x mobile-s on t-n3, isolated by the l-n3 cut at 40h) fails and leaves no account,
    # subscription or invoice behind
    assert main(["customer", str(metro_run), "acct-ev1", "--json"]) == 0
    picture = json.loads(capsys.readouterr().out)
    assert len(picture["subscriptions"]) == 150
    assert {s["product"] for s in picture["subscriptions"]} == {"mobile-l"}
    assert {s["since"] for s in picture["subscriptions"]} == {"2027-03-01T10:00:00Z"}
    ((order),) = picture["orders"]
    assert (order["order_id"], order["state"], order["quantity"]) == ("ev1", "completed", 150)
    assert [t["state"] for t in order["transitions"]] == ["acknowledged", "inProgress", "completed"]
    invoices = _csv(metro_run / "invoices.csv")
    assert sum(1 for i in invoices if i["account"] == "acct-ev1") == 1
    assert not any(i["account"] == "acct-ev6" for i in invoices)
    assert main(["customer", str(metro_run), "acct-ev6"]) == 2
    assert "no account 'acct-ev6'" in capsys.readouterr().err
    summary = json.loads((metro_run / "summary.json").read_text())
    assert summary["orders"]["completed"] == 1 and summary["orders"]["failed"] == 1


def test_the_end_of_run_table_shows_threshold_alarms_orders_and_billing(metro_run):
    # what `telcotwin run` prints at the end, from the reference run's summary.json
    from twin.cli import format_summary

    summary = json.loads((metro_run / "summary.json").read_text())
    text = format_summary(summary)
    raised = summary["thresholds"]["raised"]
    assert f"threshold alarms: {raised:,} raised (" in text
    assert "orders: 1 completed, 1 failed (telcotwin orders RUN_DIR)" in text
    assert f"total {summary['billing']['total']} EUR" in text


def _subscribers(run_dir):
    """The run's subscribers table, through the notebook API (twin.timeseries)."""
    from twin.notebook import open_run

    with open_run(run_dir) as run:
        return run.table("subscribers")
