"""Billing: the saga's contracts, effective-dated fees, SLA credits, carry-over, tax, invariants.

Hand calculations use the reference catalog (tests/bss_feed.py) and a run from 2027-03-01:
March has 31 days, so two days of mobile-s cost 15.00 x 2/31 = 0.9677 -> 0.97.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from tests.bss_feed import DAY, Fixture, usage
from twin.bss.contracts import Charging, Profiles, StepRefused
from twin.bss.records import CustomerBase
from twin.feed import BusinessEvent
from twin.oss.records import SlaBreaches

FORTY_DAYS = 40 * DAY  # March (31 days), then 9 of April's 30


# --- the saga's contracts ------------------------------------------------------------------------


def test_customers_and_billing_implement_the_sagas_contracts():
    f = Fixture(["mobile-s"])
    profiles: Profiles = f.bss.profiles
    charging: Charging = f.bss.charging
    assert callable(profiles.create_subscription) and callable(charging.stop_billing)


def test_activation_steps_are_idempotent_by_key_and_the_subscription_is_billed():
    f = Fixture(["mobile-s"])
    key = ("order-1", 0, "profile")
    first = f.bss.profiles.create_subscription(
        key, account="", subscriber=1, product="mobile-l", time_s=10 * 3600.0
    )
    again = f.bss.profiles.create_subscription(
        key, account="", subscriber=1, product="mobile-l", time_s=10 * 3600.0
    )
    assert first == again == "SUB-2"
    assert len(f.bss.customers) == 2  # one profile, however many calls
    billing = ("order-1", 0, "billing")
    for _ in range(2):
        f.bss.charging.start_billing(
            billing, subscription=first, product="mobile-l", time_s=10 * 3600.0
        )
    f.publish(usage(DAY, 2 * DAY, {1: (120.0, 10.0)}))
    base: list[CustomerBase] = []
    f.bus.subscribe(CustomerBase, base.append)
    summary = f.end()
    (end,) = base  # at the end, what the saga added
    assert (end.subscription_ids(), end.account_ids()) == (["SUB-2"], ["ACC-2"])
    # from 10h to 48h is 38 hours: 2 days begun; 35.00 x 2/31 = 2.258 -> 2.26, usage within
    # the allowance
    assert f.lines("SUB-2") == [("INV-1-ACC-2", "recurring", 2, 226)]
    assert summary["billing"]["usage_records"]["rated"] == 1


def test_compensation_leaves_no_profile_and_no_billing():
    f = Fixture(["mobile-s"])
    base: list[CustomerBase] = []
    f.bus.subscribe(CustomerBase, base.append)
    profile, billing = ("order-2", 0, "profile"), ("order-2", 0, "billing")
    sub = f.bss.profiles.create_subscription(
        profile, account="", subscriber=1, product="mobile-s", time_s=3600.0
    )
    f.bss.charging.start_billing(billing, subscription=sub, product="mobile-s", time_s=3600.0)
    f.bss.charging.stop_billing(billing)  # compensations, in reverse
    f.bss.profiles.remove_subscription(profile)
    f.bss.charging.stop_billing(billing)  # twice: still a no-op
    f.bss.profiles.remove_subscription(("never", 0, "profile"))  # a key that did nothing
    f.publish(usage(0, DAY, {0: (60.0, 1.0), 1: (600.0, 5.0)}))
    summary = f.end()
    assert f.lines(sub) == []
    assert [line[0] for line in f.lines()] == ["INV-1-ACC-1"]  # only the first subscriber's
    assert summary["billing"]["invoices"] == 1
    assert summary["billing"]["usage_records"] == {"rated": 1, "rejected": 1, "duplicates": 0}
    # the start inventory's were recorded at the start; at the end, the saga's: none kept
    (end,) = base
    assert (end.subscription_ids(), end.account_ids()) == ([], [])
    with pytest.raises(StepRefused, match="compensated"):  # a compensated key stays spent
        f.bss.profiles.create_subscription(
            profile, account="", subscriber=1, product="mobile-s", time_s=3600.0
        )


def test_participants_refuse_what_they_cannot_do():
    f = Fixture(["mobile-s"])
    with pytest.raises(StepRefused, match="unknown product 'mobile-xl'"):
        f.bss.profiles.create_subscription(
            ("o", 0, "profile"), account="", subscriber=1, product="mobile-xl", time_s=0.0
        )
    with pytest.raises(StepRefused, match="already has a subscription"):
        f.bss.profiles.create_subscription(
            ("o", 1, "profile"), account="", subscriber=0, product="mobile-s", time_s=0.0
        )
    with pytest.raises(StepRefused, match="no subscription 'SUB-9'"):
        f.bss.charging.start_billing(
            ("o", 0, "billing"), subscription="SUB-9", product="mobile-s", time_s=0.0
        )


# --- effective-dated prices ----------------------------------------------------------------------


def test_a_price_change_reaches_existing_subscriptions_at_their_next_cycle():
    f = Fixture(["mobile-s"], duration_s=FORTY_DAYS)
    f.publish(BusinessEvent(8 * 3600.0, "price_change", "mobile-s", monthly_fee=Decimal("17.00")))
    new = f.bss.profiles.create_subscription(
        ("o", 0, "profile"), account="", subscriber=1, product="mobile-s", time_s=10 * 3600.0
    )
    f.bss.charging.start_billing(
        ("o", 0, "billing"), subscription=new, product="mobile-s", time_s=10 * 3600.0
    )
    f.end()
    # existing: March at the old 15.00; April (9 of 30 days) at 17.00 x 9/30 = 5.10
    assert f.lines("SUB-1") == [
        ("INV-1-ACC-1", "recurring", 31, 1500),
        ("INV-2-ACC-1", "recurring", 9, 510),
    ]
    # new after the change: the new price at once, 30 days 14 hours of March billed as 31
    assert f.lines(new) == [
        ("INV-1-ACC-2", "recurring", 31, 1700),
        ("INV-2-ACC-2", "recurring", 9, 510),
    ]


# --- SLA credits, carry-over and tax ----------------------------------------------------------


def _breach(subscriber: int, product: str, start: float, end: float, time_s: float) -> SlaBreaches:
    """One subscription's breach, as service assurance publishes a cycle's."""
    one = np.array([subscriber], dtype=np.int64)
    return SlaBreaches(
        time_s,
        start,
        end,
        one,
        np.zeros(1, np.int64),
        (product,),
        np.array([0.98]),
        np.array([0.999]),
    )


def test_an_sla_breach_is_credited_as_a_negative_line():
    f = Fixture(["mobile-l"])
    f.publish(_breach(0, "mobile-l", 0.0, 2 * DAY, 2 * DAY))
    summary = f.end()
    # 25% of the cycle's 2.26 = 0.565 -> 0.57
    assert f.lines() == [
        ("INV-1-ACC-1", "recurring", 2, 226),
        ("INV-1-ACC-1", "sla_credit", 1, -57),
    ]
    assert summary["billing"] | {"usage_records": None} == {
        "currency": "EUR",
        "invoices": 1,
        "recurring": "2.26",
        "usage": "0.00",
        "credits": "0.57",
        "tax": "0.00",
        "total": "1.69",
        "credit_balance": "0.00",
        "usage_records": None,
    }
    assert summary["revenue"]["at_risk"]["sla_credits"] == "0.57"
    assert f.bss.billing.credits[0].invoice_ids() == ["INV-1-ACC-1"]


def test_a_late_breach_goes_on_the_next_invoice_and_excess_credit_carries():
    f = Fixture(
        ["mobile-s"],
        duration_s=FORTY_DAYS,
        catalog_changes={"products": [_full_credit_small()]},
    )
    f.publish(usage(31 * DAY, 32 * DAY, {0: (60.0, 1.0)}))  # April's usage issues March's bill
    assert [b.invoice_id(0) for b in f.invoices] == ["INV-1-ACC-1"]
    f.publish(_breach(0, "mobile-s", 0.0, 31 * DAY, 31 * DAY + 3600))  # March's, late
    f.publish(_breach(0, "mobile-s", 0.0, 31 * DAY, 31 * DAY + 7200))  # repeated: once only
    summary = f.end()
    # April: 15.00 x 9/30 = 4.50, less 100% of March's 15.00: -10.50 carried, total 0
    assert f.lines() == [
        ("INV-1-ACC-1", "recurring", 31, 1500),
        ("INV-2-ACC-1", "recurring", 9, 450),
        ("INV-2-ACC-1", "sla_credit", 1, -1500),
        ("INV-2-ACC-1", "credit_carried_forward", 1, 1050),
    ]
    assert [int(b.invoice_total[0]) for b in f.invoices] == [1500, 0]
    billing = summary["billing"]
    assert (billing["recurring"], billing["credits"], billing["total"]) == (
        "19.50",
        "4.50",
        "15.00",
    )
    assert billing["credit_balance"] == "10.50"


def _full_credit_small() -> dict[str, object]:
    return {
        "id": "mobile-s",
        "name": "Mobile S",
        "monthly_fee": "15.00",
        "includes": {"voice_minutes": 100, "data_gb": 2},
        "overage": {"voice_minute": "0.09", "data_gb": "5.00"},
        "sla": {"availability": 0.995, "credit_percent": 100},
    }


def test_tax_is_a_line_on_the_invoice_after_credits():
    f = Fixture(["mobile-s"], catalog_changes={"tax_percent": 20})
    summary = f.end()
    # 0.97 + 20% (0.194 -> 0.19) = 1.16
    assert f.lines() == [("INV-1-ACC-1", "recurring", 2, 97), ("INV-1-ACC-1", "tax", 1, 19)]
    assert (summary["billing"]["tax"], summary["billing"]["total"]) == ("0.19", "1.16")


# --- invariants ----------------------------------------------------------------------------------


def test_invoices_add_up_line_by_line_and_in_total():
    """Invariants: each invoice's total is the sum of its lines and never negative; all
    invoices together are recurring + usage - credits + tax."""
    rng = np.random.default_rng(8)
    products = ["mobile-s" if x else "mobile-l" for x in rng.random(60) < 0.7]
    f = Fixture(
        products,
        duration_s=FORTY_DAYS,
        catalog_changes={"tax_percent": 7.5},
        account_sizes={1: 0.5, 2: 0.3, 3: 0.2},
    )
    for day in range(40):
        rows = {
            int(s): (float(rng.exponential(1800)), float(rng.exponential(300)))
            for s in rng.choice(60, size=40, replace=False)
        }
        f.publish(usage(day * DAY, (day + 1) * DAY, rows))
        if day in (30, 35):  # breaches for March (late for some) and for April
            for s in rng.choice(60, size=8, replace=False):
                cycle = (0.0, 31 * DAY) if day == 30 else (31 * DAY, FORTY_DAYS)
                f.publish(_breach(int(s), products[int(s)], *cycle, (day + 1) * DAY))
    summary = f.end()
    totals = 0
    for batch in f.invoices:
        sums = np.zeros(len(batch.invoice_account), dtype=np.int64)
        for invoice, *_, amount in batch.lines():
            sums[invoice] += amount
        assert sums.tolist() == batch.invoice_total.tolist()
        assert (batch.invoice_total >= 0).all()
        totals += int(batch.invoice_total.sum())
    billing = {k: Decimal(v) for k, v in summary["billing"].items() if k in _MONEY}
    assert Decimal(totals).scaleb(-2) == billing["total"]
    assert billing["total"] == (
        billing["recurring"] + billing["usage"] - billing["credits"] + billing["tax"]
    )
    assert billing["credits"] > 0 and billing["tax"] > 0  # the invariant was tested with both


_MONEY = ("recurring", "usage", "credits", "tax", "total")
