"""The BSS on the bus: catalog, customers, rating, billing and revenue wired together.

:class:`BusinessSupport` subscribes to the feed (the run's start, the inventory, usage, business
events, cell PM, the run's end) and to service assurance's :class:`~twin.oss.records.SlaBreaches`
records, and publishes its own (rated usage, invoices, SLA credits, the customer base) for the
store. It must be subscribed after service assurance, so that a cycle's breaches reach billing
before the cycle's invoices are issued. The ordering saga reaches customers and billing through
:attr:`profiles` and :attr:`charging` (:mod:`twin.bss.contracts`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sim.scenario import Catalog
from sim.scenario import Customers as CustomersConfig
from twin.bss.billing import Billing
from twin.bss.catalog import DAY_S, Cycles, PriceBook, decimal_from_minor
from twin.bss.contracts import Charging, Profiles
from twin.bss.customers import Customers
from twin.bss.rating import Rating
from twin.bss.records import InvoiceBatch, RatedUsage
from twin.bss.revenue import Revenue
from twin.bus import Bus
from twin.feed import (
    BusinessEvent,
    CellPmBatch,
    Inventory,
    RunEnded,
    RunStarted,
    SubscriptionAdmitted,
    UsageBatch,
)
from twin.oss.records import SlaBreaches

__all__ = ["BusinessSupport"]


class BusinessSupport:
    """The business side of one run."""

    def __init__(self, bus: Bus, catalog: Catalog, customers: CustomersConfig | None = None):
        self.bus = bus
        self.book = PriceBook(catalog)
        placeholder = Cycles.of_run(datetime(2000, 1, 1), DAY_S)  # the run's, at its start
        self.customers = Customers(customers or CustomersConfig(), tuple(self.book.index))
        self.rating = Rating(self.book, self.customers, placeholder)
        self.billing = Billing(self.book, self.customers, placeholder, bus.publish)
        self.revenue = Revenue(self.book, self.customers)
        self.billing.on_accrual = self._accrue
        self._admitted_cell: dict[int, int] = {}
        self._cell_index: dict[str, int] = {}
        self._ended = False
        self._recorded = (0, 0)  # subscriptions and accounts already published
        self._seed = 0  # the run's, from RunStarted: it seeds the grouping into accounts
        bus.subscribe(RunStarted, self._on_start)
        bus.subscribe(Inventory, self._on_inventory)
        bus.subscribe(UsageBatch, self._on_usage)
        bus.subscribe(RatedUsage, self.billing.on_rated)
        bus.subscribe(RatedUsage, self.revenue.on_rated)
        bus.subscribe(InvoiceBatch, self._on_invoices)
        bus.subscribe(BusinessEvent, self._on_business)
        bus.subscribe(SubscriptionAdmitted, self._on_admitted)
        bus.subscribe(SlaBreaches, self.billing.on_breaches)
        bus.subscribe(CellPmBatch, self.revenue.on_pm)
        bus.subscribe(RunEnded, self._on_end)

    @property
    def profiles(self) -> Profiles:
        """The saga's :class:`~twin.bss.contracts.Profiles` participant."""
        return self.customers

    @property
    def charging(self) -> Charging:
        """The saga's :class:`~twin.bss.contracts.Charging` participant."""
        return self.billing

    def _on_start(self, r: RunStarted) -> None:
        cycles = Cycles.of_run(r.start, r.duration_s)
        self.rating.cycles = cycles
        self.billing.cycles = cycles
        self.revenue.start = r.start
        self._seed = r.seed

    def _on_inventory(self, inv: Inventory) -> None:
        self.customers.load_inventory(
            inv.subscriber_cell,
            inv.subscriber_product,
            inv.product_names,
            inv.cell_ids,
            inv.cell_tower,
            self._seed,
        )
        self._cell_index = {c: i for i, c in enumerate(inv.cell_ids)}
        self.customers.admitted_cell = self._admitted_cell
        self.revenue.set_cells(inv.cell_tower)
        self.billing.charge_inventory()
        # The start inventory's subscriptions are final (only the saga's can be removed):
        # stored now, while the network runs; the saga's at the end.
        self.bus.publish(self.customers.record(0.0))
        self._recorded = self.customers.extent()

    def _on_usage(self, batch: UsageBatch) -> None:
        self.bus.publish(self.rating.rate(batch))

    def _on_invoices(self, batch: InvoiceBatch) -> None:
        self.revenue.on_invoices(batch)

    def _on_business(self, event: BusinessEvent) -> None:
        fee = event.monthly_fee
        if event.action == "price_change" and fee is not None and event.product in self.book:
            self.book.change_price(event.product, event.time_s, fee)

    def _on_admitted(self, r: SubscriptionAdmitted) -> None:
        cell = self._cell_index.get(r.cell, -1)
        self._admitted_cell[r.subscriber] = cell
        self.customers.set_cell(r.subscriber, cell)

    def _on_end(self, r: RunEnded) -> None:
        if self._ended:
            return
        self._ended = True
        self.billing.close_all()
        self.bus.publish(self.customers.record(r.time_s, since=self._recorded))

    def _accrue(self, cycle: int, since_s: float, days: int, per_day: Decimal) -> None:
        self.revenue.accrue(int(since_s // DAY_S), days, per_day)

    def summary(self) -> dict[str, Any]:
        """summary.json's ``billing`` and ``revenue``: decimal strings in the currency."""
        t = self.billing.totals
        digits = self.book.digits

        def money(minor: int) -> str:
            return str(decimal_from_minor(minor, digits))

        sla = sum(int(c.amount.sum()) for c in self.billing.credits)
        billing = {
            "currency": self.book.currency,
            "invoices": t.invoices,
            "recurring": money(t.recurring),
            "usage": money(t.usage),
            "credits": money(t.credits),
            "tax": money(t.tax),
            "total": money(t.total),
            "credit_balance": money(sum(self.billing.balance.values())),
            "usage_records": {
                "rated": self.rating.records,
                "rejected": self.rating.rejected,
                "duplicates": self.rating.duplicates,
            },
        }
        return {
            "billing": billing,
            "revenue": self.revenue.summary(sla, t.by_product),
        }
