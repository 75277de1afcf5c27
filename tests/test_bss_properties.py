"""Property tests of billing: random feeds keep the invariants of docs/bss.md.

Random subscribers and products, usage batches (some delivered twice), price changes, SLA
breaches (some late), tax rates, and subscriptions activated and compensated through the
saga's contracts. Whatever happens: each invoice's total is the sum of its lines and never
negative; all invoices equal recurring + usage - credits + tax; a compensated subscription has
no line; and the same feed delivered with every batch doubled bills the same.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bss_feed import DAY, Fixture, usage
from twin.feed import BusinessEvent
from twin.oss.records import SlaBreaches

PRODUCTS = ("mobile-s", "mobile-l")


@st.composite
def feeds(draw: st.DrawFn) -> dict[str, Any]:
    subscribers = draw(st.integers(1, 8))
    days = draw(st.integers(1, 70))
    return {
        "products": draw(
            st.lists(st.sampled_from(PRODUCTS), min_size=subscribers, max_size=subscribers)
        ),
        "days": days,
        "tax": draw(st.sampled_from([0, 7.5, 20, 100])),
        "credit": draw(st.sampled_from([0, 10, 100])),
        "seed": draw(st.integers(0, 2**32 - 1)),
        "activations": draw(
            st.lists(st.tuples(st.integers(0, days * 24 - 1), st.booleans()), max_size=3)
        ),
        "price_hour": draw(st.none() | st.integers(0, days * 24 - 1)),
    }


def _bill(feed: dict[str, Any], doubled: bool) -> tuple[Fixture, dict[str, Any], list[str]]:
    rng = np.random.default_rng(feed["seed"])
    products = feed["products"]
    small = {
        "id": "mobile-s",
        "name": "Mobile S",
        "monthly_fee": "15.00",
        "includes": {"voice_minutes": 100, "data_gb": 2},
        "overage": {"voice_minute": "0.09", "data_gb": "5.00"},
        "sla": {"availability": 0.995, "credit_percent": feed["credit"]},
    }
    large = {"id": "mobile-l", "name": "Mobile L", "monthly_fee": "35.00"}
    f = Fixture(
        products,
        duration_s=feed["days"] * DAY,
        catalog_changes={"tax_percent": feed["tax"], "products": [small, large]},
        account_sizes={1: 0.5, 2: 0.5},
    )
    events: list[tuple[float, int, Any]] = []
    for day in range(feed["days"]):
        rows = {
            s: (float(rng.exponential(3000)), float(rng.exponential(500)))
            for s in range(len(products) + len(feed["activations"]))
            if rng.random() < 0.8
        }
        events.append((day * DAY + DAY, 1, usage(day * DAY, (day + 1) * DAY, rows)))
        if rng.random() < 0.2:
            late = float(rng.integers(0, 3)) * DAY  # up to two days after the cycle's end
            cycle = f.bss.billing.cycles.of(day * DAY)
            start, end = f.bss.billing.cycles.span(cycle)
            s = int(rng.integers(0, len(products)))
            breach = SlaBreaches(
                end + late,
                start,
                end,
                np.array([s]),
                np.zeros(1, np.int64),
                (products[s],),
                np.array([0.9]),
                np.array([0.995]),
            )
            events.append((min(end + late, feed["days"] * DAY - 1), 2, breach))
    if feed["price_hour"] is not None:
        change = BusinessEvent(
            feed["price_hour"] * 3600.0, "price_change", "mobile-s", monthly_fee=Decimal("19.99")
        )
        events.append((feed["price_hour"] * 3600.0, 0, change))
    removed: list[str] = []
    for k, (hour, compensate) in enumerate(feed["activations"]):
        events.append((hour * 3600.0, 0, ("activate", k, compensate)))
    for _, _, record in sorted(events, key=lambda e: (e[0], e[1])):
        if isinstance(record, tuple):
            _, k, compensate = record
            time_s = feed["activations"][k][0] * 3600.0
            keys = (f"o{k}", 0, "profile"), (f"o{k}", 0, "billing")
            sub = f.bss.profiles.create_subscription(
                keys[0],
                account="",
                subscriber=len(products) + k,
                product="mobile-s",
                time_s=time_s,
            )
            f.bss.charging.start_billing(
                keys[1], subscription=sub, product="mobile-s", time_s=time_s
            )
            if compensate:
                f.bss.charging.stop_billing(keys[1])
                f.bss.profiles.remove_subscription(keys[0])
                removed.append(sub)
            continue
        f.publish(record)
        if doubled and not isinstance(record, BusinessEvent):
            f.publish(record)
    return f, f.end(), removed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(feed=feeds())
def test_random_feeds_keep_the_billing_invariants(feed):
    f, summary, removed = _bill(feed, doubled=False)
    totals = 0
    for batch in f.invoices:
        sums = np.zeros(len(batch.invoice_account), dtype=np.int64)
        for invoice, sub, *_, amount in batch.lines():
            sums[invoice] += amount
            assert f"SUB-{sub + 1}" not in removed
        assert sums.tolist() == batch.invoice_total.tolist()
        assert (batch.invoice_total >= 0).all()
        totals += int(batch.invoice_total.sum())
    b = {k: Decimal(summary["billing"][k]) for k in ("recurring", "usage", "credits", "tax")}
    assert Decimal(totals).scaleb(-2) == Decimal(summary["billing"]["total"])
    assert Decimal(totals).scaleb(-2) == b["recurring"] + b["usage"] - b["credits"] + b["tax"]
    again, twice, _ = _bill(feed, doubled=True)
    assert again.lines() == f.lines()
    assert twice["billing"] == summary["billing"] | {
        "usage_records": twice["billing"]["usage_records"]
    }
